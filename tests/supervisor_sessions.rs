//! Session options, live changes, prewarm and fork with the REAL Claude Code
//! (tests/claude-code) against the mock Messages API.

#[path = "support/mock_anthropic.rs"]
mod mock_anthropic;
#[path = "support/repo.rs"]
mod repo;
#[path = "supervisor_support/mod.rs"]
mod support;

use mock_anthropic::{newest_prompt, MockApi, Reply};
use serde_json::{json, Value};
use std::ffi::OsString;
use support::Supervisor;

fn mock() -> MockApi {
    MockApi::start(|req| Reply::Text(format!("answer: {}", newest_prompt(req))))
}

fn start(api: &MockApi) -> Supervisor {
    let bin = mock_anthropic::claude_bin();
    let env: Vec<(&str, OsString)> = vec![
        ("ANTHROPIC_BASE_URL", api.base_url().into()),
        ("ANTHROPIC_API_KEY", "sk-ant-mock-key".into()),
        ("DISABLE_TELEMETRY", "1".into()),
        ("DISABLE_AUTOUPDATER", "1".into()),
        ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".into()),
    ];
    Supervisor::start(&format!("claude_bin = \"{}\"\n", bin.display()), &env, &[])
}

fn ask(s: &Supervisor, key: &str, extra: Value) -> (u16, Value) {
    let mut b = json!({"cwd": s.work.display().to_string()});
    for (k, v) in extra.as_object().unwrap() {
        b[k] = v.clone();
    }
    s.ask(key, b)
}

fn count(s: &Supervisor, key: &str, kind: &str) -> usize {
    s.events(key).iter().filter(|k| *k == kind).count()
}

#[test]
fn model_and_permission_mode_change_live_and_keep_the_history() {
    let api = mock();
    let s = start(&api);
    let (st, r) = ask(
        &s,
        "m",
        json!({"prompt": "first turn", "model": "model-one"}),
    );
    assert_eq!(st, 200, "{r}\n{}", s.log());
    let one = api.requests_containing("first turn");
    assert_eq!(one.last().unwrap()["model"], "model-one");

    let (st, r) = ask(
        &s,
        "m",
        json!({"prompt": "second turn", "model": "model-two", "permission_mode": "acceptEdits"}),
    );
    assert_eq!(st, 200, "{r}\n{}", s.log());
    assert_eq!(r["cold"], false, "no restart: {r}");
    let two = api.requests_containing("second turn");
    let last = two.last().unwrap();
    assert_eq!(last["model"], "model-two");
    assert!(
        last.to_string().contains("answer: first turn"),
        "the earlier turns are still in the history"
    );
    assert_eq!(count(&s, "m", "spawned"), 1, "{:?}", s.events("m"));
    let info = s.session("m");
    assert_eq!(info["model"], "model-two");
    assert_eq!(info["permission_mode"], "acceptEdits");

    // Other options restart the process with --resume: the history stays too.
    let (st, r) = ask(
        &s,
        "m",
        json!({"prompt": "third turn", "append_system_prompt": "Answer in French."}),
    );
    assert_eq!(st, 200, "{r}\n{}", s.log());
    let three = api.requests_containing("third turn");
    // (Claude Code keeps a resumed conversation's recorded system prompt, so the new
    // text shows in new sessions only: see options_are_checked_field_by_field.)
    let last = three.last().unwrap().to_string();
    assert!(last.contains("answer: second turn"));
    assert_eq!(count(&s, "m", "spawned"), 2);
}

#[test]
fn options_are_checked_field_by_field() {
    let api = mock();
    let s = start(&api);
    for (body, field) in [
        (json!({"max_turns": 0}), "max_turns"),
        (json!({"max_budget_usd": -1.0}), "max_budget_usd"),
        (json!({"permission_mode": "yolo"}), "permission_mode"),
        (json!({"mcp_config": {"servers": {}}}), "mcp_config"),
        (json!({"mcp_config": "relative.json"}), "mcp_config"),
        (json!({"add_dirs": ["/no/such/dir"]}), "add_dirs"),
        (json!({"env": ["NOT-A-NAME"]}), "env"),
        (json!({"fallback_model": "a b"}), "fallback_model"),
        (json!({"system_prompt": "a\u{0}b"}), "system_prompt"),
        (json!({"disallowed_tools": ["a,b"]}), "disallowed_tools"),
    ] {
        let (st, e) = s.put("/v1/sessions/v", &body);
        assert_eq!(st, 400, "{body}: {e}");
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .contains(&format!("`{field}`")),
            "{body}: {e}"
        );
    }
    let (st, e) = s.put("/v1/sessions/v", &json!({"max_turn": 3}));
    assert_eq!(st, 400, "{e}");
    assert!(e["message"].as_str().unwrap().contains("max_turn"), "{e}");
    assert_eq!(s.get("/v1/sessions/v").0, 404, "nothing was created");

    let mcp = s.work.join("mcp.json");
    std::fs::write(&mcp, r#"{"mcpServers": {}}"#).unwrap();
    let (st, info) = s.put(
        "/v1/sessions/v",
        &json!({"cwd": s.work.display().to_string(), "max_turns": 4, "max_budget_usd": 2.5,
                "mcp_config": mcp.display().to_string(), "system_prompt": "You are terse.",
                "disallowed_tools": ["WebFetch"], "add_dirs": ["/tmp"], "env": ["LANG"],
                "fallback_model": "backup-model"}),
    );
    assert_eq!(st, 200, "{info}");
    let o = &info["options"];
    assert_eq!(
        (o["max_turns"].as_u64(), o["max_budget_usd"].as_f64()),
        (Some(4), Some(2.5))
    );
    let (st, r) = s.ask("v", json!({"prompt": "with options"}));
    assert_eq!(st, 200, "{r}\n{}", s.log());
    let seen = api.requests_containing("with options");
    let req = seen.last().unwrap();
    assert!(
        req["system"].to_string().contains("You are terse."),
        "{}",
        req["system"]
    );
    let tools = req["tools"].to_string();
    assert!(!tools.contains("\"WebFetch\""), "disallowed tool offered");
}

