//! claude-supervisord against a fake child (examples/fake_claude.rs) that misbehaves on
//! request: garbage output, no handshake, instant exits, deaths mid-turn, slow turns. Each
//! test runs its own supervisor with short timings.

#[path = "supervisor_support/mod.rs"]
mod support;

use serde_json::{json, Value};
use std::ffi::OsString;
use std::time::{Duration, Instant};
use support::{alive, fake_claude, Supervisor};

const FAST: &str =
    "restart_base_ms = 100\nrestart_max_ms = 400\nspawn_timeout_secs = 2\nstop_grace_ms = 500\n";

fn start(extra: &str, mode: &str) -> Supervisor {
    start_with(extra, mode, &[])
}

fn start_with(extra: &str, mode: &str, args: &[&str]) -> Supervisor {
    let config = format!(
        "claude_bin = \"{}\"\n{FAST}{extra}",
        fake_claude().display()
    );
    Supervisor::start(&config, &[("FAKE_CLAUDE_MODE", OsString::from(mode))], args)
}

fn ask(s: &Supervisor, key: &str, prompt: &str) -> (u16, Value) {
    s.ask(
        key,
        json!({"prompt": prompt, "cwd": s.work.display().to_string()}),
    )
}

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

    // One in flight + one queued fill the session; the third is refused at once.
    std::thread::scope(|sc| {
        let first = sc.spawn(|| ask(&s, "q", "sleep:1500"));
        std::thread::sleep(Duration::from_millis(300));
        let second = sc.spawn(|| ask(&s, "q", "second"));
        std::thread::sleep(Duration::from_millis(300));
        let t = Instant::now();
        let (st, r) = ask(&s, "q", "third");
        assert_eq!(st, 429, "{r}");
        assert_eq!(r["error"], "queue_full");
        assert!(t.elapsed() < Duration::from_millis(500));
        assert_eq!(s.session("q")["queued"], 1);
        let (a, b) = (first.join().unwrap(), second.join().unwrap());
        assert_eq!(a.1["result"], "echo: sleep:1500");
        // FIFO: the second waited for the first.
        assert_eq!(b.1["result"], "echo: second");
        assert!(b.1["elapsed_ms"].as_u64().unwrap() >= 600, "{}", b.1);
    });
    let info = s.session("q");
    assert_eq!(info["turns"], 4);
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
    assert!(t.elapsed() < Duration::from_secs(2));
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
fn a_child_deaf_to_eof_is_terminated_and_dies_with_a_killed_supervisor() {
    let mut s = start("", "ignore-eof");
    assert_eq!(ask(&s, "p", "hello").0, 200);
    let pid = s.session("p")["pid"].as_u64().unwrap() as u32;
    // Closing stdin is not enough: after the grace, SIGTERM.
    let t = Instant::now();
    assert_eq!(s.delete("/v1/sessions/p").1["stopped"], true);
    assert!(
        t.elapsed() >= Duration::from_millis(400),
        "waited the grace"
    );
    assert!(!alive(pid));
    let (_, st) = s.get("/v1/status");
    let last = st["recent_events"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["kind"], "stopped");
    assert!(
        last["detail"].as_str().unwrap().contains("signal 15"),
        "{last}"
    );

    // The supervisor killed outright: the parent-death signal ends the child.
    assert_eq!(ask(&s, "p", "again").0, 200);
    let pid = s.session("p")["pid"].as_u64().unwrap() as u32;
    unsafe { libc::kill(s.proc.id() as i32, libc::SIGKILL) };
    s.proc.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(pid) {
        assert!(
            Instant::now() < deadline,
            "child {pid} outlived its supervisor"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn shutdown_fails_a_turn_in_flight_cleanly() {
    let mut s = start("", "normal");
    let pid = std::thread::scope(|sc| {
        let turn = sc.spawn(|| ask(&s, "z", "sleep:20000"));
        s.wait_for("busy", Duration::from_secs(5), |s| {
            s.get("/v1/sessions/z").1["state"] == "busy"
        });
        let pid = s.session("z")["pid"].as_u64().unwrap() as u32;
        let t = Instant::now();
        unsafe { libc::kill(s.proc.id() as i32, libc::SIGTERM) };
        let (st, r) = turn.join().unwrap();
        assert_eq!(
            (st, r["error"].as_str()),
            (503, Some("shutting_down")),
            "{r}"
        );
        assert!(t.elapsed() < Duration::from_secs(3));
        pid
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.proc.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "no exit");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(s.proc.wait().unwrap().code(), Some(0));
    assert!(!alive(pid));
}

#[test]
fn lifecycle_events_stream_and_resume_from_last_event_id() {
    let s = start("", "normal");
    std::thread::scope(|sc| {
        let watcher = sc.spawn(|| support::sse(&s.socket, "GET", "/v1/events", None, Some(2)));
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(ask(&s, "e", "hello").0, 200);
        let (st, events) = watcher.join().unwrap();
        assert_eq!(st, 200);
        let kinds: Vec<Value> = events
            .iter()
            .map(|e| serde_json::from_str::<Value>(&e.data).unwrap())
            .collect();
        assert_eq!(kinds[0]["kind"], "spawned", "{kinds:?}");
        assert_eq!(kinds[1]["kind"], "ready", "{kinds:?}");
        assert_eq!(kinds[0]["key"], "e");
        assert!(kinds[0]["pid"].as_u64().is_some());
    });
    // Last-Event-ID: what happened after event 1 still comes, from the ring.
    let mut stream = std::os::unix::net::UnixStream::connect(&s.socket).unwrap();
    use std::io::{Read, Write};
    stream
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    write!(
        stream,
        "GET /v1/events HTTP/1.1\r\nhost: x\r\nlast-event-id: 1\r\n\r\n"
    )
    .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        if String::from_utf8_lossy(&got).contains("\"ready\"") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains("id: 2"), "{text}");
    assert!(!text.contains("id: 1\n"), "{text}");
}

#[test]
fn a_settings_change_restarts_the_child_with_the_new_flags() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let config = format!("claude_bin = \"{}\"\n{FAST}", fake_claude().display());
    let s = Supervisor::start(
        &config,
        &[("FAKE_CLAUDE_LOG", log.path().as_os_str().to_owned())],
        &[],
    );
    let cwd = s.work.display().to_string();
    assert_eq!(
        s.ask("c", json!({"prompt": "a", "cwd": cwd, "model": "one"}))
            .0,
        200
    );
    assert_eq!(
        s.ask("c", json!({"prompt": "b", "model": "one"})).1["cold"],
        false
    );
    let (st, r) = s.ask(
        "c",
        json!({"prompt": "c", "model": "two", "allowed_tools": ["Read"]}),
    );
    assert_eq!((st, &r["cold"]), (200, &json!(true)), "{r}");
    let starts = std::fs::read_to_string(log.path()).unwrap();
    let lines: Vec<&str> = starts.lines().collect();
    assert_eq!(lines.len(), 2, "{starts}");
    assert!(lines[0].contains("--model one"), "{starts}");
    assert!(
        lines[1].contains("--model two") && lines[1].contains("--allowedTools Read"),
        "{starts}"
    );
    let info = s.session("c");
    assert_eq!(info["model"], "two");
    assert_eq!(info["allowed_tools"], json!(["Read"]));
}

#[test]
fn a_child_that_never_answers_the_handshake_fails_the_turn() {
    let s = start("", "never-init");
    let t = Instant::now();
    let (st, r) = ask(&s, "n", "hello");
    assert_eq!(st, 502, "{r}");
    assert_eq!(r["error"], "spawn_failed");
    assert!(r["message"].as_str().unwrap().contains("handshake"), "{r}");
    assert!(t.elapsed() < Duration::from_secs(5));
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
        json!({"prompt": "sleep:5000", "cwd": s.work.display().to_string(), "timeout_ms": 400}),
    );
    assert_eq!(st, 504, "{r}");
    assert_eq!(r["error"], "turn_timeout");
    assert!(t.elapsed() < Duration::from_secs(2));
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
}

#[test]
fn eviction_takes_the_least_recently_used_idle_child_never_a_busy_one() {
    let s = start("max_processes = 2\n", "normal");
    std::thread::scope(|sc| {
        assert_eq!(ask(&s, "a", "one").0, 200);
        let busy = sc.spawn(|| ask(&s, "a", "sleep:2500"));
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(ask(&s, "b", "two").0, 200);
        // `a` is older but busy: `b` goes.
        let (st, r) = ask(&s, "c", "three");
        assert_eq!(st, 200, "{r}");
        assert_eq!(s.events("b").last().unwrap(), "evicted");
        assert!(!s.events("a").contains(&"evicted".into()));
        assert_eq!(busy.join().unwrap().0, 200);
    });
    let (_, h) = s.get("/v1/health");
    assert_eq!(h["children"], 2, "{h}");
    let (st, r) = ask(&s, "b", "back");
    assert_eq!((st, &r["cold"]), (200, &json!(true)), "{r}");
}

#[test]
fn idle_children_are_reaped_and_resume_on_the_next_ask() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let config = format!(
        "claude_bin = \"{}\"\n{FAST}idle_reap_secs = 1\n",
        fake_claude().display()
    );
    let s = Supervisor::start(
        &config,
        &[("FAKE_CLAUDE_LOG", log.path().as_os_str().to_owned())],
        &[],
    );
    assert_eq!(ask(&s, "r", "hello").0, 200);
    let pid = s.session("r")["pid"].as_u64().unwrap() as u32;
    s.wait_for("reap", Duration::from_secs(4), |s| {
        s.session("r")["pid"].is_null()
    });
    assert!(!alive(pid));
    assert_eq!(s.events("r").last().unwrap(), "reaped");
    assert_eq!(s.session("r")["state"], "idle");
    let (st, r) = ask(&s, "r", "back");
    assert_eq!((st, &r["cold"]), (200, &json!(true)));
    let starts = std::fs::read_to_string(log.path()).unwrap();
    assert_eq!(starts.lines().count(), 2, "{starts}");
    let id = s.session("r")["session_id"].as_str().unwrap().to_string();
    assert!(
        starts.lines().all(|l| l.contains(&id)),
        "same session: {starts}"
    );
}

