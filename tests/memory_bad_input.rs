//! Bad input: claude-hook stays silent and exits 0, the API answers 4xx with a reason, the
//! database is unchanged; and the hook is bounded when the daemon is down or silent.

#[path = "support/hook.rs"]
mod hook;
#[path = "support/http.rs"]
mod http;
#[path = "support/memd.rs"]
mod memd;

use memd::{git_init, hook_bin, Memd};
use serde_json::{json, Value};
use std::process::Command;
use std::time::Duration;

fn counts(m: &Memd) -> Vec<i64> {
    [
        "sessions",
        "events",
        "observations",
        "user_prompts",
        "session_summaries",
    ]
    .iter()
    .map(|t| m.count(&format!("SELECT count(*) FROM {t}")))
    .collect()
}

/// Run claude-hook with `stdin`; returns (exit code, stdout, stderr).
fn hook(m: &Memd, stdin: &[u8]) -> (i32, Vec<u8>, Vec<u8>) {
    let mut cmd = Command::new(hook_bin());
    cmd.envs(m.env());
    let out = hook::run(cmd, stdin);
    (out.status.code().unwrap_or(-1), out.stdout, out.stderr)
}

/// POST /v1/hook without waiting for the body to be read. Returns (status, body).
fn raw_post(m: &Memd, body: &[u8]) -> (u16, String) {
    http::post_unread(&m.socket(), "/v1/hook", body.to_vec())
}

fn ev(repo: &std::path::Path, event: &str, extra: Value) -> Value {
    let mut v = json!({"session_id": "sess-1", "cwd": repo, "hook_event_name": event});
    v.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    v
}

#[test]
fn bad_input_is_refused_and_stores_nothing() {
    let m = Memd::start();
    let repo = m.dir.path().join("repo");
    git_init(&repo);
    let ok = ev(&repo, "SessionStart", json!({"source": "startup"})).to_string();
    assert_eq!(m.post("/v1/hook", ok.as_bytes()).0, 200);
    let before = counts(&m);

    let big = {
        let mut v = ev(
            &repo,
            "PostToolUse",
            json!({"tool_name": "Read", "tool_use_id": "big"}),
        );
        v["tool_response"] = json!("x".repeat(50 << 20));
        v.to_string().into_bytes()
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", ok.as_bytes()[..ok.len() / 2].to_vec()),
        (
            "wrong types",
            br#"{"session_id": 7, "cwd": "/", "hook_event_name": "Stop"}"#.to_vec(),
        ),
        (
            "wrong nested type",
            ev(&repo, "UserPromptSubmit", json!({"prompt": ["a"]}))
                .to_string()
                .into_bytes(),
        ),
        (
            "unknown event",
            ev(&repo, "Teleport", json!({})).to_string().into_bytes(),
        ),
        ("invalid utf-8", {
            let mut b = br#"{"session_id": "s", "cwd": "/", "hook_event_name": "UserPromptSubmit", "prompt": ""#.to_vec();
            b.extend([0xff, 0xfe, 0x80]);
            b.extend(br#""}"#);
            b
        }),
        ("empty", Vec::new()),
        ("not an object", b"[1, 2, 3]".to_vec()),
        ("50 MB", big),
    ];
    for (name, body) in &cases {
        let (code, out, err) = hook(&m, body);
        assert_eq!(code, 0, "{name}: hook exit code");
        assert!(
            out.is_empty(),
            "{name}: hook printed {:?}",
            String::from_utf8_lossy(&out)
        );
        assert!(
            err.is_empty(),
            "{name}: hook wrote to stderr {:?}",
            String::from_utf8_lossy(&err)
        );
        let (status, reason) = raw_post(&m, body);
        assert!((400..500).contains(&status), "{name}: HTTP {status}");
        assert!(!reason.is_empty(), "{name}: a reason is given");
        if status != 413 {
            let e: Value = serde_json::from_str(&reason).unwrap();
            assert!(!e["error"].as_str().unwrap().is_empty(), "{name}: {e}");
        }
    }
    let r = m.post("/v1/hooks/Stop", ok.as_bytes());
    assert_eq!(r.0, 400, "path and payload disagree: {:?}", r.1);
    assert_eq!(counts(&m), before, "database unchanged");
    assert_eq!(m.get("/v1/health").0, 200, "still serving");
}

#[test]
fn hook_is_silent_and_bounded_when_the_daemon_is_down_or_slow() {
    let mut m = Memd::start();
    let repo = m.dir.path().join("repo");
    git_init(&repo);
    let start = ev(&repo, "SessionStart", json!({"source": "startup"})).to_string();
    let (code, out, _) = hook(&m, start.as_bytes());
    assert_eq!(code, 0);
    let printed: Value = serde_json::from_slice(&out).expect("SessionStart prints JSON");
    assert_eq!(
        printed["hookSpecificOutput"]["hookEventName"],
        "SessionStart"
    );
    assert!(printed["hookSpecificOutput"]["additionalContext"]
        .as_str()
        .unwrap()
        .contains("No earlier work"));

    m.kill9();
    let (code, out, err) = hook(&m, start.as_bytes());
    assert_eq!((code, out.len(), err.len()), (0, 0, 0), "daemon down");

    // A listener that never answers: the hook gives up at its deadline.
    let _ = std::fs::remove_file(m.socket());
    let _silent = std::os::unix::net::UnixListener::bind(m.socket()).unwrap();
    std::fs::write(
        m.dir.path().join("config.toml"),
        "[memory]\nhook_timeout_ms = 200\ncontext_timeout_ms = 300\n",
    )
    .unwrap();
    let t = std::time::Instant::now();
    let (code, out, err) = hook(&m, start.as_bytes());
    assert_eq!((code, out.len(), err.len()), (0, 0, 0), "daemon silent");
    // Deadlines of 200/300 ms against a listener that never answers: without them the hook
    // would wait forever, so a generous bound still proves them.
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "waited {:?}",
        t.elapsed()
    );
}
