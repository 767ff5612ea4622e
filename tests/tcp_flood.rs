//! Another local user cannot starve the owner by holding TCP connections: with 2,000 of
//! them against claude-memd's loopback listener — most sending an unauthenticated
//! `/v1/health` every 2 s to stay alive, the rest idle — `/v1/health` on the Unix socket
//! still answers promptly. The daemon runs with an open-file limit of 1,024 (soft and hard,
//! so it cannot raise it), the usual default: without per-listener caps its descriptors run
//! out and the Unix socket is never accepted.

#[path = "support/daemon.rs"]
mod daemon;
#[path = "support/http.rs"]
mod http;

use daemon::{Dirs, TestDaemon};
use http::free_port;
use std::os::unix::process::CommandExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CONNECTIONS: usize = 2_000;
const KEEPALIVE: usize = 1_400;
const DAEMON_NOFILE: libc::rlim_t = 1_024;

/// claude-memd with a TCP listener on `port` and at most 1,024 open files.
fn memd(port: u16) -> TestDaemon {
    TestDaemon::start_in(
        Dirs::new(),
        "claude-memd",
        &["--idle-timeout", "0"],
        |cmd| {
            cmd.env("CLAUDE_DAEMONS_MEMORY_VIEWER_PORT", port.to_string());
            // SAFETY: setrlimit(2) is async-signal-safe.
            unsafe {
                cmd.pre_exec(|| {
                    let limit = libc::rlimit {
                        rlim_cur: DAEMON_NOFILE,
                        rlim_max: DAEMON_NOFILE,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        },
    )
}

/// This process needs a descriptor per connection: raise its own soft limit, and fail
/// (not skip) when the machine does not allow enough.
fn raise_own_nofile() {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) };
    let needed = (CONNECTIONS + 500) as libc::rlim_t;
    assert!(
        r.rlim_max >= needed,
        "this test needs an open-file hard limit of at least {needed} (ulimit -Hn is {})",
        r.rlim_max
    );
    r.rlim_cur = r.rlim_max;
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) }, 0);
}

/// Send `request` on `s` and read one response; its head, lowercased.
async fn exchange(s: &mut TcpStream, request: &str) -> std::io::Result<String> {
    s.write_all(request.as_bytes()).await?;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    loop {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_ascii_lowercase();
        let Some(end) = text.find("\r\n\r\n") else {
            continue;
        };
        let len: usize = text[..end]
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if buf.len() >= end + 4 + len {
            return Ok(text[..end].to_string());
        }
    }
}

/// One unauthenticated health request on `s`: Ok(true) when the server said it will close
/// the connection after the answer.
async fn health(s: &mut TcpStream) -> std::io::Result<bool> {
    let head = exchange(s, "GET /v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n").await?;
    Ok(head.contains("connection: close"))
}

async fn connect(port: u16) -> Option<TcpStream> {
    match tokio::time::timeout(
        Duration::from_secs(3),
        TcpStream::connect(("127.0.0.1", port)),
    )
    .await
    {
        Ok(Ok(s)) => Some(s),
        _ => {
            tokio::time::sleep(Duration::from_millis(100)).await;
            None
        }
    }
}

#[derive(Default)]
struct Tally {
    connected: AtomicU64,
    answered: AtomicU64,
}

