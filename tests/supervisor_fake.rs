//! claude-supervisord's turns against a fake child (examples/fake_claude.rs) that
//! misbehaves on request: queueing and 429, garbage output, no handshake, instant exits
//! (breaker), deaths mid-turn, timeouts, interrupt, SSE, bad requests.

#[path = "supervisor_support/fake.rs"]
mod fake;
#[path = "supervisor_support/mod.rs"]
mod support;

use fake::{ask, start};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::{alive, Supervisor};

#[test]
fn turns_queue_per_session_and_overflow_is_429() {
    let s = start("queue_limit = 1\n", "normal");
    let (st, r) = ask(&s, "q", "hello");
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["result"], "echo: hello");
    assert_eq!(r["cold"], true);
    assert_eq!(r["session_id"].as_str().unwrap().len(), 36);
    let (st, r) = ask(&s, "q", "again");
    assert_eq!((st, &r["cold"]), (200, &json!(false)), "warm: {r}");

    // One in flight + one queued fill the session; the third is refused at once. Each step
    // waits for the state it needs (not a clock), and the first turn lasts 10 s: far longer
    // than the steps take under any load, and what "at once" is measured against.
    std::thread::scope(|sc| {
        let first = sc.spawn(|| ask(&s, "q", "sleep:10000"));
        s.wait_for("the first turn in flight", Duration::from_secs(20), |s| {
            s.session("q")["state"] == "busy"
        });
        let second = sc.spawn(|| ask(&s, "q", "second"));
        s.wait_for("the second turn queued", Duration::from_secs(20), |s| {
            s.session("q")["queued"] == 1
        });
        let t = Instant::now();
        let (st, r) = ask(&s, "q", "third");
        assert_eq!(st, 429, "{r}");
        assert_eq!(r["error"], "queue_full");
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "refused at once, not after the first turn"
        );
        assert_eq!(s.session("q")["queued"], 1);
        let (a, b) = (first.join().unwrap(), second.join().unwrap());
        assert_eq!(a.1["result"], "echo: sleep:10000");
        // FIFO: the second waited for the first.
        assert_eq!(b.1["result"], "echo: second");
        assert!(b.1["elapsed_ms"].as_u64().unwrap() >= 600, "{}", b.1);
    });
    // Bookkeeping is written just after the caller has its result.
    s.wait_for("4 turns recorded", Duration::from_secs(20), |s| {
        s.session("q")["turns"] == 4
    });
    let info = s.session("q");
    assert!(info["total_cost_usd"].as_f64().unwrap() > 0.0);
    assert_eq!(info["state"], "ready");
}

#[test]
fn garbage_output_is_skipped_and_the_turn_completes() {
    let s = start("", "normal");
    let (st, r) = ask(&s, "g", "garbage");
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["result"], "echo: garbage");
    let events = s.events("g");
    let bad = events.iter().filter(|e| *e == "bad_output").count();
    assert_eq!(bad, 3, "non-JSON, no type, over-long: {events:?}");
    let (st, r) = ask(&s, "g", "after");
    assert_eq!((st, r["result"].as_str()), (200, Some("echo: after")));
    // A result line that does not parse fails its turn instead of leaving it hanging.
    let t = Instant::now();
    let (st, r) = ask(&s, "g", "badresult");
    assert_eq!(
        (st, r["error"].as_str()),
        (502, Some("child_output")),
        "{r}"
    );
    assert!(t.elapsed() < Duration::from_secs(20), "failed, not hung");
    // So does a result line too long to keep.
    let t = Instant::now();
    let (st, r) = ask(&s, "g", "hugeresult");
    assert_eq!(
        (st, r["error"].as_str()),
        (502, Some("child_output")),
        "{r}"
    );
    assert!(r["message"].as_str().unwrap().contains("exceeds"), "{r}");
    assert!(t.elapsed() < Duration::from_secs(20), "failed, not hung");
    let (st, r) = ask(&s, "g", "fine");
    assert_eq!((st, r["result"].as_str()), (200, Some("echo: fine")));
    let (_, h) = s.get("/v1/health");
    assert_eq!(h["status"], "ok");
    assert_eq!(
        (h["children"].as_u64(), h["sessions"].as_u64()),
        (Some(1), Some(1)),
        "{h}"
    );
}

