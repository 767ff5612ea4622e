//! claude-memd's API: privacy rules, dedupe, seed 000's routes, search, timeline, context,
//! the live stream, project identity with real git worktrees, and shutdown with open streams.

#[path = "support/memd.rs"]
mod memd;

use memd::{contains, git_init, Memd};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

fn ev(repo: &std::path::Path, event: &str, extra: Value) -> Value {
    let mut v = json!({"session_id": "sess-1", "cwd": repo, "hook_event_name": event});
    v.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    v
}

#[test]
fn privacy_dedupe_skip_list_and_opt_out() {
    let m = Memd::start_with_config("[memory]\nskip_tools = [\"TodoWrite\"]\n");
    let repo = m.dir.path().join("repo");
    git_init(&repo);
    let post = |v: Value| m.post("/v1/hook", v.to_string().as_bytes());

    // Secrets are redacted, private parts stripped.
    let (s, a) = post(ev(
        &repo,
        "UserPromptSubmit",
        json!({"prompt": "deploy it <private>card 4111-1111</private> now"}),
    ));
    assert_eq!((s, a["intake"].as_str()), (200, Some("stored")));
    let (s, a) = post(ev(
        &repo,
        "PostToolUse",
        json!({"tool_name": "Bash", "tool_use_id": "t1",
        "tool_input": {"command": "export GITHUB_TOKEN=ghp_0123456789abcdefghijABCDEFGHIJ012345 && make deploy"},
        "tool_response": {"stdout": "ok", "stderr": ""}}),
    ));
    assert_eq!((s, a["intake"].as_str()), (200, Some("stored")));
    // The same tool call again is a duplicate, not a second event.
    let (_, dup) = post(ev(
        &repo,
        "PostToolUse",
        json!({"tool_name": "Bash", "tool_use_id": "t1", "tool_input": {"command": "x"}}),
    ));
    assert_eq!(dup["intake"], "duplicate");
    assert_eq!(dup["event_id"], a["event_id"]);
    // Skipped tool.
    let (_, sk) = post(ev(
        &repo,
        "PostToolUse",
        json!({"tool_name": "TodoWrite", "tool_use_id": "t2", "tool_input": {}}),
    ));
    assert_eq!(sk["intake"], "skipped");
    // A fully private prompt: not stored, and its tool events are dropped.
    let (_, p) = post(ev(
        &repo,
        "UserPromptSubmit",
        json!({"prompt": "<private>rotate key hunter-orange</private>"}),
    ));
    assert_eq!(p["intake"], "skipped");
    let (_, t) = post(ev(
        &repo,
        "PostToolUse",
        json!({"tool_name": "Read", "tool_use_id": "t3", "tool_input": {"file_path": "/etc/hunter-orange"}}),
    ));
    assert_eq!(t["intake"], "skipped");
    // The next public prompt lifts it.
    post(ev(
        &repo,
        "UserPromptSubmit",
        json!({"prompt": "now something public"}),
    ));
    let (_, t) = post(ev(
        &repo,
        "PostToolUse",
        json!({"tool_name": "Read", "tool_use_id": "t4", "tool_input": {"file_path": "/w/public.rs"}}),
    ));
    assert_eq!(t["intake"], "stored");
    m.wait_processed();
    let raw = m.raw_bytes();
    for needle in ["4111-1111", "ghp_0123456789", "hunter-orange"] {
        assert!(!contains(&raw, needle), "{needle} reached the database");
    }
    let (_, prompts) = m.get("/api/prompts");
    assert_eq!(
        prompts["prompts"][1]["prompt"], "deploy it  now",
        "{prompts}"
    );
    assert_eq!(prompts["total"], 2);

    // Opt-out marker: nothing stored for that repository.
    let other = m.dir.path().join("secret-repo");
    git_init(&other);
    std::fs::write(other.join(".no-claude-memory"), "").unwrap();
    let (_, o) = m.post(
        "/v1/hook",
        ev(&other, "UserPromptSubmit", json!({"prompt": "hello"}))
            .to_string()
            .as_bytes(),
    );
    assert_eq!(o["intake"], "skipped");
}

