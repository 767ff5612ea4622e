//! claude-supervisord's processes against a fake child (examples/fake_claude.rs):
//! eviction, idle reap, settings changes, stopping (grace, SIGTERM, parent death), shutdown
//! and idle exit with children, lifecycle events.

#[path = "supervisor_support/fake.rs"]
mod fake;
#[path = "supervisor_support/mod.rs"]
mod support;

use fake::{ask, start, start_with, FAST};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::{alive, fake_claude, Supervisor};

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
        // A minute-long turn: ending within 15 s (below the 20 s drain limit) was shutdown.
        let turn = sc.spawn(|| ask(&s, "z", "sleep:60000"));
        s.wait_for("busy", Duration::from_secs(20), |s| {
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
        assert!(t.elapsed() < Duration::from_secs(15));
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
        // The watcher must see the ask's events however late its request is handled: its
        // connection counts as open work before the handler subscribes, so it asks for the
        // ring from the first event on (Last-Event-ID 0) rather than for what comes next.
        let busy = |s: &Supervisor| s.get("/v1/health").1["busy"].as_u64().unwrap();
        let before = busy(&s);
        let watcher = sc.spawn(|| {
            support::sse_with(
                &s.socket,
                "GET",
                "/v1/events",
                "last-event-id: 0\r\n",
                None,
                Some(2),
            )
        });
        s.wait_for("the watcher's stream", Duration::from_secs(20), |s| {
            busy(s) > before
        });
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
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
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
fn eviction_takes_the_least_recently_used_idle_child_never_a_busy_one() {
    let s = start("max_processes = 2\n", "normal");
    std::thread::scope(|sc| {
        assert_eq!(ask(&s, "a", "one").0, 200);
        // `a` stays busy until interrupted below, however long the asks take.
        let busy = sc.spawn(|| ask(&s, "a", "sleep:60000"));
        s.wait_for("a busy", Duration::from_secs(20), |s| {
            s.get("/v1/sessions/a").1["state"] == "busy"
        });
        assert_eq!(ask(&s, "b", "two").0, 200);
        // `a` is older but busy: `b` goes.
        let (st, r) = ask(&s, "c", "three");
        assert_eq!(st, 200, "{r}");
        assert_eq!(s.events("b").last().unwrap(), "evicted");
        assert!(!s.events("a").contains(&"evicted".into()));
        let (st, r) = s.post("/v1/sessions/a/interrupt", &json!({}));
        assert_eq!((st, &r["interrupted"]), (200, &json!(true)), "{r}");
        assert_eq!(busy.join().unwrap().0, 200);
    });
    let (_, h) = s.get("/v1/health");
    assert_eq!(h["children"], 2, "{h}");
    let (st, r) = ask(&s, "b", "back");
    assert_eq!((st, &r["cold"]), (200, &json!(true)), "{r}");
}

#[test]
fn a_turn_waiting_for_room_can_be_stopped_at_once() {
    let s = start("max_processes = 1\n", "normal");
    std::thread::scope(|sc| {
        // a holds the only process for a minute (ended by an interrupt below): b's stop must
        // not wait for it.
        let busy = sc.spawn(|| ask(&s, "a", "sleep:60000"));
        s.wait_for("a busy", Duration::from_secs(20), |s| {
            s.get("/v1/sessions/a").1["state"] == "busy"
        });
        let waiting = sc.spawn(|| ask(&s, "b", "hello"));
        std::thread::sleep(Duration::from_millis(300));
        assert!(!waiting.is_finished(), "no room: b waits");
        let t = Instant::now();
        let (st, r) = s.delete("/v1/sessions/b");
        assert_eq!((st, &r["stopped"]), (200, &json!(false)), "{r}");
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "not held by the wait"
        );
        let (st, r) = waiting.join().unwrap();
        assert_eq!((st, r["error"].as_str()), (503, Some("stopped")), "{r}");
        let (st, r) = s.post("/v1/sessions/a/interrupt", &json!({}));
        assert_eq!((st, &r["interrupted"]), (200, &json!(true)), "{r}");
        assert_eq!(busy.join().unwrap().0, 200);
    });
    // With room again, b runs (a's idle child is evicted for it).
    let (st, r) = ask(&s, "b", "hello");
    assert_eq!(
        (st, r["result"].as_str()),
        (200, Some("echo: hello")),
        "{r}"
    );
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
    // With neither child nor work, the session's task ends too (the mapping stays).
    s.wait_for("the session task to retire", Duration::from_secs(4), |s| {
        s.get("/v1/health").1["sessions"] == 0
    });
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