/// A client that keeps its connection alive with a health request every 2 s (under the
/// daemon's 5 s idle timeout), reconnecting whenever the daemon closes it.
async fn keepalive(port: u16, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    while !stop.load(Ordering::Relaxed) {
        let Some(mut s) = connect(port).await else {
            continue;
        };
        tally.connected.fetch_add(1, Ordering::Relaxed);
        while !stop.load(Ordering::Relaxed) {
            match tokio::time::timeout(Duration::from_secs(10), health(&mut s)).await {
                Ok(Ok(_)) => {
                    tally.answered.fetch_add(1, Ordering::Relaxed);
                }
                _ => break,
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
}

/// A client that connects and sends nothing, reconnecting when the daemon closes it.
async fn idle(port: u16, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    while !stop.load(Ordering::Relaxed) {
        let Some(mut s) = connect(port).await else {
            continue;
        };
        tally.connected.fetch_add(1, Ordering::Relaxed);
        let mut b = [0u8; 64];
        loop {
            tokio::select! {
                r = s.read(&mut b) => if !matches!(r, Ok(n) if n > 0) { break },
                _ = tokio::time::sleep(Duration::from_millis(200)) => {
                    if stop.load(Ordering::Relaxed) { return; }
                }
            }
        }
    }
}

fn unix_health_ms(d: &TestDaemon) -> Result<u128, String> {
    let start = Instant::now();
    match claude_daemons::http::UnixClient::new(&d.socket)
        .timeout(Duration::from_secs(10))
        .get("/v1/health")
    {
        Ok(r) if r.status == 200 => Ok(start.elapsed().as_millis()),
        Ok(r) => Err(format!("status {}", r.status)),
        Err(e) => Err(format!("{e} after {:?}", start.elapsed())),
    }
}

#[test]
fn unix_socket_answers_while_2000_tcp_connections_are_held() {
    raise_own_nofile();
    let port = free_port();
    let d = memd(port);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    for i in 0..CONNECTIONS {
        let (stop, tally) = (stop.clone(), tally.clone());
        if i < KEEPALIVE {
            rt.spawn(keepalive(port, stop, tally));
        } else {
            rt.spawn(idle(port, stop, tally));
        }
    }
    // Let the flood take hold: more clients connected than the daemon has descriptors
    // (the kernel completes connections into the listener's backlog, so without caps this
    // still passes once its descriptors are gone).
    let deadline = Instant::now() + Duration::from_secs(20);
    while tally.connected.load(Ordering::Relaxed) < 1_500 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let connected = tally.connected.load(Ordering::Relaxed);
    assert!(
        connected > DAEMON_NOFILE,
        "the flood did not connect: {connected}"
    );
    std::thread::sleep(Duration::from_secs(3));

    let answered_before = tally.answered.load(Ordering::Relaxed);
    let mut times = Vec::new();
    for i in 0..15 {
        match unix_health_ms(&d) {
            Ok(ms) => times.push(ms),
            Err(e) => panic!(
                "/v1/health on the Unix socket failed (request {i}, under {} TCP connects): {e}\n{}",
                tally.connected.load(Ordering::Relaxed),
                tail(&d.log())
            ),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let answered = tally.answered.load(Ordering::Relaxed) - answered_before;
    stop.store(true, Ordering::Relaxed);
    rt.shutdown_timeout(Duration::from_secs(5));

    times.sort_unstable();
    let median = times[times.len() / 2];
    eprintln!(
        "unix /v1/health under a {CONNECTIONS}-connection TCP flood: median {median} ms, max {} ms \
         ({answered} TCP health answers meanwhile, {} TCP connects in all)",
        times[times.len() - 1],
        tally.connected.load(Ordering::Relaxed)
    );
    assert!(
        answered > 0,
        "the flood was being served during the measurement"
    );
    assert!(
        median < 2_000,
        "median {median} ms: {times:?}\n{}",
        tail(&d.log())
    );

    // The flood left nothing behind: TCP is served again, and the accept errors (if any)
    // were reported at most once a second, not every 50 ms.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut s = tokio::time::timeout(
            Duration::from_secs(10),
            TcpStream::connect(("127.0.0.1", port)),
        )
        .await
        .expect("TCP connect after the flood")
        .unwrap();
        let closes = tokio::time::timeout(Duration::from_secs(10), health(&mut s))
            .await
            .expect("TCP health after the flood")
            .unwrap();
        assert!(closes, "an unauthenticated answer closes its connection");
    });
    let log = d.log();
    let accept_lines = log.matches("accept failed").count();
    assert!(
        accept_lines <= 30,
        "{accept_lines} accept-error lines:\n{}",
        tail(&log)
    );
}

#[test]
fn unauthenticated_tcp_answers_close_and_authorized_ones_keep_alive() {
    let port = free_port();
    let d = memd(port);
    let token = std::fs::read_to_string(d.dirs.state().join("api-token")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // The health probe and a refusal: one answer, then the daemon closes.
        for request in [
            "GET /v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n".to_string(),
            "GET /api/stats HTTP/1.1\r\nHost: localhost\r\n\r\n".to_string(),
            "GET /v1/health HTTP/1.1\r\nHost: evil.example\r\n\r\n".to_string(),
        ] {
            let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            s.write_all(request.as_bytes()).await.unwrap();
            let mut all = Vec::new();
            tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut all))
                .await
                .unwrap_or_else(|_| panic!("connection kept open after {request:?}"))
                .unwrap();
            let text = String::from_utf8_lossy(&all).to_ascii_lowercase();
            assert!(text.contains("connection: close"), "{text}");
        }
        // With the token the connection is kept for the next request.
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        for _ in 0..2 {
            let req = format!(
                "GET /v1/health HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\r\n",
                token.trim()
            );
            let text = tokio::time::timeout(Duration::from_secs(10), exchange(&mut s, &req))
                .await
                .unwrap()
                .unwrap();
            assert!(text.starts_with("http/1.1 200"), "{text}");
            assert!(!text.contains("connection: close"), "{text}");
        }
    });
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
