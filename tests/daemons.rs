//! Each daemon as a real process in a temporary directory: health and version, the sd_notify
//! protocol, idle exit, SIGTERM drain, peer credentials, the TCP guard, and every way it
//! refuses to start — each a one-line error and its own exit code, never a panic.

#[path = "support/daemon.rs"]
mod daemon;
#[path = "support/http.rs"]
mod http;

use daemon::{Dirs, TestDaemon};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::{Duration, Instant};

const DAEMONS: [&str; 3] = ["claude-memd", "claude-supervisord", "claude-meshd"];

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn each_daemon_serves_health_and_version() {
    for program in DAEMONS {
        let d = TestDaemon::start(program, &[]);
        let (code, h) = http::get_json(&d.socket, "/v1/health");
        assert_eq!(code, 200);
        assert_eq!(h["status"], "ok", "{h}");
        assert_eq!(h["program"], program);
        assert_eq!(h["activation"], "self-bound");
        assert_eq!(h["pid"], d.pid());
        assert_eq!(h["socket"], d.socket.display().to_string());
        let db = std::path::PathBuf::from(h["db"].as_str().unwrap());
        assert!(db.starts_with(d.dirs.state()), "{h}");
        let conn = rusqlite::Connection::open(&db).unwrap();
        let version: u32 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert!(version >= 1, "{program} migrated its database");
        let (code, v) = http::get_json(&d.socket, "/v1/version");
        assert_eq!(code, 200);
        assert_eq!(v["program"], program);
        assert_eq!(v["api"], "v1");
        assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(mode(&d.socket), 0o600);
        assert_eq!(mode(&d.dirs.runtime()), 0o700);
        assert_eq!(mode(&d.dirs.state()), 0o700);
        let (code, _) = http::get_json(&d.socket, "/v1/nope");
        assert_eq!(code, 404);
    }
}

/// Datagrams a daemon sends to `NOTIFY_SOCKET`, until `until` matches one.
fn recv_until(sock: &UnixDatagram, until: &str, limit: Duration) -> Vec<String> {
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        sock.set_read_timeout(Some(deadline - Instant::now()))
            .unwrap();
        let Ok(n) = sock.recv(&mut buf) else { break };
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        let done = msg.contains(until);
        got.push(msg);
        if done {
            return got;
        }
    }
    panic!("no {until:?} within {limit:?}; got {got:?}");
}

#[test]
fn notify_ready_after_migration_then_watchdog_then_stopping() {
    let dirs = Dirs::new();
    std::fs::create_dir_all(dirs.tmp.path()).unwrap();
    let notify_path = dirs.tmp.path().join("notify");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    let db = dirs.state().join("memory.db");
    // systemd sets WATCHDOG_PID to the service's pid.
    let mut cmd = dirs.command_via_shell("claude-memd", "WATCHDOG_PID=$$");
    let child = cmd
        .env("NOTIFY_SOCKET", &notify_path)
        .env("WATCHDOG_USEC", "400000")
        .spawn()
        .unwrap();
    let child = daemon::KillOnDrop(Some(child));
    let ready = recv_until(&notify, "READY=1", Duration::from_secs(10));
    let ready = ready.last().unwrap();
    assert!(ready.contains("STATUS=Serving on"), "{ready}");
    // READY=1 promises a migrated database.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let v: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert!(v >= 1);
    // Pings keep coming, each after a real health check. (How often is not asserted here: a
    // 200 ms period measured on a loaded machine is a flaky test, not a check.)
    recv_until(&notify, "WATCHDOG=1", Duration::from_secs(20));
    recv_until(&notify, "WATCHDOG=1", Duration::from_secs(20));
    unsafe { libc::kill(child.pid(), libc::SIGTERM) };
    let stopping = recv_until(&notify, "STOPPING=1", Duration::from_secs(5));
    assert!(stopping
        .last()
        .unwrap()
        .contains("STATUS=Stopping: asked to stop"));
    let status = child.wait();
    assert_eq!(status.code(), Some(0), "SIGTERM exits 0 after draining");
}