#[test]
fn seed_routes_search_timeline_context_and_stream() {
    let m = Memd::start();
    let repo = m.dir.path().join("app");
    git_init(&repo);

    // SSE: subscribe before anything happens.
    let mut sse = std::os::unix::net::UnixStream::connect(m.socket()).unwrap();
    sse.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    sse.write_all(b"GET /stream HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();

    let post = |v: Value| m.post("/v1/hook", v.to_string().as_bytes());
    post(ev(
        &repo,
        "UserPromptSubmit",
        json!({"prompt": "make the tokenizer faster"}),
    ));
    post(ev(
        &repo,
        "PostToolUse",
        json!({"tool_name": "Edit", "tool_use_id": "e1",
        "tool_input": {"file_path": repo.join("src/tokenizer.rs"), "old_string": "slow", "new_string": "fast"}}),
    ));
    post(ev(
        &repo,
        "Stop",
        json!({"last_assistant_message": "The tokenizer now avoids copies."}),
    ));
    m.wait_processed();

    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while !(seen.contains("event: observation-created")
        && seen.contains("event: session-summary-created"))
    {
        let n = sse.read(&mut buf).expect("SSE events within 10 s");
        assert!(n > 0, "stream closed: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(seen.contains("event: user-prompt-created"), "{seen}");
    assert!(seen.contains("Edited src/tokenizer.rs"), "{seen}");

    let (s, h) = m.get("/health");
    assert_eq!(s, 200);
    assert_eq!(h["status"], "ok");
    assert!(h["uptime"].is_number() && h["port"].is_number(), "{h}");
    let (_, o) = m.get("/api/observations?project=app&limit=1&offset=0");
    assert_eq!(o["total"], 1);
    assert_eq!(o["hasMore"], false);
    let obs = &o["observations"][0];
    for k in ["id", "title", "type", "narrative", "created_at"] {
        assert!(obs.get(k).is_some(), "observation lacks {k}: {obs}");
    }
    let id = obs["id"].as_i64().unwrap();
    let (_, sums) = m.get("/api/summaries?project=app");
    for k in ["id", "session_id", "request", "completed", "created_at"] {
        assert!(
            sums["summaries"][0].get(k).is_some(),
            "summary lacks {k}: {sums}"
        );
    }
    let (_, p) = m.get("/api/prompts?project=app");
    assert_eq!(p["prompts"][0]["prompt_number"], 1);
    let (_, st) = m.get("/api/stats");
    assert_eq!(st["byProject"]["app"]["observations"], 1, "{st}");
    assert_eq!(st["total"]["sessions"], 1);
    assert_eq!(
        m.post(
            "/api/settings",
            br#"{"theme": "light", "sidebarOpen": false}"#
        )
        .1["success"],
        true
    );
    let (_, set) = m.get("/api/settings");
    assert_eq!(
        (set["theme"].as_str(), set["sidebarOpen"].as_bool()),
        (Some("light"), Some(false))
    );
    assert_eq!(m.post("/api/settings", b"[1]").0, 400);

    let (s, full) = m.get(&format!("/v1/observations/{id}"));
    assert_eq!(s, 200);
    assert_eq!(
        full["files_modified"][0],
        repo.join("src/tokenizer.rs").display().to_string()
    );
    assert_eq!(m.get("/v1/observations/999999").0, 404);
    let (_, found) = m.get("/v1/search?q=tokenizer&project=app");
    let records: Vec<&str> = found["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["record"].as_str().unwrap())
        .collect();
    for r in ["observation", "summary", "prompt"] {
        assert!(records.contains(&r), "{r} not found: {found}");
    }
    let (_, typed) = m.get("/v1/search?q=tokenizer&type=discovery");
    assert_eq!(typed["results"].as_array().unwrap().len(), 0);
    assert_eq!(m.get("/v1/search?q=").0, 400);
    assert_eq!(m.get("/v1/search?q=x&since=never").0, 400);
    // A time past what SQLite's dates cover is the caller's mistake (it was a 500).
    let (s, v) = m.get("/v1/timeline?at=99999999999999");
    assert_eq!(s, 400, "{v}");
    assert!(v.to_string().contains("years 0000 to 9999"), "{v}");
    let (_, tl) = m.get(&format!("/v1/timeline?anchor={id}"));
    assert!(
        tl["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["anchor"] == true),
        "{tl}"
    );
    let (_, ctx) = m.get(&format!(
        "/v1/context?project={}",
        repo.join("src").display()
    ));
    assert!(
        ctx["markdown"]
            .as_str()
            .unwrap()
            .contains(&format!("#{id} ")),
        "{ctx}"
    );

    // Seed 000 session routes.
    let (s, init) = m.post(
        "/sessions/77/init",
        br#"{"sdk_session_id": "legacy-1", "project": "/tmp/legacy-proj"}"#,
    );
    assert_eq!((s, init["success"].as_bool()), (200, Some(true)), "{init}");
    let (s, added) = m.post(
        "/sessions/77/observations",
        br#"{"tool_name": "Read", "tool_input": {"file_path": "/tmp/legacy-proj/a.md"}, "tool_result": "text", "correlation_id": "c-1"}"#,
    );
    assert_eq!(s, 200, "{added}");
    assert!(added["observation_id"].is_number(), "{added}");
    let (_, sum) = m.post("/sessions/77/summarize", br#"{"trigger": "stop"}"#);
    assert_eq!(sum["success"], true);
    let (_, status) = m.get("/sessions/77/status");
    assert_eq!(
        (
            status["session_id"].as_str(),
            status["observation_count"].as_i64()
        ),
        (Some("legacy-1"), Some(1)),
        "{status}"
    );
    assert_eq!(m.request("DELETE", "/sessions/77", None).1["success"], true);
    assert_eq!(m.get("/sessions/77/status").0, 404);

    let (s, pr) = m.post("/v1/prune", br#"{"older_than_days": 30}"#);
    assert_eq!(s, 200, "{pr}");
    assert_eq!(pr["observations"], 0);
    assert_eq!(m.post("/v1/prune", br#"{"older_than": 1}"#).0 / 100, 4);
}

#[test]
fn project_identity_with_real_git_worktrees_and_large_payloads() {
    let m = Memd::start();
    let base = m.dir.path();
    let git = |dir: &std::path::Path, args: &[&str]| {
        let ok = Command::new("git")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    };
    let main = base.join("work/app");
    git_init(&main);
    std::fs::write(main.join("a.txt"), "a").unwrap();
    git(&main, &["add", "a.txt"]);
    git(&main, &["commit", "-q", "-m", "init"]);
    git(&main, &["worktree", "add", "-q", "../app-feature"]);
    let other = base.join("oss/app");
    git_init(&other);
    std::fs::create_dir_all(main.join("src")).unwrap();

    let mut keys = Vec::new();
    for (i, cwd) in [
        main.join("src"),
        base.join("work/app-feature"),
        other.clone(),
    ]
    .iter()
    .enumerate()
    {
        let body = ev(
            cwd,
            "PostToolUse",
            json!({"tool_name": "Read", "tool_use_id": format!("w{i}"),
            "tool_input": {"file_path": cwd.join("a.txt")}}),
        );
        let body = body.to_string().replace("sess-1", &format!("sess-w{i}"));
        let (s, a) = m.post("/v1/hook", body.as_bytes());
        assert_eq!(s, 200, "{a}");
        let id = a["event_id"].as_i64().unwrap();
        keys.push(
            m.db()
                .query_row(
                    "SELECT project, project_name FROM events WHERE id = ?1",
                    [id],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
                )
                .unwrap(),
        );
    }
    let main_key = std::fs::canonicalize(&main).unwrap().display().to_string();
    assert_eq!(
        keys[0],
        (main_key.clone(), "app".to_string()),
        "subdirectory of the main checkout"
    );
    assert_eq!(
        keys[1],
        (main_key, "app".to_string()),
        "linked worktree grouped under its repository"
    );
    assert_ne!(keys[2].0, keys[0].0, "same-named repository kept apart");
    assert_eq!(keys[2].1, "app");

    // A 3 MB tool response is accepted (under the 8 MiB limit) and stored clipped.
    let big = ev(
        &main,
        "PostToolUse",
        json!({"tool_name": "Read", "tool_use_id": "big",
        "tool_input": {"file_path": main.join("a.txt")}, "tool_response": {"file": {"content": "y".repeat(3 << 20)}}}),
    );
    let (s, a) = m.post("/v1/hook", big.to_string().as_bytes());
    assert_eq!(s, 200, "{a}");
    let len: i64 = m
        .db()
        .query_row(
            "SELECT length(payload) FROM events WHERE id = ?1",
            [a["event_id"].as_i64().unwrap()],
            |r| r.get(0),
        )
        .unwrap();
    assert!(len < 20_000, "payload stored clipped: {len} bytes");
}

#[test]
fn sigterm_ends_open_streams_and_the_daemon_exits_promptly() {
    let mut m = Memd::start();
    let mut sse = std::os::unix::net::UnixStream::connect(m.socket()).unwrap();
    sse.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    sse.write_all(b"GET /stream HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = sse.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("event: connected"));
    let child = m.child.as_mut().unwrap();
    let t = std::time::Instant::now();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    // Held by the stream it would wait the 20 s drain limit; a clean exit takes well under 1 s.
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "drain waited {:?}: the stream held it",
        t.elapsed()
    );
    // The stream was ended by the daemon, not cut by the test.
    let mut rest = Vec::new();
    let _ = sse.read_to_end(&mut rest);
    m.child = None;
}

/// A prompt's word matches are looked up while its event is being committed; they are
/// shown (and marked as shown) only when the event is then stored: an opted-out project
/// or a private prompt gets no context and leaves no mark.
#[test]
fn a_prompts_context_comes_only_with_its_stored_event() {
    let m = Memd::start();
    let repo = m.dir.path().join("repo");
    git_init(&repo);
    let prompt = |session: &str, text: &str| {
        let mut v = ev(&repo, "UserPromptSubmit", json!({"prompt": text}));
        v["session_id"] = session.into();
        m.post("/v1/hook", v.to_string().as_bytes())
    };
    let (s, a) = prompt("first", "hello there");
    assert_eq!((s, a["intake"].as_str()), (200, Some("stored")), "{a}");
    let project: String = m
        .db()
        .query_row("SELECT project FROM user_prompts LIMIT 1", [], |r| r.get(0))
        .unwrap();
    let id: i64 = m
        .db()
        .query_row(
            "INSERT INTO observations (session_id, project, project_name, type, title, facts,
               created_at, created_at_epoch)
             VALUES ('earlier', ?1, 'repo', 'change', 'Zebra crossing timer refreshed',
               '[\"timer refresh at 60 s\"]', '2026-11-20T10:00:00Z', 1) RETURNING id",
            [&project],
            |r| r.get(0),
        )
        .unwrap();
    let marks = |session: &str| {
        m.count(&format!(
            "SELECT count(*) FROM session_recall WHERE session_id = '{session}'"
        ))
    };
    let (_, a) = prompt("s1", "why is the zebra crossing timer wrong?");
    assert!(
        a["context"]
            .as_str()
            .is_some_and(|c| c.contains(&format!("#{id} "))),
        "{a}"
    );
    // Shown once per session: the next prompt, sent at once, waits for the marks that are
    // written after the answer.
    let (_, a) = prompt("s1", "the zebra crossing timer again");
    assert!(a["context"].is_null(), "{a}");
    assert_eq!(marks("s1"), 1);
    let (_, a) = prompt("s2", "zebra <private>crossing</private> timer");
    assert!(a["context"].is_null(), "{a}");
    std::fs::write(repo.join(".no-claude-memory"), "").unwrap();
    let (s, a) = prompt("s3", "why is the zebra crossing timer wrong?");
    assert_eq!((s, a["intake"].as_str()), (200, Some("skipped")), "{a}");
    assert!(a["context"].is_null(), "{a}");
    // A prompt with a lookup waits for every mark written before it: none came for s2, s3.
    std::fs::remove_file(repo.join(".no-claude-memory")).unwrap();
    let (_, a) = prompt("s4", "why is the zebra crossing timer wrong?");
    assert!(a["context"].is_string(), "{a}");
    assert_eq!((marks("s2"), marks("s3")), (0, 0));
}