#[test]
fn a_missing_binary_fails_the_ask_with_the_reason() {
    let s = Supervisor::start("claude_bin = \"/nonexistent/claude\"\n", &[], &[]);
    let (st, r) = s.ask("m", json!({"prompt": "hi"}));
    assert_eq!(
        (st, r["error"].as_str()),
        (502, Some("spawn_failed")),
        "{r}"
    );
    assert!(
        r["message"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/claude"),
        "{r}"
    );
}

#[test]
fn a_child_that_never_answers_the_handshake_fails_the_turn() {
    let s = start("", "never-init");
    let t = Instant::now();
    let (st, r) = ask(&s, "n", "hello");
    assert_eq!(st, 502, "{r}");
    assert_eq!(r["error"], "spawn_failed");
    assert!(r["message"].as_str().unwrap().contains("handshake"), "{r}");
    // spawn_timeout_secs is 2: failed by that limit, not hung.
    assert!(t.elapsed() < Duration::from_secs(20));
    let events = s.events("n");
    assert!(events.starts_with(&["spawned".into()]), "{events:?}");
    assert!(events.contains(&"restart_scheduled".into()), "{events:?}");
}

#[test]
fn a_child_that_exits_at_once_trips_the_breaker_until_reset() {
    let s = start("crash_limit = 3\n", "exit-at-once");
    let (st, r) = ask(&s, "x", "hello");
    assert_eq!(st, 502, "{r}");
    assert_eq!(r["error"], "child_exited");
    assert!(
        r["message"].as_str().unwrap().contains("cannot start"),
        "stderr tail in the error: {r}"
    );
    // Restarts after 100 ms and 200 ms crash too: the third crash trips the breaker.
    s.wait_for("failed", Duration::from_secs(5), |s| {
        s.session("x")["state"] == "failed"
    });
    let info = s.session("x");
    assert!(
        info["failure"].as_str().unwrap().contains("cannot start"),
        "{info}"
    );
    let events = s.events("x");
    assert_eq!(
        events.iter().filter(|e| *e == "spawned").count(),
        3,
        "{events:?}"
    );
    assert_eq!(events.last().unwrap(), "failed", "{events:?}");
    let (st, r) = ask(&s, "x", "again");
    assert_eq!(
        (st, r["error"].as_str()),
        (503, Some("session_failed")),
        "{r}"
    );
    // No more restarts while failed.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(s.events("x").iter().filter(|e| *e == "spawned").count(), 3);
    // DELETE resets it: the next ask tries again.
    let (st, _) = s.delete("/v1/sessions/x");
    assert_eq!(st, 200);
    assert_eq!(s.session("x")["state"], "idle");
    let (st, r) = ask(&s, "x", "again");
    assert_eq!(
        (st, r["error"].as_str()),
        (502, Some("child_exited")),
        "{r}"
    );
}

#[test]
fn a_death_mid_turn_fails_the_turn_and_the_next_ask_works() {
    let s = start("", "normal");
    assert_eq!(ask(&s, "d", "hello").0, 200);
    let pid = s.session("d")["pid"].as_u64().unwrap() as u32;
    let (st, r) = ask(&s, "d", "die");
    assert_eq!(st, 502, "{r}");
    assert_eq!(r["error"], "child_exited");
    assert!(
        r["message"].as_str().unwrap().contains("exit code 3"),
        "{r}"
    );
    assert!(!alive(pid));
    let (st, r) = ask(&s, "d", "after");
    assert_eq!(
        (st, r["result"].as_str()),
        (200, Some("echo: after")),
        "{r}"
    );
    let events = s.events("d");
    for k in ["exited", "restart_scheduled"] {
        assert!(events.contains(&k.to_string()), "{events:?}");
    }
}

#[test]
fn turn_timeout_interrupts_and_the_session_goes_on() {
    let s = start("", "normal");
    let t = Instant::now();
    let (st, r) = s.ask(
        "t",
        json!({"prompt": "sleep:60000", "cwd": s.work.display().to_string(), "timeout_ms": 400}),
    );
    assert_eq!(st, 504, "{r}");
    assert_eq!(r["error"], "turn_timeout");
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "timed out, not answered after a minute"
    );
    // The interrupted turn's own result is discarded, not handed to the next turn.
    let (st, r) = ask(&s, "t", "next");
    assert_eq!((st, r["result"].as_str()), (200, Some("echo: next")), "{r}");
    assert!(s.events("t").contains(&"turn_timeout".into()));
}

#[test]
fn interrupt_ends_a_long_turn() {
    let s = start("", "normal");
    std::thread::scope(|sc| {
        let long = sc.spawn(|| ask(&s, "i", "sleep:20000"));
        s.wait_for("busy", Duration::from_secs(5), |s| {
            s.get("/v1/sessions/i").1["state"] == "busy"
        });
        let (st, r) = s.post("/v1/sessions/i/interrupt", &json!({}));
        assert_eq!((st, &r["interrupted"]), (200, &json!(true)), "{r}");
        let (st, r) = long.join().unwrap();
        assert_eq!(st, 200, "{r}");
        assert_eq!(r["is_error"], true);
        assert_eq!(r["subtype"], "error_during_execution");
    });
    let (_, r) = s.post("/v1/sessions/i/interrupt", &json!({}));
    assert_eq!(r["interrupted"], false, "nothing in flight");
}

