//! claude-hook under a real `systemd --user` and journald (in a private mount namespace: see
//! support/user_manager.rs): its complaints reach the journal with the session as a field
//! while Claude Code sees nothing, and its first connection starts claude-memd through
//! socket activation in time to answer SessionStart with context.

#[path = "support/http.rs"]
mod http;
#[path = "support/repo.rs"]
mod repo;
#[path = "support/user_manager.rs"]
mod user_manager;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;
use user_manager::{Tweaks, UserManager};

fn hook(runtime: &std::path::Path, stdin: &[u8]) -> Vec<u8> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_claude-hook"))
        .env("CLAUDE_DAEMONS_RUNTIME_DIR", runtime)
        .env("CLAUDE_DAEMONS_CONFIG", runtime.join("none.toml"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty(), "{out:?}");
    out.stdout
}

#[test]
fn hook_failures_reach_the_journal_not_the_terminal() {
    if !user_manager::inside() {
        return user_manager::run_inside_namespace(
            "hook_failures_reach_the_journal_not_the_terminal",
        );
    }
    let um = UserManager::start();
    let runtime = um.scratch().join("no-daemon");
    std::fs::create_dir_all(&runtime).unwrap();
    assert!(hook(&runtime, b"{\"session_id\": ").is_empty());
    um.wait_for_journal(
        &["SYSLOG_IDENTIFIER=claude-hook"],
        "invalid hook payload",
        Duration::from_secs(60),
    );
    assert!(hook(
        &runtime,
        br#"{"session_id": "journal-sess-1", "cwd": "/tmp", "hook_event_name": "PostToolUse", "tool_name": "Read"}"#,
    )
    .is_empty());
    um.wait_for_journal(
        &[
            "SYSLOG_IDENTIFIER=claude-hook",
            "SESSION_ID=journal-sess-1",
            "HOOK_EVENT=PostToolUse",
        ],
        "claude-memd: cannot connect",
        Duration::from_secs(60),
    );
}

#[test]
fn session_start_hook_activates_memd_and_gets_context() {
    if !user_manager::inside() {
        return user_manager::run_inside_namespace(
            "session_start_hook_activates_memd_and_gets_context",
        );
    }
    let um = UserManager::start();
    let port = http::free_port();
    let state = um.scratch().join("state");
    um.install_units(
        &["claude-memd"],
        &[("claude-memd", env!("CARGO_BIN_EXE_claude-memd"))],
        &Tweaks {
            env: vec![(
                "CLAUDE_DAEMONS_STATE_DIR".into(),
                state.display().to_string(),
            )],
            replace: vec![("127.0.0.1:37777".into(), format!("127.0.0.1:{port}"))],
            ..Tweaks::default()
        },
    );
    um.systemctl_ok(&["start", "claude-memd.socket"]);
    assert_eq!(um.show("claude-memd.service", "ActiveState"), "inactive");
    let repo = um.scratch().join("repo");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    let start = serde_json::json!({"session_id": "act-1", "cwd": repo, "hook_event_name": "SessionStart", "source": "startup"});
    let out = hook(
        &um.runtime_dir().join("claude"),
        start.to_string().as_bytes(),
    );
    let v: serde_json::Value = serde_json::from_slice(&out)
        .unwrap_or_else(|_| panic!("no context printed: {:?}", String::from_utf8_lossy(&out)));
    assert!(v["hookSpecificOutput"]["additionalContext"]
        .as_str()
        .unwrap()
        .contains("No earlier work"));
    assert_eq!(
        um.show("claude-memd.service", "ActiveState"),
        "active",
        "started by the hook"
    );
}
