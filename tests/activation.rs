//! Socket activation without a user manager: `systemd-socket-activate` for each daemon, and
//! sockets placed on fds 3 and 4 by hand the way systemd passes them (Unix + TCP).

#[path = "support/daemon.rs"]
mod daemon;
#[path = "support/http.rs"]
mod http;

use daemon::{Dirs, KillOnDrop};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

fn wait_for_socket(path: &std::path::Path) {
    // The file appears at bind(2), before listen(2): a connection in between is refused
    // (seen under load). Wait for the listening flag in /proc/net/unix instead, which a
    // probe connection cannot do without activating the daemon.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !listening(path) {
        assert!(
            Instant::now() < deadline,
            "{} never listened",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether a Unix socket bound to `path` is listening (`__SO_ACCEPTCON` in its flags).
fn listening(path: &std::path::Path) -> bool {
    const ACCEPTCON: u32 = 1 << 16;
    let table = std::fs::read_to_string("/proc/net/unix").unwrap_or_default();
    let want = path.to_string_lossy();
    table.lines().skip(1).any(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        cols.len() >= 8
            && cols[7] == want
            && u32::from_str_radix(cols[3], 16).is_ok_and(|flags| flags & ACCEPTCON != 0)
    })
}

#[test]
fn systemd_socket_activate_starts_each_daemon_on_first_connection() {
    for program in ["claude-memd", "claude-supervisord", "claude-meshd"] {
        let dirs = Dirs::new();
        std::fs::create_dir_all(dirs.runtime()).unwrap();
        let short = program.trim_start_matches("claude-");
        let socket = dirs.runtime().join(format!("{short}.sock"));
        let mut cmd = Command::new("systemd-socket-activate");
        cmd.arg("-l")
            .arg(&socket)
            .arg(format!("--fdname={short}"))
            .arg(format!(
                "--setenv=CLAUDE_DAEMONS_STATE_DIR={}",
                dirs.state().display()
            ))
            .arg(format!(
                "--setenv=CLAUDE_DAEMONS_CONFIG={}",
                dirs.config().display()
            ))
            .arg(format!(
                "--setenv=CLAUDE_DAEMONS_RUNTIME_DIR={}",
                dirs.runtime().display()
            ))
            .args([daemon::bin(program), "--idle-timeout", "1"])
            .stderr(std::process::Stdio::null());
        let child = KillOnDrop(Some(
            cmd.spawn().expect("systemd-socket-activate is missing: run scripts/test, which installs what the tests need"),
        ));
        wait_for_socket(&socket);
        assert!(
            !dirs.state().exists(),
            "{program} must not start before a connection"
        );
        let (code, h) = http::get_json(&socket, "/v1/health");
        assert_eq!(code, 200);
        assert_eq!(h["activation"], "systemd", "{h}");
        assert_eq!(h["program"], program);
        // systemd-socket-activate execs the daemon: the activated process is the child.
        assert_eq!(h["pid"], child.pid());
        let status = child.wait();
        assert_eq!(status.code(), Some(0), "{program}: idle exit is clean");
    }
}

#[test]
fn adopts_unix_and_tcp_sockets_passed_on_fds_3_and_4() {
    let dirs = Dirs::new();
    std::fs::create_dir_all(dirs.runtime()).unwrap();
    let socket = dirs.runtime().join("memd.sock");
    let unix = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = tcp.local_addr().unwrap().port();
    let (ufd, tfd) = (unix.as_raw_fd(), tcp.as_raw_fd());
    let mut cmd = dirs.command_via_shell(
        "claude-memd",
        "LISTEN_PID=$$ LISTEN_FDS=2 LISTEN_FDNAMES=memd:memd",
    );
    cmd.args(["--idle-timeout", "1"]);
    unsafe {
        cmd.pre_exec(move || {
            // Place the listeners where a service manager puts them. Move both out of the way
            // first (either may already be 3 or 4, and dup2 onto itself keeps CLOEXEC), then
            // clear CLOEXEC explicitly.
            let high_u = libc::fcntl(ufd, libc::F_DUPFD_CLOEXEC, 100);
            let high_t = libc::fcntl(tfd, libc::F_DUPFD_CLOEXEC, 100);
            if high_u < 0 || high_t < 0 || libc::dup2(high_u, 3) < 0 || libc::dup2(high_t, 4) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::fcntl(3, libc::F_SETFD, 0);
            libc::fcntl(4, libc::F_SETFD, 0);
            Ok(())
        });
    }
    cmd.stderr(std::process::Stdio::null());
    let child = KillOnDrop(Some(cmd.spawn().unwrap()));
    let (code, h) = http::get_json(&socket, "/v1/health");
    assert_eq!(code, 200);
    assert_eq!(h["activation"], "systemd");
    assert_eq!(h["listeners"].as_array().unwrap().len(), 2, "{h}");
    assert_eq!(
        http::tcp_request(port, "GET", "/v1/health", &["host: localhost"]).0,
        200
    );
    assert_eq!(
        http::tcp_request(port, "GET", "/v1/version", &["host: localhost"]).0,
        401
    );
    drop((unix, tcp));
    // The sockets outlive the daemon (the "service manager" still holds them here too).
    let status = child.wait();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn listen_pid_of_another_process_is_ignored() {
    let dirs = Dirs::new();
    let mut cmd = dirs.command("claude-supervisord");
    // Inherited from an activated parent: not ours, so the daemon binds by itself.
    cmd.env("LISTEN_PID", "1")
        .env("LISTEN_FDS", "1")
        .arg("--idle-timeout")
        .arg("1");
    let child = KillOnDrop(Some(
        cmd.stderr(std::process::Stdio::null()).spawn().unwrap(),
    ));
    let socket = dirs.runtime().join("supervisord.sock");
    wait_for_socket(&socket);
    let (code, h) = http::get_json(&socket, "/v1/health");
    assert_eq!(code, 200);
    assert_eq!(h["activation"], "self-bound");
    assert_eq!(child.wait().code(), Some(0));
}