#[test]
fn idle_exit_waits_for_open_connections_then_exits_zero() {
    let d = TestDaemon::start("claude-supervisord", &["--idle-timeout", "1"]);
    // A client that connects and says nothing keeps the daemon awake only until the
    // keep-alive limit closes it; then the idle timer runs out.
    let silent = std::os::unix::net::UnixStream::connect(&d.socket).unwrap();
    let started = Instant::now();
    let mut d = d;
    let status = loop {
        if let Some(s) = d.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "daemon never went idle"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let waited = started.elapsed();
    drop(silent);
    assert_eq!(status.code(), Some(0));
    assert!(
        waited >= Duration::from_secs(5),
        "an open connection counts as work ({waited:?})"
    );
}

#[test]
fn other_users_are_refused_by_peer_credentials() {
    let d = TestDaemon::start("claude-memd", &[]);
    // Loosen the file modes on purpose: the peer-credential check must hold on its own.
    std::fs::set_permissions(d.dirs.tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(d.dirs.runtime(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&d.socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let script = "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\ns.sendall(b'GET /v1/health HTTP/1.1\\r\\nhost: x\\r\\n\\r\\n')\nprint(s.recv(4096).decode())";
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/usr/bin/python3",
            "-c",
            script,
        ])
        .arg(&d.socket)
        .output()
        .expect("setpriv and python3 are required");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with("HTTP/1.1 403"), "another uid got: {text}");
    assert!(!text.contains("claude-memd"), "no data leaked: {text}");
    let (code, _) = http::get_json(&d.socket, "/v1/health");
    assert_eq!(code, 200, "the owner is still served");
}

#[test]
fn tcp_listener_requires_loopback_host_and_token() {
    let port = http::free_port();
    let d = TestDaemon::start_in(Dirs::new(), "claude-memd", &[], |c| {
        c.env("CLAUDE_DAEMONS_MEMORY_VIEWER_PORT", port.to_string());
    });
    let token = std::fs::read_to_string(d.dirs.state().join("api-token")).unwrap();
    assert_eq!(mode(&d.dirs.state().join("api-token")), 0o600);
    let host = "host: 127.0.0.1";
    let bearer = format!("authorization: Bearer {token}");
    let (code, probe) = http::tcp_request(port, "GET", "/v1/health", &[host]);
    assert_eq!(code, 200);
    assert!(
        probe.contains("\"status\":\"ok\"") && !probe.contains("pid") && !probe.contains("/tmp"),
        "{probe}"
    );
    let (_, full) = http::tcp_request(port, "GET", "/v1/health", &[host, &bearer]);
    assert!(
        full.contains("\"pid\"") && full.contains("\"db\""),
        "{full}"
    );
    assert_eq!(
        http::tcp_request(port, "GET", "/v1/version", &[host]).0,
        401
    );
    assert_eq!(
        http::tcp_request(
            port,
            "GET",
            "/v1/version",
            &[host, "authorization: Bearer wrong"]
        )
        .0,
        401
    );
    assert_eq!(
        http::tcp_request(port, "GET", "/v1/version", &[host, &bearer]).0,
        200
    );
    assert_eq!(
        http::tcp_request(port, "GET", "/v1/version", &["host: localhost:1", &bearer]).0,
        200
    );
    assert_eq!(
        http::tcp_request(
            port,
            "GET",
            "/v1/version",
            &["host: attacker.example", &bearer]
        )
        .0,
        421
    );
    assert_eq!(
        http::tcp_request(port, "GET", &format!("/v1/version?token={token}"), &[host]).0,
        400
    );
    let foreign = http::tcp_request(
        port,
        "POST",
        "/v1/version",
        &[host, &bearer, "origin: https://evil.example"],
    );
    assert_eq!(foreign.0, 403, "{foreign:?}");
}

/// Runs `program` expecting a refusal: returns (exit code, the stderr lines).
fn refusal(cmd: &mut Command) -> (i32, Vec<String>) {
    cmd.env("RUST_LOG", "warn");
    let out = daemon::run_with_deadline(cmd, Duration::from_secs(10));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    let lines: Vec<String> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(Into::into)
        .collect();
    (out.status.code().expect("exited, not killed"), lines)
}

fn assert_one_line(lines: &[String], needle: &str) {
    assert_eq!(lines.len(), 1, "one line: {lines:?}");
    assert!(lines[0].contains(needle), "{needle:?} in {lines:?}");
}

#[test]
fn bad_activation_environment_exits_71() {
    let dirs = Dirs::new();
    let (code, lines) =
        refusal(&mut dirs.command_via_shell("claude-memd", "LISTEN_PID=$$ LISTEN_FDS=abc"));
    assert_eq!(code, 71);
    assert_one_line(&lines, "LISTEN_FDS");
    // fd 3 is not a socket: a listener cannot be adopted from it.
    let mut not_socket = dirs.command_via_shell("claude-memd", "LISTEN_PID=$$ LISTEN_FDS=1");
    let null = std::fs::File::open("/dev/null").unwrap();
    let null_fd = std::os::fd::AsRawFd::as_raw_fd(&null);
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut not_socket, move || {
            let high = libc::fcntl(null_fd, libc::F_DUPFD_CLOEXEC, 100);
            if high < 0 || libc::dup2(high, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let (code, lines) = refusal(&mut not_socket);
    assert_eq!(code, 71);
    assert_one_line(&lines, "not a socket");
}

#[test]
fn unusable_state_dir_exits_73() {
    // A path through a regular file can never become a directory.
    let dirs = Dirs::new();
    std::fs::write(dirs.tmp.path().join("file"), "").unwrap();
    let mut c = dirs.command("claude-memd");
    c.env(
        "CLAUDE_DAEMONS_STATE_DIR",
        dirs.tmp.path().join("file/state"),
    );
    let (code, lines) = refusal(&mut c);
    assert_eq!(code, 73);
    assert_one_line(&lines, "state directory");

    // An existing directory another user owns: run as nobody against a root-owned 0755 dir.
    let dirs = Dirs::new();
    std::fs::set_permissions(dirs.tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(dirs.state()).unwrap();
    std::fs::set_permissions(dirs.state(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let runtime = dirs.tmp.path().join("nobody-rt");
    std::fs::create_dir_all(&runtime).unwrap();
    let chown = Command::new("chown")
        .args(["65534:65534"])
        .arg(&runtime)
        .status()
        .unwrap();
    assert!(chown.success());
    let mut c = Command::new("setpriv");
    c.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        daemon::bin("claude-memd"),
    ])
    .env("CLAUDE_DAEMONS_RUNTIME_DIR", &runtime)
    .env("CLAUDE_DAEMONS_STATE_DIR", dirs.state())
    .env("CLAUDE_DAEMONS_CONFIG", dirs.config());
    let (code, lines) = refusal(&mut c);
    assert_eq!(code, 73, "{lines:?}");
    // Refused for whose it is, before trying to write: its owner could read our state.
    assert_one_line(&lines, "not by us");
}

#[test]
fn socket_path_too_long_exits_72() {
    let dirs = Dirs::new();
    let mut c = dirs.command("claude-meshd");
    c.env(
        "CLAUDE_DAEMONS_RUNTIME_DIR",
        dirs.tmp.path().join("r".repeat(120)),
    );
    let (code, lines) = refusal(&mut c);
    assert_eq!(code, 72);
    assert_one_line(&lines, "CLAUDE_DAEMONS_RUNTIME_DIR");
}

#[test]
fn config_typo_exits_78_naming_file_line_and_key() {
    let dirs = Dirs::new();
    std::fs::write(
        dirs.config(),
        "[supervisor]\nmax_processes = 4\nclaude_bni = \"claude\"\n",
    )
    .unwrap();
    let (code, lines) = refusal(&mut dirs.command("claude-supervisord"));
    assert_eq!(code, 78);
    assert_one_line(&lines, &format!("{}:3:", dirs.config().display()));
    assert!(lines[0].contains("claude_bni"), "{lines:?}");
    std::fs::write(dirs.config(), "[supervisor]\nmax_processes = 4\n").unwrap();
    let (code, lines) = refusal(
        dirs.command("claude-supervisord")
            .env("CLAUDE_DAEMONS_SUPERVISOR_MAX_PROCESSES", "x"),
    );
    assert_eq!(code, 78);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("CLAUDE_DAEMONS_SUPERVISOR_MAX_PROCESSES")),
        "{lines:?}"
    );
    // The right type but a value the daemon cannot use: refused at start, not at first use.
    std::fs::write(
        dirs.config(),
        "[memory]\nidle_timeout_secs = 9223372036854775807\n",
    )
    .unwrap();
    let (code, lines) = refusal(&mut dirs.command("claude-memd"));
    assert_eq!(code, 78);
    assert_one_line(&lines, "[memory] idle_timeout_secs: must be between 0 and");
}

#[test]
fn corrupt_or_foreign_database_exits_65_untouched() {
    let dirs = Dirs::new();
    std::fs::create_dir_all(dirs.state()).unwrap();
    let db = dirs.state().join("mesh.db");
    let garbage = b"this is not an sqlite database, it is somebody's notes".repeat(100);
    std::fs::write(&db, &garbage).unwrap();
    let (code, lines) = refusal(&mut dirs.command("claude-meshd"));
    assert_eq!(code, 65);
    assert_one_line(&lines, "corrupt");
    assert_eq!(std::fs::read(&db).unwrap(), garbage, "never overwritten");

    std::fs::remove_file(&db).unwrap();
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE theirs (x);")
        .unwrap();
    let (code, lines) = refusal(&mut dirs.command("claude-meshd"));
    assert_eq!(code, 65);
    assert_one_line(&lines, "another program");
}

#[test]
fn a_live_instance_is_never_replaced_exits_75() {
    let d = TestDaemon::start("claude-memd", &[]);
    let (code, lines) = refusal(&mut d.dirs.command("claude-memd"));
    assert_eq!(code, 75);
    assert_one_line(&lines, "already listening");
    let (code, _) = http::get_json(&d.socket, "/v1/health");
    assert_eq!(code, 200, "the first instance still serves");
}
