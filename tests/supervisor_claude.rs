//! claude-supervisord driving the REAL Claude Code CLI (tests/claude-code) against the mock
//! Messages API: answers with cost and session id, conversations that continue, resume after
//! a supervisor restart, kill -9 mid-turn, SSE, interrupt.

#[path = "supervisor_support/kill_mid_turn.rs"]
mod kill_mid_turn;
#[path = "support/mock_anthropic.rs"]
mod mock_anthropic;
#[path = "support/repo.rs"]
mod repo;
#[path = "supervisor_support/mod.rs"]
mod support;

use mock_anthropic::MockApi;
use serde_json::{json, Value};
use std::ffi::OsString;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use support::Supervisor;

fn mock() -> MockApi {
    mock_with_release().0
}

use mock_anthropic::echo_with_release as mock_with_release;

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

fn ask(s: &Supervisor, key: &str, prompt: &str) -> (u16, Value) {
    s.ask(
        key,
        json!({"prompt": prompt, "cwd": s.work.display().to_string(), "allowed_tools": ["Read"]}),
    )
}

#[test]
fn conversations_continue_and_resume_after_a_restart() {
    let api = mock();
    let mut s = start(&api, "");
    let (st, r) = ask(&s, "agent::chat", "first question");
    assert_eq!(st, 200, "{r}\n{}", s.log());
    assert_eq!(r["result"], "answer: first question");
    assert_eq!(r["is_error"], false);
    assert_eq!(r["cold"], true);
    assert!(r["total_cost_usd"].as_f64().unwrap() > 0.0, "{r}");
    assert!(r["usage"]["input_tokens"].as_u64().is_some(), "{r}");
    let id = r["session_id"].as_str().unwrap().to_string();
    assert_eq!(s.session("agent::chat")["session_id"], id);

    let (st, r) = ask(&s, "agent::chat", "second question");
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["result"], "answer: second question");
    assert_eq!(r["cold"], false, "warm child reused");
    assert_eq!(r["session_id"], id);
    let seen = api.requests_containing("second question");
    assert!(
        seen.iter()
            .any(|q| q.to_string().contains("first question")),
        "the model saw the earlier turn"
    );

    // A new supervisor process: the mapping survives and the child resumes the transcript.
    assert_eq!(s.restart(), 0);
    let (st, r) = ask(&s, "agent::chat", "third question");
    assert_eq!(st, 200, "{r}\n{}", s.log());
    assert_eq!(r["session_id"], id);
    assert_eq!(r["cold"], true);
    let seen = api.requests_containing("third question");
    assert!(
        seen.iter().any(|q| q.to_string().contains("first question")
            && q.to_string().contains("answer: second question")),
        "resumed with history"
    );
    let (_, status) = s.get("/v1/status");
    let spawned: Vec<&Value> = status["recent_events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "spawned")
        .collect();
    assert_eq!(spawned.len(), 1);
    assert_eq!(spawned[0]["detail"], format!("--resume {id}"));
    s.wait_for("3 turns recorded", Duration::from_secs(20), |s| {
        s.session("agent::chat")["turns"] == 3
    });
    let info = s.session("agent::chat");
    assert!(info["total_cost_usd"].as_f64().unwrap() > 0.0);
}

#[test]
fn kill_9_mid_turn_fails_the_turn_and_the_next_ask_works() {
    let (api, release) = mock_with_release();
    let s = start(&api, "");
    // The mock answers after a minute: a turn that ends within 20 s was ended by the kill.
    kill_mid_turn::kill_9_mid_turn_then_ask(&s, &api, &release, ask, "SLOW60000 please");
    let events = s.events("k");
    for k in ["exited", "restart_scheduled", "spawned", "ready"] {
        assert!(events.contains(&k.to_string()), "{k}: {events:?}");
    }
}

#[test]
fn sse_streams_partial_events_and_interrupt_stops_a_long_turn() {
    let (api, release) = mock_with_release();
    let s = start(&api, "");
    assert_eq!(ask(&s, "s", "warm up").0, 200);
    let (st, events) = s.ask_sse("s", json!({"prompt": "SLOW1000 stream this"}));
    assert_eq!(st, 200);
    let last = events.last().unwrap();
    assert_eq!(last.event, "result", "{events:?}");
    let r: Value = serde_json::from_str(&last.data).unwrap();
    assert_eq!(r["result"], "answer: SLOW1000 stream this");
    let kinds: Vec<String> = events
        .iter()
        .filter(|e| e.event == "message")
        .map(|e| {
            serde_json::from_str::<Value>(&e.data).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for k in ["system", "stream_event", "assistant", "result"] {
        assert!(kinds.contains(&k.to_string()), "{k} in {kinds:?}");
    }
    assert!(
        last.at.duration_since(events[0].at) >= Duration::from_millis(700),
        "the first event came before the model answered"
    );

    std::thread::scope(|sc| {
        // The mock answers after a minute: a turn that ends within 20 s was interrupted.
        let turn = sc.spawn(|| ask(&s, "s", "SLOW60000 long one"));
        s.wait_for(
            "the request to reach the mock",
            Duration::from_secs(20),
            |_| !api.requests_containing("SLOW60000").is_empty(),
        );
        let t = Instant::now();
        let (st, r) = s.post("/v1/sessions/s/interrupt", &json!({}));
        assert_eq!((st, &r["interrupted"]), (200, &json!(true)), "{r}");
        let (st, r) = turn.join().unwrap();
        assert_eq!(st, 200, "{r}");
        assert_eq!(r["is_error"], true, "{r}");
        assert_eq!(r["subtype"], "error_during_execution");
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "stopped before the mock answered"
        );
    });
    release.store(true, Ordering::SeqCst);
    let (st, r) = ask(&s, "s", "after the interrupt");
    assert_eq!(
        (st, r["result"].as_str()),
        (200, Some("answer: after the interrupt")),
        "{r}"
    );
}
