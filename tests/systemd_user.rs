//! End to end under a real `systemd --user` and journald (see support/user_manager.rs):
//! socket activation, readiness, idle exit with the socket still listening, no request lost
//! across the idle boundary, watchdog restart of a frozen daemon, journal fields.

#[path = "support/http.rs"]
mod http;
#[path = "support/repo.rs"]
mod repo;
#[path = "support/user_manager.rs"]
mod user_manager;

use std::time::{Duration, Instant};
use user_manager::{Tweaks, UserManager};

const BINARIES: [(&str, &str); 3] = [
    ("claude-memd", env!("CARGO_BIN_EXE_claude-memd")),
    (
        "claude-supervisord",
        env!("CARGO_BIN_EXE_claude-supervisord"),
    ),
    ("claude-meshd", env!("CARGO_BIN_EXE_claude-meshd")),
];

fn tweaks(um: &UserManager, args: &[&str], viewer_port: u16) -> Tweaks {
    let state = um.scratch().join("state");
    Tweaks {
        args: args.iter().map(|s| s.to_string()).collect(),
        env: vec![
            (
                "CLAUDE_DAEMONS_STATE_DIR".into(),
                state.display().to_string(),
            ),
            ("RUST_LOG".into(), "info".into()),
        ],
        watchdog_sec: None,
        replace: vec![
            ("127.0.0.1:37777".into(), format!("127.0.0.1:{viewer_port}")),
            // A 2 s idle timeout re-activates the daemon about every 2 s, at the default
            // start limit (5 starts per 10 s); real idle timeouts are minutes.
            ("[Unit]\n".into(), "[Unit]\nStartLimitBurst=100\n".into()),
        ],
    }
}

fn health(um: &UserManager, short: &str) -> serde_json::Value {
    let (status, body) = http::get_json(
        &um.runtime_dir().join(format!("claude/{short}.sock")),
        "/v1/health",
    );
    assert_eq!(status, 200, "{body}");
    body
}

#[test]
fn memd_activation_idle_exit_and_reactivation() {
    if !user_manager::inside() {
        return user_manager::run_inside_namespace("memd_activation_idle_exit_and_reactivation");
    }
    let um = UserManager::start();
    let port = http::free_port();
    um.install_units(
        &["claude-memd"],
        &BINARIES,
        &tweaks(&um, &["--idle-timeout", "2"], port),
    );
    um.systemctl_ok(&["start", "claude-memd.socket"]);
    let sock = um.runtime_dir().join("claude/memd.sock");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "socket mode");
    }
    assert_eq!(
        um.show("claude-memd.service", "ActiveState"),
        "inactive",
        "nothing runs before use"
    );

    // The first request starts the service; Type=notify makes it `active` only after READY=1.
    let h = health(&um, "memd");
    assert_eq!(h["activation"], "systemd");
    assert_eq!(h["status"], "ok");
    assert_eq!(
        h["listeners"].as_array().unwrap().len(),
        2,
        "unix + tcp passed: {h}"
    );
    assert_eq!(um.show("claude-memd.service", "ActiveState"), "active");
    assert!(um
        .show("claude-memd.service", "StatusText")
        .starts_with("Serving on"));
    let first_pid = h["pid"].as_u64().unwrap();

    // The viewer's TCP socket came from the same socket unit and follows the TCP rules.
    let (code, _) = http::tcp_request(port, "GET", "/v1/health", &["host: 127.0.0.1"]);
    assert_eq!(code, 200);
    let (code, _) = http::tcp_request(port, "GET", "/v1/version", &["host: 127.0.0.1"]);
    assert_eq!(code, 401, "API on TCP needs the token");
    let (code, _) = http::tcp_request(port, "GET", "/v1/health", &["host: evil.example"]);
    assert_eq!(code, 421, "DNS rebinding refused");

    // Idle exit: clean, and the socket keeps listening.
    um.wait_for(
        "claude-memd.service",
        "ActiveState",
        "inactive",
        Duration::from_secs(15),
    );
    assert_eq!(um.show("claude-memd.service", "Result"), "success");
    assert_eq!(um.show("claude-memd.service", "ExecMainStatus"), "0");
    assert_eq!(um.show("claude-memd.socket", "ActiveState"), "active");

    // Requests fired across the idle boundary must all succeed. Any request resets the idle
    // timer, so a spread-out sweep never reaches the boundary: instead, after one priming
    // request, 50 requests leave together at an offset around the 2 s deadline. Bursts that
    // land after the decision sit in the socket's backlog and are served by a new process.
    let mut crossed = 0;
    for offset_ms in [1950u64, 1990, 2010, 2030, 2060, 2100, 2150] {
        let (code, primed) = http::get_json(&sock, "/v1/health");
        assert_eq!(code, 200);
        let primed_pid = primed["pid"].as_u64().unwrap();
        let t0 = Instant::now();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(50));
        let threads: Vec<_> = (0..50)
            .map(|_| {
                let (sock, barrier) = (sock.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    std::thread::sleep(
                        Duration::from_millis(offset_ms).saturating_sub(t0.elapsed()),
                    );
                    http::get_json(&sock, "/v1/health")
                })
            })
            .collect();
        let mut pids = std::collections::BTreeSet::new();
        for t in threads {
            let (code, body) = t.join().expect("request thread");
            assert_eq!(code, 200, "request at +{offset_ms} ms failed: {body}");
            pids.insert(body["pid"].as_u64().unwrap());
        }
        let new_process = pids.iter().any(|p| *p != primed_pid);
        eprintln!("burst at +{offset_ms} ms: primed by {primed_pid}, served by {pids:?}");
        crossed += new_process as usize;
    }
    assert!(
        crossed > 0,
        "no burst crossed an idle exit: the test did not test the boundary"
    );

    // After the next idle exit, the next request activates a new process.
    um.wait_for(
        "claude-memd.service",
        "ActiveState",
        "inactive",
        Duration::from_secs(15),
    );
    let again = health(&um, "memd");
    assert_ne!(again["pid"].as_u64().unwrap(), first_pid);
    assert_eq!(
        um.show("claude-memd.service", "NRestarts"),
        "0",
        "idle exits are not failures"
    );

    // The journal has our lines, by identifier and by a structured field.
    let by_id = um.journal(&["SYSLOG_IDENTIFIER=claude-memd"]);
    assert!(
        by_id.iter().any(|e| e["MESSAGE"]
            .as_str()
            .is_some_and(|m| m.contains("ready on"))),
        "no readiness line by SYSLOG_IDENTIFIER: {by_id:?}"
    );
    let by_field = um.journal(&["ACTIVATION=systemd", "SYSLOG_IDENTIFIER=claude-memd"]);
    assert!(
        by_field.len() >= 2,
        "one ready line per activation: {by_field:?}"
    );
    assert!(by_field
        .iter()
        .all(|e| e["_SYSTEMD_USER_UNIT"] == "claude-memd.service"));
    let stops = um.journal(&["SYSLOG_IDENTIFIER=claude-memd", "REASON=idle for 2 s"]);
    assert!(!stops.is_empty(), "idle exit is logged with a REASON field");
}