#[test]
fn children_keep_the_daemon_up_and_stop_with_it() {
    let mut s = start_with("", "normal", &["--idle-timeout", "1"]);
    assert_eq!(ask(&s, "k", "hello").0, 200);
    let pid = s.session("k")["pid"].as_u64().unwrap() as u32;
    std::thread::sleep(Duration::from_millis(2000));
    assert!(
        s.proc.try_wait().unwrap().is_none(),
        "idle exit with a child alive"
    );
    // Without children it idles out.
    assert_eq!(s.delete("/v1/sessions/k").1["stopped"], true);
    assert!(!alive(pid));
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.proc.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "no idle exit");
        std::thread::sleep(Duration::from_millis(50));
    }
    // SIGTERM with a child alive: it is stopped gracefully, the daemon exits 0.
    let mut s = start("", "normal");
    assert_eq!(ask(&s, "k", "hello").0, 200);
    let pid = s.session("k")["pid"].as_u64().unwrap() as u32;
    assert_eq!(s.terminate(), 0);
    assert!(!alive(pid));
    assert!(
        s.log().contains("the supervisor is shutting down"),
        "{}",
        s.log()
    );
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
    ];
    for (path, body, want) in cases {
        let (st, r) = s.post(path, &body);
        assert_eq!(st, want, "{path} {body}: {r}");
        assert!(r["message"].as_str().is_some_and(|m| !m.is_empty()), "{r}");
    }
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
