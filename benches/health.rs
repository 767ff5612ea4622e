//! Warm `GET /v1/health` round trip over the Unix socket, against a raw Unix-socket echo
//! round trip measured in the same run (the kernel's floor on this machine).
//!
//! `cargo bench --bench health`

#[path = "support.rs"]
mod support;

use claude_daemons::http::UnixClient;
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};
use support::{report, Samples};

const N: usize = 3000;

fn main() {
    let dir = tempfile::Builder::new()
        .prefix("cd-bench-")
        .tempdir_in("/tmp")
        .unwrap();
    let mut daemon = std::process::Command::new(env!("CARGO_BIN_EXE_claude-memd"))
        .args(["--foreground", "--idle-timeout", "0"])
        .env("CLAUDE_DAEMONS_RUNTIME_DIR", dir.path().join("rt"))
        .env("CLAUDE_DAEMONS_STATE_DIR", dir.path().join("state"))
        .env("CLAUDE_DAEMONS_CONFIG", dir.path().join("none.toml"))
        .env("CLAUDE_DAEMONS_MEMORY_VIEWER_PORT", "0")
        .env("RUST_LOG", "warn")
        .spawn()
        .unwrap();
    let socket = dir.path().join("rt/memd.sock");
    let client = UnixClient::new(&socket).timeout(Duration::from_secs(5));
    let started = Instant::now();
    while client.get("/v1/health").is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "daemon did not start"
        );
        std::thread::sleep(Duration::from_millis(10));
    }

    // Baseline: a thread echoing 64 bytes back on a Unix socket, new connection each time.
    let echo_path = dir.path().join("echo.sock");
    let echo = UnixListener::bind(&echo_path).unwrap();
    std::thread::spawn(move || {
        for mut s in echo.incoming().flatten() {
            let mut b = [0u8; 64];
            if s.read_exact(&mut b).is_ok() {
                let _ = s.write_all(&b);
            }
        }
    });
    let echo_rt = |_| {
        let t = Instant::now();
        let mut s = UnixStream::connect(&echo_path).unwrap();
        s.write_all(&[7u8; 64]).unwrap();
        let mut b = [0u8; 64];
        s.read_exact(&mut b).unwrap();
        t.elapsed()
    };
    let health_rt = |_| {
        let t = Instant::now();
        let r = client.get("/v1/health").unwrap();
        assert_eq!(r.status, 200);
        t.elapsed()
    };
    // Keep-alive: one connection, many requests (how a long-lived client talks to us).
    let mut conn = UnixStream::connect(&socket).unwrap();
    let mut buf = vec![0u8; 8192];
    let mut keepalive_rt = |_| {
        let t = Instant::now();
        conn.write_all(b"GET /v1/health HTTP/1.1\r\nhost: localhost\r\n\r\n")
            .unwrap();
        let mut got = 0;
        loop {
            got += conn.read(&mut buf[got..]).unwrap();
            let text = &buf[..got];
            if let Some(head_end) = text.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&text[..head_end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .unwrap()
                    .parse()
                    .unwrap();
                if got >= head_end + 4 + len {
                    break;
                }
            }
        }
        t.elapsed()
    };
    for _ in 0..300 {
        echo_rt(0);
        health_rt(0);
        keepalive_rt(0);
    }
    // Interleave so machine noise hits all three alike.
    let (mut e, mut h, mut k) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..N {
        e.push(echo_rt(i));
        h.push(health_rt(i));
        k.push(keepalive_rt(i));
    }
    let (e, h, k) = (Samples::new(e), Samples::new(h), Samples::new(k));
    println!("claude-memd GET /v1/health over the Unix socket (release build)");
    report("baseline: raw Unix socket echo (new conn)", &e, None);
    report(
        "health, new connection each (claude-hook)",
        &h,
        Some(("echo", &e)),
    );
    report("health, keep-alive connection", &k, Some(("echo", &e)));
    println!(
        "rss of the warm daemon: {} KiB",
        support::rss_kib(daemon.id())
    );
    let _ = daemon.kill();
    let _ = daemon.wait();
}