#[test]
fn memd_watchdog_restarts_a_frozen_daemon() {
    if !user_manager::inside() {
        return user_manager::run_inside_namespace("memd_watchdog_restarts_a_frozen_daemon");
    }
    let um = UserManager::start();
    let mut t = tweaks(&um, &["--idle-timeout", "0"], http::free_port());
    t.watchdog_sec = Some(2);
    // A SIGSTOPped process cannot act on SIGABRT; don't wait 30 s before SIGKILL.
    t.replace
        .push(("TimeoutStopSec=30".into(), "TimeoutStopSec=2".into()));
    um.install_units(&["claude-memd"], &BINARIES, &t);
    um.systemctl_ok(&["start", "claude-memd.socket"]);
    let before = health(&um, "memd")["pid"].as_u64().unwrap();

    // Healthy: pings keep it alive well past the watchdog interval.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(um.show("claude-memd.service", "NRestarts"), "0");
    assert_eq!(health(&um, "memd")["pid"].as_u64().unwrap(), before);

    let rc = unsafe { libc::kill(before as i32, libc::SIGSTOP) };
    assert_eq!(rc, 0);
    um.wait_for(
        "claude-memd.service",
        "NRestarts",
        "1",
        Duration::from_secs(30),
    );
    um.wait_for(
        "claude-memd.service",
        "ActiveState",
        "active",
        Duration::from_secs(15),
    );
    let after = health(&um, "memd");
    assert_ne!(
        after["pid"].as_u64().unwrap(),
        before,
        "a new process serves"
    );
    let log = um.journal(&["_SYSTEMD_USER_UNIT=claude-memd.service"]);
    let _ = log;
    let manager_log = um.journal(&["--user-unit=claude-memd.service"]);
    assert!(
        manager_log
            .iter()
            .any(|e| e["MESSAGE"].as_str().is_some_and(|m| m.contains("atchdog"))),
        "the manager logs the watchdog timeout"
    );
}

#[test]
fn supervisord_and_meshd_activate_and_stop_cleanly() {
    if !user_manager::inside() {
        return user_manager::run_inside_namespace(
            "supervisord_and_meshd_activate_and_stop_cleanly",
        );
    }
    let um = UserManager::start();
    let t = tweaks(&um, &[], http::free_port());
    um.install_units(&["claude-supervisord", "claude-meshd"], &BINARIES, &t);
    for (program, short) in [
        ("claude-supervisord", "supervisord"),
        ("claude-meshd", "meshd"),
    ] {
        um.systemctl_ok(&["start", &format!("{program}.socket")]);
        let h = health(&um, short);
        assert_eq!(h["program"], program);
        assert_eq!(h["activation"], "systemd");
        assert_eq!(h["status"], "ok");
        let service = format!("{program}.service");
        assert_eq!(um.show(&service, "ActiveState"), "active");
        um.systemctl_ok(&["stop", &service]);
        assert_eq!(
            um.show(&service, "Result"),
            "success",
            "SIGTERM drains and exits 0"
        );
        assert_eq!(
            um.show(&format!("{program}.socket"), "ActiveState"),
            "active"
        );
        let ready = um.journal(&[
            &format!("SYSLOG_IDENTIFIER={program}"),
            "ACTIVATION=systemd",
        ]);
        assert!(
            !ready.is_empty(),
            "{program} logs its readiness with structured fields"
        );
    }
    assert_eq!(
        health(&um, "meshd")["idle_timeout_secs"],
        serde_json::Value::Null,
        "meshd never idles out by default"
    );
}
