//! The real Claude Code with claude-hook in its settings, run against the mock API and a
//! claude-memd: shared by the memory tests that drive whole sessions.
#![allow(dead_code)] // each test file uses what it needs

use crate::memd::{hook_bin, Memd};
use crate::mock_anthropic::{claude_command, MockApi};
use serde_json::{json, Value};
use std::path::Path;

/// How many tool results a Messages request carries (how far its conversation got).
pub fn tool_results(req: &Value) -> usize {
    req["messages"]
        .as_array()
        .map(|msgs| {
            msgs.iter()
                .filter_map(|m| m["content"].as_array())
                .flatten()
                .filter(|b| b["type"] == "tool_result")
                .count()
        })
        .unwrap_or(0)
}

/// `HOME/.claude/settings.json` registering claude-hook for every event the memory uses.
pub fn hook_settings(home: &Path) {
    let hook = json!([{"matcher": "*", "hooks": [{"type": "command", "command": hook_bin(), "timeout": 10}]}]);
    let s = json!({"hooks": {
        "SessionStart": hook, "UserPromptSubmit": hook, "PostToolUse": hook,
        "Stop": hook, "SessionEnd": hook,
    }});
    std::fs::create_dir_all(home.join(".claude")).unwrap();
    std::fs::write(home.join(".claude/settings.json"), s.to_string()).unwrap();
}

/// One `claude -p PROMPT` in `repo` with `m`'s environment (Read and Edit allowed); it must
/// succeed.
pub fn run_claude(api: &MockApi, home: &Path, repo: &Path, m: &Memd, prompt: &str) {
    let mut cmd = claude_command(api, home);
    for (k, v) in m.env() {
        cmd.env(k, v);
    }
    let out = cmd
        .current_dir(repo)
        .args([
            "-p",
            prompt,
            "--output-format",
            "json",
            "--allowedTools",
            "Read,Edit",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "claude failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
