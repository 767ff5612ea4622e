//! The real Claude Code CLI runs against the mock Messages API: a text turn, and a turn in
//! which the model asks for a real `Read` of a file. Proves the test client works before any
//! daemon is involved.

#[path = "support/mock_anthropic.rs"]
mod mock_anthropic;
#[path = "support/repo.rs"]
mod repo;

use mock_anthropic::{has_tool_result, MockApi, Reply};
use serde_json::json;

#[test]
fn claude_code_runs_a_tool_against_the_mock() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let work = dir.path().join("work");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("notes.txt"), "the secret word is marmalade\n").unwrap();
    let target = work.join("notes.txt").display().to_string();
    let api = MockApi::start(move |req| {
        if has_tool_result(req) {
            Reply::Text("done reading".into())
        } else {
            Reply::Tool {
                name: "Read".into(),
                input: json!({"file_path": target}),
            }
        }
    });
    let out = mock_anthropic::claude_command(&api, &home)
        .current_dir(&work)
        .args([
            "-p",
            "read notes.txt",
            "--output-format",
            "json",
            "--allowedTools",
            "Read",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "claude failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: serde_json::Value = serde_json::from_str(stdout.trim()).expect("JSON result");
    assert_eq!(result["result"], "done reading");
    // The file's content reached the model through the real Read tool.
    assert!(
        !api.requests_containing("marmalade").is_empty(),
        "tool result not sent to the API"
    );
}
