//! The official `openai` Python client (pinned; installed by scripts/test into
//! /var/tmp/claude-daemons-py) against claude-supervisord's OpenAI-compatible API over its
//! loopback TCP listener, with the REAL Claude Code against the mock Messages API:
//! non-streamed and streamed completions, a session continued, a conflicting history, a
//! fresh session, errors parsed as APIError, a wrong token refused. See
//! tests/supervisor_openai.py. A missing client fails the test: it never skips.

#[path = "support/mock_anthropic.rs"]
mod mock_anthropic;
#[path = "support/repo.rs"]
mod repo;
#[path = "supervisor_support/mod.rs"]
mod support;

use mock_anthropic::{newest_prompt, MockApi, Reply};
use std::ffi::OsString;
use std::path::PathBuf;
use support::Supervisor;

/// The Python with the pinned `openai` package.
fn python() -> PathBuf {
    let p = std::env::var_os("CLAUDE_DAEMONS_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/var/tmp/claude-daemons-py/bin/python".into());
    let ok = std::process::Command::new(&p)
        .args(["-c", "import openai"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{} cannot import openai: run scripts/test --setup-only, which installs the pinned \
         OpenAI client (or set CLAUDE_DAEMONS_TEST_PYTHON)",
        p.display()
    );
    p
}

#[test]
fn the_official_openai_client_talks_to_sessions_over_tcp() {
    let python = python();
    let api = MockApi::start(|req| Reply::Text(format!("answer: {}", newest_prompt(req))));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env: Vec<(&str, OsString)> = vec![
        ("ANTHROPIC_BASE_URL", api.base_url().into()),
        ("ANTHROPIC_API_KEY", "sk-ant-mock-key".into()),
        ("DISABLE_TELEMETRY", "1".into()),
        ("DISABLE_AUTOUPDATER", "1".into()),
        ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".into()),
    ];
    let s = Supervisor::start(
        &format!(
            "claude_bin = \"{}\"\ntcp_port = {port}\n",
            mock_anthropic::claude_bin().display()
        ),
        &env,
        &[],
    );
    let token = std::fs::read_to_string(s.dir.path().join("state/api-token")).unwrap();
    let out = std::process::Command::new(python)
        .arg(repo::root().join("tests/supervisor_openai.py"))
        .env("BASE_URL", format!("http://127.0.0.1:{port}"))
        .env("TOKEN", token.trim())
        .current_dir(&s.work)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success() && stdout.contains("ok"),
        "stdout: {stdout}\nstderr: {stderr}\n{}",
        s.log()
    );
    // Three turns in "oa" before the fresh start, one after; the ephemeral session is gone.
    let oa = s.session("oa");
    assert_eq!(oa["turns"], 1, "{oa}");
    let (_, list) = s.get("/v1/sessions");
    let keys: Vec<&str> = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["key"].as_str().unwrap())
        .collect();
    s.wait_for(
        "the ephemeral session to be forgotten",
        std::time::Duration::from_secs(30),
        |s| {
            let (_, list) = s.get("/v1/sessions");
            list["sessions"].as_array().unwrap().len() == 1
        },
    );
    assert!(keys.contains(&"oa"), "{keys:?}");
    let png_seen = api.requests().iter().any(|req| {
        req["messages"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
            .any(|b| b["type"] == "image" && b["source"]["media_type"] == "image/png")
    });
    assert!(png_seen, "the image reached the model");
}