#[test]
fn prewarm_spawns_before_the_first_ask() {
    let api = mock();
    let s = start(&api);
    let (st, info) = s.put(
        "/v1/sessions/w",
        &json!({"cwd": s.work.display().to_string()}),
    );
    assert_eq!(st, 200, "{info}");
    let (st, info) = s.post("/v1/sessions/w/start", &json!({}));
    assert_eq!(st, 200, "{info}\n{}", s.log());
    assert_eq!(info["state"], "ready", "{info}");
    let pid = info["pid"].as_u64().unwrap();
    let (st, r) = s.ask("w", json!({"prompt": "after prewarm"}));
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["cold"], false, "{r}");
    assert_eq!(
        count(&s, "w", "spawned"),
        1,
        "the first ask spawned nothing"
    );
    assert_eq!(s.session("w")["pid"].as_u64(), Some(pid));
    // Again: nothing new.
    assert_eq!(s.post("/v1/sessions/w/start", &json!({})).0, 200);
    assert_eq!(count(&s, "w", "spawned"), 1);
    assert_eq!(s.post("/v1/sessions/bad%20key/start", &json!({})).0, 400);
}

#[test]
fn a_fork_continues_a_copy_and_both_histories_stay_apart() {
    let api = mock();
    let s = start(&api);
    assert_eq!(ask(&s, "a", json!({"prompt": "shared beginning"})).0, 200);
    let (st, b) = s.post("/v1/sessions/a/fork", &json!({"new_key": "b"}));
    assert_eq!(st, 200, "{b}");
    let a_id = s.session("a")["session_id"].as_str().unwrap().to_string();
    assert_ne!(b["session_id"], a_id);
    assert_eq!(
        s.post("/v1/sessions/a/fork", &json!({"new_key": "b"})).0,
        409
    );
    assert_eq!(
        s.post("/v1/sessions/zz/fork", &json!({"new_key": "y"})).0,
        404
    );

    let (st, r) = s.ask("b", json!({"prompt": "only in b"}));
    assert_eq!(st, 200, "{r}\n{}", s.log());
    assert_eq!(r["session_id"], b["session_id"]);
    let seen = api.requests_containing("only in b");
    assert!(seen
        .last()
        .unwrap()
        .to_string()
        .contains("answer: shared beginning"));

    let (st, r) = s.ask("a", json!({"prompt": "only in a"}));
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["session_id"], a_id, "the original is untouched");
    let seen = api.requests_containing("only in a");
    let last = seen.last().unwrap().to_string();
    assert!(last.contains("answer: shared beginning"));
    assert!(!last.contains("only in b"), "a does not see b's turns");

    // b goes on with its own transcript once it ran (a restart resumes b, not a again).
    let (st, r) = s.ask("b", json!({"prompt": "b again"}));
    assert_eq!(st, 200, "{r}");
    let last = api
        .requests_containing("b again")
        .last()
        .unwrap()
        .to_string();
    assert!(last.contains("only in b") && !last.contains("only in a"));
}

#[test]
fn images_in_a_prompt_reach_the_model() {
    let api = mock();
    let s = start(&api);
    // A 1x1 PNG.
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
    let image = json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}});
    let (st, r) = ask(
        &s,
        "img",
        json!({"prompt": "what is in the picture", "content": [image]}),
    );
    assert_eq!(st, 200, "{r}\n{}", s.log());
    // The user message with the prompt's text also holds the image.
    let with_image = api.requests().iter().any(|req| {
        req["messages"].as_array().unwrap().iter().any(|m| {
            let blocks = m["content"].as_array().cloned().unwrap_or_default();
            m["role"] == "user"
                && blocks.iter().any(|b| b["text"] == "what is in the picture")
                && blocks
                    .iter()
                    .any(|b| b["type"] == "image" && b["source"]["data"] == png)
        })
    });
    assert!(
        with_image,
        "{:?}",
        api.requests_containing("what is in the picture")
    );
    let bad = json!({"type": "image", "source": {"type": "base64", "media_type": "image/bmp", "data": png}});
    let (st, e) = ask(
        &s,
        "img",
        json!({"content": [{"type": "text", "text": "x"}, bad]}),
    );
    assert_eq!(st, 400, "{e}");
    assert!(e["message"].as_str().unwrap().contains("content[1]"), "{e}");
}
