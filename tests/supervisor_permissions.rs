//! Permission prompts of the REAL Claude Code (tests/claude-code), run by claude-supervisord
//! against the mock Messages API: the mock asks for `Bash` `touch <file>` in a session
//! without bypass; the prompt is stored, announced on SSE and answered through the API,
//! decided by a session rule, or denied when nobody answers.

#[path = "support/mock_anthropic.rs"]
mod mock_anthropic;
#[path = "support/repo.rs"]
mod repo;
#[path = "supervisor_support/mod.rs"]
mod support;

use mock_anthropic::{has_tool_result, newest_prompt, MockApi, Reply};
use serde_json::{json, Value};
use std::ffi::OsString;
use std::time::Duration;
use support::Supervisor;

/// `TOUCH <path>` → a Bash call `touch <path>`; once its result is in, text that quotes it.
fn mock() -> MockApi {
    MockApi::start(|req| {
        if has_tool_result(req) {
            let last = req["messages"].as_array().unwrap().last().unwrap();
            let result = last["content"]
                .as_array()
                .unwrap()
                .iter()
                .find(|b| b["type"] == "tool_result")
                .map(|b| b["content"].to_string())
                .unwrap_or_default();
            return Reply::Text(format!("tool said: {result}"));
        }
        let prompt = newest_prompt(req);
        match prompt.strip_prefix("TOUCH ") {
            Some(path) => Reply::Tool {
                name: "Bash".into(),
                input: json!({"command": format!("touch {}", path.trim()), "description": "make the file"}),
            },
            None => Reply::Text(format!("answer: {prompt}")),
        }
    })
}

fn start(api: &MockApi, config: &str) -> Supervisor {
    let bin = mock_anthropic::claude_bin();
    let env: Vec<(&str, OsString)> = vec![
        ("ANTHROPIC_BASE_URL", api.base_url().into()),
        ("ANTHROPIC_API_KEY", "sk-ant-mock-key".into()),
        ("DISABLE_TELEMETRY", "1".into()),
        ("DISABLE_AUTOUPDATER", "1".into()),
        ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".into()),
    ];
    Supervisor::start(
        &format!("claude_bin = \"{}\"\n{config}", bin.display()),
        &env,
        &[],
    )
}

fn body(s: &Supervisor, prompt: &str) -> Value {
    json!({"prompt": prompt, "cwd": s.work.display().to_string()})
}

/// Wait for the session's one pending prompt.
fn pending(s: &Supervisor, key: &str) -> Value {
    let mut found = Value::Null;
    s.wait_for("a pending permission", Duration::from_secs(60), |s| {
        let (st, v) = s.get(&format!("/v1/sessions/{key}/permissions"));
        assert_eq!(st, 200, "{v}");
        match v["permissions"].as_array().and_then(|a| a.first()) {
            Some(p) => {
                found = p.clone();
                true
            }
            None => false,
        }
    });
    found
}

fn history(s: &Supervisor, key: &str) -> Vec<Value> {
    let (st, v) = s.get(&format!("/v1/sessions/{key}/permissions?all=true"));
    assert_eq!(st, 200, "{v}");
    v["permissions"].as_array().unwrap().clone()
}

