//! Issue 21, item 4: every secret of the redaction corpus (tests/data/redaction/positives.txt,
//! which holds the list) sent through `POST /v1/hook` on a real claude-memd — as a
//! Bash command, as its output, inside JSON text an MCP tool returned, and as a prompt —
//! leaves no trace in any file of the state directory (database, WAL, FTS index), while the
//! text around it is stored.

#[path = "support/memd.rs"]
mod memd;

use memd::{contains, git_init, Memd};
use serde_json::{json, Value};
use std::path::Path;

const POSITIVES: &str = include_str!("data/redaction/positives.txt");

/// Each corpus line without its markers, and the secrets it marks.
fn corpus() -> Vec<(String, Vec<String>)> {
    POSITIVES
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let l = l.replace('↵', "\n");
            let (mut text, mut secrets, mut rest) = (String::new(), Vec::new(), l.as_str());
            while let Some(a) = rest.find('⟦') {
                let b = rest[a..].find('⟧').unwrap() + a;
                text.push_str(&rest[..a]);
                let s = &rest[a + '⟦'.len_utf8()..b];
                text.push_str(s);
                secrets.push(s.to_string());
                rest = &rest[b + '⟧'.len_utf8()..];
            }
            text.push_str(rest);
            (text, secrets)
        })
        .collect()
}

/// Every file under `dir`, recursively, as bytes.
fn all_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(all_files(&p));
        } else {
            out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
        }
    }
    out
}

/// The longest run of letters and digits in `s` (what an FTS tokenizer indexes).
fn longest_word(s: &str) -> String {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .max_by_key(|w| w.len())
        .unwrap_or("")
        .to_string()
}

#[test]
fn no_secret_of_the_corpus_reaches_the_state_directory() {
    let m = Memd::start();
    let repo = m.dir.path().join("repo");
    git_init(&repo);
    let cases = corpus();
    assert!(cases.len() > 100, "the corpus is there: {}", cases.len());
    let hook = |v: Value| {
        let (s, a) = m.post("/v1/hook", v.to_string().as_bytes());
        assert_eq!(s, 200, "{a}");
        a
    };
    let base =
        |event: &str| json!({"session_id": "sess-red", "cwd": repo, "hook_event_name": event});
    // A few sessions' worth of hooks at once: the writer commits them in groups.
    let send = |i: usize, text: &str| {
        let mut p = base("UserPromptSubmit");
        p["prompt"] = json!(format!("prompt-marker-{i} {text}"));
        let a = hook(p);
        assert_eq!(a["intake"], "stored", "{a}");
        // The line as a command, as its output, and inside JSON text (escaped once more).
        let mut t = base("PostToolUse");
        t["tool_name"] = json!("Bash");
        t["tool_use_id"] = json!(format!("bash-{i}"));
        t["tool_input"] = json!({"command": format!("echo cmd-marker-{i}; {text}")});
        t["tool_response"] = json!({"stdout": format!("out-marker-{i}\n{text}"), "stderr": ""});
        hook(t);
        let mut mcp = base("PostToolUse");
        mcp["tool_name"] = json!("mcp__vault__read");
        mcp["tool_use_id"] = json!(format!("mcp-{i}"));
        mcp["tool_input"] = json!({"path": format!("mcp-marker-{i}")});
        let inner = json!({"data": {"note": format!("line one\n{text}\nline three")}});
        mcp["tool_response"] = json!([{"type": "text", "text": inner.to_string()}]);
        hook(mcp);
    };
    std::thread::scope(|s| {
        for lane in 0..8 {
            let (cases, send) = (&cases, &send);
            s.spawn(move || {
                for (i, (text, _)) in cases.iter().enumerate().skip(lane).step_by(8) {
                    send(i, text);
                }
            });
        }
    });
    hook(base("Stop"));
    m.wait_processed();
    assert!(
        m.count("SELECT count(*) FROM observations") > 0,
        "observations were built"
    );

    let files = all_files(&m.dir.path().join("state"));
    assert!(files.iter().any(|(p, _)| p.ends_with("memory.db")));
    // The text around the secrets is stored (the test is not vacuous).
    let stored: Vec<u8> = files.iter().flat_map(|(_, b)| b.clone()).collect();
    for i in [0, cases.len() - 1] {
        for marker in ["prompt-marker", "cmd-marker", "out-marker", "mcp-marker"] {
            assert!(
                contains(&stored, &format!("{marker}-{i}")),
                "{marker}-{i} stored"
            );
        }
    }
    // Every needle of every secret, looked for in one pass over each file.
    let mut needles: Vec<(String, String)> = Vec::new(); // (needle, the line it came from)
    let mut words: Vec<(String, String)> = Vec::new();
    for (text, secrets) in &cases {
        for s in secrets {
            let escaped = serde_json::to_string(s).unwrap();
            let word = longest_word(s);
            needles.push((s.clone(), text.clone()));
            needles.push((escaped[1..escaped.len() - 1].to_string(), text.clone()));
            if word.len() >= 8 {
                needles.push((word.clone(), text.clone()));
                needles.push((word.to_ascii_lowercase(), text.clone()));
                words.push((word, text.clone()));
            }
        }
    }
    let any = regex::bytes::Regex::new(
        &needles
            .iter()
            .map(|(n, _)| regex::escape(n))
            .collect::<Vec<_>>()
            .join("|"),
    )
    .unwrap();
    let mut leaks = Vec::new();
    for (path, bytes) in &files {
        for m in any.find_iter(bytes) {
            let n = String::from_utf8_lossy(m.as_bytes()).to_string();
            let from = needles.iter().find(|(x, _)| *x == n).map_or("", |(_, t)| t);
            leaks.push(format!("{n:?} in {path} (from {from:?})"));
        }
    }
    let db = m.db();
    for (word, text) in &words {
        for fts in ["observations_fts", "summaries_fts"] {
            let n: i64 = db
                .query_row(
                    &format!("SELECT count(*) FROM {fts} WHERE {fts} MATCH ?1"),
                    [format!("\"{word}\"")],
                    |r| r.get(0),
                )
                .unwrap();
            if n > 0 {
                leaks.push(format!("{word:?} in {fts} (from {text:?})"));
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "{} leaks:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
}
