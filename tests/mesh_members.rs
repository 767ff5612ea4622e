//! Members are peers: every claude-meshd announces its member (key, display name, host) in
//! presence whether or not it runs Claude sessions. A send to a member's display name while
//! it has no session is accepted (202), waits in its inbox, and reaches its first session
//! exactly once (SessionStart context through the real claude-hook). Two members with one
//! name answer 409 with both candidates. Real nats-server, real daemons.

#[path = "support/hook.rs"]
mod hook;
#[path = "support/meshd.rs"]
mod meshd;
#[path = "support/nats.rs"]
mod nats;

use meshd::Meshd;
use nats::Nats;
use serde_json::{json, Value};
use std::process::Command;

fn hook(m: &Meshd, session: &str, name: &str, extra: Value) -> String {
    let mut payload = json!({"session_id": session, "hook_event_name": name, "cwd": "/tmp",
        "transcript_path": "/tmp/t.jsonl"});
    for (k, x) in extra.as_object().unwrap() {
        payload[k] = x.clone();
    }
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_claude-hook"));
    cmd.envs(m.env.iter().map(|(k, v)| (k, v)));
    let out = hook::run_ok(cmd, payload.to_string().as_bytes());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn members(m: &Meshd) -> Vec<Value> {
    m.get("/v1/members?all=true").1.as_array().unwrap().clone()
}

#[test]
fn a_member_without_sessions_gets_its_messages_at_its_first_session_once() {
    let dir = meshd::scratch::kept(
        tempfile::Builder::new()
            .prefix("cmm")
            .tempdir_in("/tmp")
            .unwrap(),
    );
    let nats = Nats::start(dir.path());
    let alice = Meshd::member(dir.path(), &nats.url(), "alice", "s3cret");
    let bob = Meshd::member(dir.path(), &nats.url(), "bob", "s3cret");
    let kb = bob.key();
    alice.register("a1", "alice-one", &[], &[]);

    // Bob runs no session, yet alice lists him as a member (and herself first).
    alice.wait_for(20, "bob's member record at alice", || {
        members(&alice)
            .iter()
            .any(|m| m["name"] == "bob" && m["key"] == kb.as_str() && m["online"] == true)
    });
    let list = members(&alice);
    assert_eq!(list[0]["name"], "alice");
    assert_eq!(list[0]["local"], true);
    assert_eq!(list[0]["sessions"][0]["session_id"], "a1", "{list:?}");
    let b = list.iter().find(|m| m["name"] == "bob").unwrap();
    assert_eq!(b["sessions"].as_array().unwrap().len(), 0, "{b}");
    assert!(b["hostname"].is_string(), "{b}");

    // Old code: 404 unknown_destination. Now: held for bob.
    let (code, v) = alice.send(json!({"to": "bob", "body": "the release is tagged",
        "from_session": "a1", "client_message_id": "held-1"}));
    assert_eq!(code, 202, "{v}");
    bob.wait_for(20, "the message in bob's inbox", || {
        !bob.inbox("").is_empty()
    });

    // Bob's first session: SessionStart carries it; its next hook does not repeat it.
    let s = "5b0b0b0b-0000-4000-8000-000000000001";
    let start = hook(&bob, s, "SessionStart", json!({"source": "startup"}));
    assert_eq!(start.matches("the release is tagged").count(), 1, "{start}");
    let next = hook(&bob, s, "UserPromptSubmit", json!({"prompt": "hi"}));
    assert!(!next.contains("the release is tagged"), "repeated: {next}");

    // By key too (a prefix; `now`, as bob's session is working since its prompt), and the same id again is a duplicate, not a second delivery.
    let (code, v) = alice.send(
        json!({"to": &kb[..12], "body": "by key", "from_session": "a1",
        "priority": "now"}),
    );
    assert_eq!(code, 202, "{v}");
    let (code, v) = alice.send(json!({"to": "bob", "body": "the release is tagged",
        "from_session": "a1", "client_message_id": "held-1"}));
    assert!(code == 200 || code == 202, "{v}");
    assert_eq!(v["duplicate"], true, "{v}");
    bob.wait_for(20, "the message by key", || {
        bob.inbox("").iter().any(|i| i["body"] == "by key")
    });
    let after = hook(
        &bob,
        s,
        "PostToolUse",
        json!({"tool_name": "Read", "tool_use_id": "t1"}),
    );
    assert!(after.contains("by key"), "{after}");
    assert!(
        !after.contains("the release is tagged"),
        "repeated: {after}"
    );

    // A second member calling itself bob: the name is now ambiguous, and says who.
    let bob2 = Meshd::member(&dir.path().join("other"), &nats.url(), "bob", "s3cret");
    let k2 = bob2.key();
    alice.wait_for(20, "the second bob's record at alice", || {
        members(&alice).iter().any(|m| m["key"] == k2.as_str())
    });
    let (code, v) = alice.send(json!({"to": "bob", "body": "which one?"}));
    assert_eq!(code, 409, "{v}");
    assert_eq!(v["error"], "ambiguous_destination", "{v}");
    let candidates = v["candidates"].to_string();
    assert!(
        candidates.contains(&kb) && candidates.contains(&k2),
        "{candidates}"
    );

    // claudectl shows the members and their sessions.
    let out = Command::new(env!("CARGO_BIN_EXE_claudectl"))
        .args(["mesh", "peers", "--all"])
        .envs(alice.env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("alice") && text.contains("alice-one") && text.contains("bob"),
        "{text}"
    );
}
