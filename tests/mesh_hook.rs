//! claude-hook carries the mesh into Claude sessions: SessionStart registers the session as a
//! peer, unread messages addressed to it arrive as `additionalContext` (fenced, marked
//! untrusted), UserPromptSubmit / Stop set working / idle, SessionEnd leaves. Real hook
//! binary, real claude-meshd; no claude-memd, which the hook must shrug off.

#[path = "support/hook.rs"]
mod hook;
#[path = "support/meshd.rs"]
mod meshd;

use meshd::Meshd;
use serde_json::{json, Value};
use std::process::Command;

fn hook(m: &Meshd, payload: Value) -> (String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_claude-hook"));
    cmd.envs(m.env.iter().map(|(k, v)| (k, v)));
    let out = hook::run_ok(cmd, payload.to_string().as_bytes());
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn event(session: &str, name: &str, extra: Value) -> Value {
    let mut v = json!({"session_id": session, "hook_event_name": name, "cwd": "/tmp", "transcript_path": "/tmp/t.jsonl"});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

fn peer(m: &Meshd, session: &str) -> Option<Value> {
    let (_, peers) = m.get("/v1/peers");
    peers
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["session_id"] == session)
        .cloned()
}

fn context_of(stdout: &str) -> String {
    let out: Value = serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout:?}"));
    out["hookSpecificOutput"]["additionalContext"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn hook_registers_sessions_delivers_messages_and_tracks_status() {
    let dir = tempfile::Builder::new()
        .prefix("cmh")
        .tempdir_in("/tmp")
        .unwrap();
    let m = Meshd::start(dir.path(), &[]);
    let (a, b) = (
        "0b7c1d2e-aaaa-4000-8000-000000000001",
        "0b7c1d2e-bbbb-4000-8000-000000000002",
    );

    // SessionStart: registered; nothing unread, so nothing printed, and silent stderr.
    for s in [a, b] {
        let (stdout, stderr) = hook(&m, event(s, "SessionStart", json!({"source": "startup"})));
        assert_eq!((stdout.as_str(), stderr.as_str()), ("", ""));
        let p = peer(&m, s).expect("registered");
        assert_eq!(p["cwd"], "/tmp");
    }

    // B messages A; A's next prompt carries it, fenced and marked untrusted.
    let (code, v) = m.send(
        json!({"to": format!("session:{a}"), "body": "please review PR 7", "from_session": b}),
    );
    assert!(code == 202 || code == 200, "{v}");
    m.wait_for(10, "delivery", || {
        !m.inbox(&format!("session={a}")).is_empty()
    });
    let (stdout, _) = hook(&m, event(a, "UserPromptSubmit", json!({"prompt": "hi"})));
    let ctx = context_of(&stdout);
    assert!(
        ctx.contains("please review PR 7") && ctx.contains("UNTRUSTED"),
        "{ctx}"
    );
    assert_eq!(peer(&m, a).unwrap()["profile"]["status"], "working");

    // Read once: the next tool call brings nothing again.
    let (stdout, _) = hook(
        &m,
        event(
            a,
            "PostToolUse",
            json!({"tool_name": "Read", "tool_input": {}, "tool_use_id": "toolu_1"}),
        ),
    );
    assert_eq!(stdout, "");

    // While A works, a `low` message waits; Stop makes A idle and the next prompt gets it.
    m.send(json!({"to": format!("session:{a}"), "body": "when you have time", "priority": "low", "from_session": b}));
    m.wait_for(10, "delivery", || {
        m.inbox(&format!("session={a}&unread_only=true")).len() == 1
    });
    let (stdout, _) = hook(
        &m,
        event(
            a,
            "PostToolUse",
            json!({"tool_name": "Read", "tool_input": {}, "tool_use_id": "toolu_2"}),
        ),
    );
    assert_eq!(stdout, "", "held while working");
    hook(&m, event(a, "Stop", json!({"stop_hook_active": false})));
    assert_eq!(peer(&m, a).unwrap()["profile"]["status"], "idle");
    let (stdout, _) = hook(&m, event(a, "UserPromptSubmit", json!({"prompt": "next"})));
    assert!(context_of(&stdout).contains("when you have time"));

    // B never saw A's messages.
    let (stdout, _) = hook(&m, event(b, "UserPromptSubmit", json!({"prompt": "x"})));
    assert!(!stdout.contains("review"), "{stdout}");

    // SessionEnd: A leaves.
    hook(&m, event(a, "SessionEnd", json!({"reason": "other"})));
    assert!(
        peer(&m, a).is_none_or(|p| p["online"] == false),
        "{:?}",
        peer(&m, a)
    );
}

#[test]
fn a_session_started_before_the_mesh_joins_at_its_next_hook() {
    let dir = tempfile::Builder::new()
        .prefix("cmh")
        .tempdir_in("/tmp")
        .unwrap();
    let m = Meshd::start(dir.path(), &[]);
    let tool = |n: u32| json!({"tool_name": "Read", "tool_input": {}, "tool_use_id": format!("toolu_{n}")});
    // No SessionStart reached claude-meshd for these two.
    let (stdout, _) = hook(&m, event("late", "PostToolUse", tool(1)));
    assert_eq!(stdout, "");
    assert_eq!(peer(&m, "late").unwrap()["online"], true);
    hook(
        &m,
        event("later", "Stop", json!({"stop_hook_active": false})),
    );
    assert_eq!(peer(&m, "later").unwrap()["profile"]["status"], "idle");

    // And from then on it is messaged like any other.
    m.send(json!({"to": "session:late", "body": "welcome aboard", "from_session": "later"}));
    m.wait_for(10, "delivery", || {
        m.inbox("session=late&unread_only=true").len() == 1
    });
    let (stdout, _) = hook(&m, event("late", "PostToolUse", tool(2)));
    assert!(context_of(&stdout).contains("welcome aboard"), "{stdout}");
}

#[test]
fn no_mesh_socket_means_no_mesh_and_no_noise() {
    let dir = tempfile::Builder::new()
        .prefix("cmh")
        .tempdir_in("/tmp")
        .unwrap();
    let m = Meshd::configure(dir.path(), &[]);
    let (stdout, stderr) = hook(&m, event("s-1", "UserPromptSubmit", json!({"prompt": "x"})));
    assert_eq!((stdout.as_str(), stderr.as_str()), ("", ""));
}

/// The session context the hook asks for on every tool call must not grow with messages
/// meant for other sessions (a month of them stays in the inbox). Before the inbox was
/// narrowed through its indexes, 10,000 of them made the call 60 times a health check; 10 times is the bound here.
#[test]
fn a_sessions_context_does_not_grow_with_other_sessions_messages() {
    let dir = tempfile::Builder::new()
        .prefix("cm")
        .tempdir_in("/tmp")
        .unwrap();
    let m = Meshd::start(dir.path(), &[]);
    m.register("quiet", "quiet", &[], &[]);
    m.register("busy", "busy", &["ops"], &[]);
    let key = m.key();
    m.sql(&format!(
        "WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < 10000)
         INSERT INTO inbox (from_key, client_message_id, from_name, kind, to_text, dest, to_session,
                            body, priority, created_at, received_at)
         SELECT 'ff', 'm' || k, 'x', CASE k % 2 WHEN 0 THEN 'dm' ELSE 'group' END,
                CASE k % 2 WHEN 0 THEN '{key}/busy' ELSE '@ops' END, 'd', 'busy', 'hello',
                'next', strftime('%Y-%m-%dT%H:%M:%fZ'), strftime('%Y-%m-%dT%H:%M:%fZ')
         FROM n"
    ));
    let median = |path: &str, post: bool| {
        let mut t: Vec<std::time::Duration> = (0..40)
            .map(|_| {
                let start = std::time::Instant::now();
                let (status, _) = if post {
                    m.post(path, &json!({}))
                } else {
                    m.get(path)
                };
                assert_eq!(status, 200, "{path}");
                start.elapsed()
            })
            .collect();
        t.sort();
        t[t.len() / 2]
    };
    // Interleaved, so both see the same machine.
    let (mut health, mut context) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        health.push(median("/v1/health", false));
        context.push(median("/v1/sessions/quiet/context", true));
    }
    let (health, context) = (health.iter().min().unwrap(), context.iter().min().unwrap());
    println!("10,000 messages for another session: context {context:?}, health {health:?}");
    assert!(
        *context < *health * 10,
        "context {context:?} vs health {health:?}"
    );
    // The messages are there for the session they are for.
    let (_, v) = m.post("/v1/sessions/busy/context", &json!({}));
    assert!(!v["items"].as_array().unwrap().is_empty(), "{v}");
}
