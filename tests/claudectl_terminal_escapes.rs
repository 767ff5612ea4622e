//! Terminal control sequences in someone else's text — a memory record, a mesh message —
//! never reach the operator's terminal through claudectl's human views; `--json` stays
//! valid JSON that keeps the text exactly.

#[path = "claudectl_support/mod.rs"]
mod ctl_support;
#[path = "support/memd.rs"]
mod memd;
#[path = "support/meshd.rs"]
mod meshd;

use serde_json::{json, Value};

/// Retitle the terminal, turn text red, clear the screen; then a C1 CSI and a bidi override.
const HOSTILE: &str = "\x1b]0;owned\x07\x1b[31mowned\x1b[2J\u{9b}2J\u{202e}txt.exe";

fn assert_inert(what: &str, out: &str) {
    for (c, name) in [
        ('\x1b', "ESC"),
        ('\x07', "BEL"),
        ('\u{9b}', "C1 CSI"),
        ('\u{202e}', "RLO"),
    ] {
        assert!(!out.contains(c), "{what}: {name} reached stdout: {out:?}");
    }
    assert!(
        out.contains("^[]0;owned^G"),
        "{what}: shown as text: {out:?}"
    );
}

#[test]
fn memory_records_print_without_control_characters() {
    let m = memd::Memd::start();
    let rt = m.dir.path().join("run");
    let repo = m.dir.path().join("shop");
    memd::git_init(&repo);
    let hook = json!({"session_id": "s-1", "cwd": repo, "hook_event_name": "UserPromptSubmit",
        "prompt": format!("checkout {HOSTILE} tokens")});
    let (status, r) = m.post("/v1/hook", hook.to_string().as_bytes());
    assert_eq!(status, 200, "{r}");
    m.wait_processed();

    let args = ["mem", "search", "checkout", "--record", "prompt"];
    let (human, _) = ctl_support::run(&rt, &args, 0);
    assert_inert("mem search", &human);

    // --json: still JSON, the text intact (serde writes the controls as \u escapes).
    let (raw, _) = ctl_support::run(&rt, &[&args[..], &["--json"]].concat(), 0);
    assert!(!raw.contains('\x1b') && !raw.contains('\x07'), "{raw:?}");
    let v: Value = serde_json::from_str(&raw).expect("--json is JSON");
    let text = v["results"][0].to_string();
    assert!(text.contains("owned"), "{v}");
}

#[test]
fn mesh_messages_print_without_control_characters() {
    let dir = tempfile::Builder::new()
        .prefix("ce")
        .tempdir_in("/tmp")
        .unwrap();
    let m = meshd::Meshd::start(dir.path(), &[]);
    let rt = dir.path().join("r");
    m.register("sess-a", "alice", &[], &[]);
    m.register("sess-b", "bob", &[], &[]);
    let (status, r) = m.send(json!({"to": "bob", "body": HOSTILE, "from_session": "sess-a"}));
    assert!(status < 300, "{status} {r}");
    m.wait_for(10, "delivered", || !m.inbox("session=sess-b").is_empty());

    let (human, _) = ctl_support::run(&rt, &["mesh", "inbox", "--session", "sess-b"], 0);
    assert_inert("mesh inbox", &human);

    let (raw, _) = ctl_support::run(&rt, &["mesh", "inbox", "--session", "sess-b", "--json"], 0);
    let v: Value = serde_json::from_str(&raw).expect("--json is JSON");
    assert_eq!(
        v["items"][0]["body"], HOSTILE,
        "--json keeps the text exactly"
    );
}
