//! claude-hook's complaints reach the journal (a real journald, in a private mount
//! namespace: see support/user_manager.rs) with the session as a field, while Claude Code
//! sees nothing: exit 0, empty stdout and stderr.

#[path = "support/user_manager.rs"]
mod user_manager;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;
use user_manager::UserManager;

fn hook(runtime: &std::path::Path, stdin: &[u8]) {
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
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
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
    hook(&runtime, b"{\"session_id\": ");
    um.wait_for_journal(
        &["SYSLOG_IDENTIFIER=claude-hook"],
        "invalid hook payload",
        Duration::from_secs(10),
    );
    hook(
        &runtime,
        br#"{"session_id": "journal-sess-1", "cwd": "/tmp", "hook_event_name": "PostToolUse", "tool_name": "Read"}"#,
    );
    um.wait_for_journal(
        &[
            "SYSLOG_IDENTIFIER=claude-hook",
            "SESSION_ID=journal-sess-1",
            "HOOK_EVENT=PostToolUse",
        ],
        "claude-memd: cannot connect",
        Duration::from_secs(10),
    );
}