#[test]
fn a_prompt_is_announced_answered_with_allow_and_the_tool_runs() {
    let api = mock();
    let s = start(&api, "");
    let file = s.work.join("allowed");
    std::thread::scope(|sc| {
        let turn = sc.spawn(|| s.ask_sse("p", body(&s, &format!("TOUCH {}", file.display()))));
        let p = pending(&s, "p");
        assert_eq!(p["tool_name"], "Bash", "{p}");
        assert_eq!(p["input"]["command"], format!("touch {}", file.display()));
        assert_eq!(p["state"], "pending");
        assert!(p["suggestions"].is_array(), "{p}");
        assert!(p["tool_use_id"].as_str().is_some(), "{p}");
        assert!(!file.exists(), "nothing ran before the answer");
        let id = p["id"].as_str().unwrap();

        // Also on /v1/events (the status ring is its backlog).
        let (_, status) = s.get("/v1/status");
        let ev = status["recent_events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "permission_requested")
            .cloned()
            .unwrap_or_else(|| panic!("{status}"));
        assert_eq!(ev["permission"]["id"], id);
        assert_eq!(ev["key"], "p");

        let (st, d) = s.post(
            &format!("/v1/sessions/p/permissions/{id}"),
            &json!({"behavior": "allow", "by": "tester"}),
        );
        assert_eq!(st, 200, "{d}");
        assert_eq!(
            (d["state"].as_str(), d["decided_by"].as_str()),
            (Some("allowed"), Some("api:tester"))
        );

        let (st, events) = turn.join().unwrap();
        assert_eq!(st, 200);
        let perm = events
            .iter()
            .find(|e| e.event == "permission")
            .unwrap_or_else(|| panic!("no permission event: {events:?}"));
        assert_eq!(serde_json::from_str::<Value>(&perm.data).unwrap()["id"], id);
        let last = events.last().unwrap();
        assert_eq!(last.event, "result", "{events:?}");
        let r: Value = serde_json::from_str(&last.data).unwrap();
        assert_eq!(r["is_error"], false, "{r}");
        assert!(file.exists(), "the tool ran after the allow");

        // Answered once: a second answer is a conflict, an unknown id is not found.
        let (st, e) = s.post(
            &format!("/v1/sessions/p/permissions/{id}"),
            &json!({"behavior": "deny"}),
        );
        assert_eq!(st, 409, "{e}");
        let (st, _) = s.post(
            "/v1/sessions/p/permissions/01NOSUCHID",
            &json!({"behavior": "deny"}),
        );
        assert_eq!(st, 404);
        let (st, e) = s.post(
            &format!("/v1/sessions/p/permissions/{id}"),
            &json!({"behavior": "maybe"}),
        );
        assert_eq!(st, 400, "{e}");
    });
    let h = history(&s, "p");
    assert_eq!(h.len(), 1);
    assert!(h[0]["decided_at"].as_str().is_some());
}

#[test]
fn a_denial_s_message_reaches_the_model() {
    let api = mock();
    let s = start(&api, "");
    let file = s.work.join("denied");
    std::thread::scope(|sc| {
        let turn = sc.spawn(|| s.ask("d", body(&s, &format!("TOUCH {}", file.display()))));
        let p = pending(&s, "d");
        let id = p["id"].as_str().unwrap();
        let (st, d) = s.post(
            &format!("/v1/sessions/d/permissions/{id}"),
            &json!({"behavior": "deny", "message": "not on a Friday"}),
        );
        assert_eq!(st, 200, "{d}");
        let (st, r) = turn.join().unwrap();
        assert_eq!(st, 200, "{r}\n{}", s.log());
        assert!(
            r["result"].as_str().unwrap().contains("not on a Friday"),
            "{r}"
        );
    });
    assert!(!file.exists());
    let seen = api.requests_containing("not on a Friday");
    assert!(
        seen.iter().any(has_tool_result),
        "the next request's tool_result carries the message"
    );
    let h = history(&s, "d");
    assert_eq!(
        (h[0]["state"].as_str(), h[0]["decided_by"].as_str()),
        (Some("denied"), Some("api"))
    );
    assert_eq!(h[0]["message"], "not on a Friday");
}

#[test]
fn a_session_rule_allows_without_asking_and_remember_adds_one() {
    let api = mock();
    let s = start(&api, "");
    let (st, info) = s.put(
        "/v1/sessions/r",
        &json!({"cwd": s.work.display().to_string(), "permission_rules": {"allow": ["Bash(touch:*)"]}}),
    );
    assert_eq!(st, 200, "{info}");
    assert_eq!(
        info["options"]["permission_rules"]["allow"][0],
        "Bash(touch:*)"
    );
    let file = s.work.join("by-rule");
    let (st, r) = s.ask("r", body(&s, &format!("TOUCH {}", file.display())));
    assert_eq!(st, 200, "{r}\n{}", s.log());
    assert_eq!(r["is_error"], false, "{r}");
    assert!(file.exists());
    let h = history(&s, "r");
    assert_eq!(h.len(), 1, "{h:?}");
    assert_eq!(h[0]["decided_by"], "rule:allow Bash(touch:*)");

    // A bad rule is refused with the field named, and nothing changes.
    let (st, e) = s.put(
        "/v1/sessions/r",
        &json!({"permission_rules": {"deny": ["Bash("]}}),
    );
    assert_eq!(st, 400, "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("permission_rules.deny"),
        "{e}"
    );
    assert_eq!(
        s.session("r")["options"]["permission_rules"]["deny"],
        json!([])
    );

    // remember: the first answer is the last one asked for that command.
    let again = s.work.join("remembered");
    std::thread::scope(|sc| {
        let turn = sc.spawn(|| s.ask("m", body(&s, &format!("TOUCH {}", again.display()))));
        let id = pending(&s, "m")["id"].as_str().unwrap().to_string();
        let (st, d) = s.post(
            &format!("/v1/sessions/m/permissions/{id}"),
            &json!({"behavior": "allow", "remember": true}),
        );
        assert_eq!(st, 200, "{d}");
        assert_eq!(turn.join().unwrap().0, 200);
    });
    let rules = s.session("m")["options"]["permission_rules"]["allow"].clone();
    assert_eq!(rules.as_array().map(Vec::len), Some(1), "{rules}");
    std::fs::remove_file(&again).unwrap();
    let (st, r) = s.ask("m", body(&s, &format!("TOUCH {}", again.display())));
    assert_eq!((st, &r["is_error"]), (200, &json!(false)), "{r}");
    assert!(again.exists(), "allowed by the remembered rule");
    assert_eq!(history(&s, "m").len(), 2);
    assert!(history(&s, "m")[1]["decided_by"]
        .as_str()
        .unwrap()
        .starts_with("rule:allow"));
}

#[test]
fn an_unanswered_prompt_is_denied_after_the_timeout() {
    let api = mock();
    let s = start(&api, "permission_timeout_secs = 2\n");
    let file = s.work.join("never");
    let (st, r) = s.ask("t", body(&s, &format!("TOUCH {}", file.display())));
    assert_eq!(st, 200, "{r}\n{}", s.log());
    assert!(
        r["result"]
            .as_str()
            .unwrap()
            .contains("nobody answered within 2 s"),
        "{r}"
    );
    assert!(!file.exists());
    let h = history(&s, "t");
    assert_eq!(
        (h[0]["state"].as_str(), h[0]["decided_by"].as_str()),
        (Some("denied"), Some("timeout"))
    );
}

#[test]
fn claudectl_asks_inline_on_a_terminal_and_lists_the_decisions() {
    let api = mock();
    let s = start(&api, "");
    let file = s.work.join("from-terminal");
    let runtime = s.dir.path().join("run");
    // `script` gives claudectl a terminal; the answer typed ahead waits in its line buffer.
    let cmd = format!(
        "{} sup ask tty 'TOUCH {}' --cwd {}",
        env!("CARGO_BIN_EXE_claudectl"),
        file.display(),
        s.work.display()
    );
    let mut child = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("CLAUDE_DAEMONS_RUNTIME_DIR", &runtime)
        .env("NO_COLOR", "1")
        .env("USER", "tester")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("script(1) from util-linux runs claudectl under a terminal");
    let mut stdin = child.stdin.take().unwrap();
    pending(&s, "tty");
    use std::io::Write;
    stdin.write_all(b"always\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", s.log());
    assert!(
        text.contains(&format!(
            "Allow Bash: touch {}? [y/N/always]",
            file.display()
        )),
        "{text}"
    );
    assert!(file.exists(), "allowed at the terminal");
    let rules = &s.session("tty")["options"]["permission_rules"]["allow"];
    assert_eq!(
        rules.as_array().map(Vec::len),
        Some(1),
        "always remembers: {rules}"
    );

    let ctl = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_claudectl"))
            .args(args)
            .env("CLAUDE_DAEMONS_RUNTIME_DIR", &runtime)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let listed = ctl(&["sup", "permissions", "tty"]);
    assert!(
        listed.contains("allowed") && listed.contains("api:tester (claudectl)"),
        "{listed}"
    );
    let listed: Value =
        serde_json::from_str(&ctl(&["sup", "permissions", "tty", "--json"])).unwrap();
    assert_eq!(listed["permissions"][0]["state"], "allowed");

    // claudectl sup answer, from another terminal while a turn waits.
    let other = s.work.join("answered");
    std::thread::scope(|sc| {
        let turn = sc.spawn(|| s.ask("tty2", body(&s, &format!("TOUCH {}", other.display()))));
        let id = pending(&s, "tty2")["id"].as_str().unwrap().to_string();
        let said = ctl(&[
            "sup",
            "answer",
            "tty2",
            &id,
            "deny",
            "--message",
            "use the other file",
        ]);
        assert!(said.contains("denied"), "{said}");
        let (_, r) = turn.join().unwrap();
        assert!(
            r["result"].as_str().unwrap().contains("use the other file"),
            "{r}"
        );
    });
    assert!(!other.exists());
}