#[test]
fn sse_streams_lines_then_the_result_and_survives_a_disconnect() {
    let s = start("", "normal");
    let (st, events) = s.ask_sse(
        "s",
        json!({"prompt": "sleep:700", "cwd": s.work.display().to_string()}),
    );
    assert_eq!(st, 200);
    let last = events.last().expect("events");
    assert_eq!(last.event, "result", "{events:?}");
    let result: Value = serde_json::from_str(&last.data).unwrap();
    assert_eq!(result["result"], "echo: sleep:700");
    let first = &events[0];
    assert_eq!(first.event, "message");
    let line: Value = serde_json::from_str(&first.data).unwrap();
    assert_eq!(line["type"], "system", "the child's own line: {line}");
    assert!(
        last.at.duration_since(first.at) >= Duration::from_millis(500),
        "the init line arrived while the turn was still running"
    );
    assert!(events.iter().any(|e| e.data.contains("stream_event")));

    // A client that goes away mid-turn does not stop the session or the turn.
    let (_, partial) = support::sse(
        &s.socket,
        "POST",
        "/v1/sessions/s/ask",
        Some(&json!({"prompt": "sleep:800"}).to_string()),
        Some(1),
    );
    assert_eq!(partial.len(), 1);
    s.wait_for(
        "the abandoned turn to finish",
        Duration::from_secs(5),
        |s| s.session("s")["turns"] == 2,
    );
    let (st, r) = ask(&s, "s", "still here");
    assert_eq!((st, r["result"].as_str()), (200, Some("echo: still here")));

    // A turn that fails after the stream started ends it with an error event.
    let (st, events) = s.ask_sse("s", json!({"prompt": "die"}));
    assert_eq!(st, 200);
    let last = events.last().unwrap();
    assert_eq!(last.event, "error", "{events:?}");
    let e: Value = serde_json::from_str(&last.data).unwrap();
    assert_eq!(e["error"], "child_exited", "{e}");
}

#[test]
fn bad_requests_are_refused_with_reasons() {
    let s = start("", "normal");
    let cases = [
        ("/v1/sessions/a%20b/ask", json!({"prompt": "x"}), 400),
        ("/v1/sessions/k/ask", json!({"prompt": ""}), 400),
        (
            "/v1/sessions/k/ask",
            json!({"prompt": "x", "cwd": "relative"}),
            400,
        ),
        (
            "/v1/sessions/k/ask",
            json!({"prompt": "x", "bogus": 1}),
            400,
        ),
        (
            "/v1/sessions/k/ask",
            json!({"prompt": "x", "timeout_ms": 0}),
            400,
        ),
        (
            "/v1/sessions/k/ask",
            json!({"prompt": "x", "permission_mode": "yolo"}),
            400,
        ),
        (
            "/v1/sessions/k/ask",
            json!({"prompt": "x", "model": "a b"}),
            400,
        ),
        (
            "/v1/sessions/k/ask",
            json!({"prompt": "x", "allowed_tools": ["Read,Bash"]}),
            400,
        ),
        (
            "/v1/sessions/k/ask",
            json!({"prompt": "x", "allowed_tools": [""]}),
            400,
        ),
    ];
    for (path, body, want) in cases {
        let (st, r) = s.post(path, &body);
        assert_eq!(st, want, "{path} {body}: {r}");
        assert!(r["message"].as_str().is_some_and(|m| !m.is_empty()), "{r}");
    }
    // An oversized body is refused from its length, before it is read.
    {
        use std::io::{Read, Write};
        let mut c = std::os::unix::net::UnixStream::connect(&s.socket).unwrap();
        let head = format!(
            "POST /v1/sessions/k/ask HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            3 << 20
        );
        c.write_all(head.as_bytes()).unwrap();
        let _ = c.write_all(&vec![b'x'; 3 << 20]);
        let mut out = String::new();
        let _ = c.read_to_string(&mut out);
        assert!(out.starts_with("HTTP/1.1 413"), "{out}");
        assert!(out.contains("too_large"), "{out}");
    }
    let long = json!({"prompt": "x".repeat((1 << 20) + 1)});
    let (st, r) = s.post("/v1/sessions/k/ask", &long);
    assert_eq!(st, 400, "{r}");
    assert_eq!(s.get("/v1/sessions/none").0, 404);
    assert_eq!(
        s.get("/v1/sessions").1["sessions"],
        json!([]),
        "nothing stored"
    );
    // A session is bound to its workspace.
    assert_eq!(ask(&s, "w", "hi").0, 200);
    let other = s.dir.path().display().to_string();
    let (st, r) = s.ask("w", json!({"prompt": "x", "cwd": other}));
    assert_eq!((st, r["error"].as_str()), (409, Some("conflict")), "{r}");
    let (st, r) = s.delete("/v1/sessions/w?forget=true");
    assert_eq!((st, &r["forgotten"]), (200, &json!(true)));
    assert_eq!(s.get("/v1/sessions/w").0, 404);
    let (_, status) = s.get("/v1/status");
    assert_eq!(status["state"], "serving");
    assert_eq!(status["daemon_id"].as_str().unwrap().len(), 36);
}
