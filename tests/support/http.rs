//! Small request helpers for tests: over the daemons' Unix sockets with the library's own
//! client, and over loopback TCP with a raw request so headers are exactly what a test says.
#![allow(dead_code)]

use claude_daemons::http::UnixClient;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

/// `GET path` on a Unix socket; returns (status, body as JSON).
pub fn get_json(socket: &Path, path: &str) -> (u16, serde_json::Value) {
    let r = UnixClient::new(socket)
        .timeout(Duration::from_secs(20))
        .get(path)
        .unwrap_or_else(|e| panic!("GET {path} on {}: {e}", socket.display()));
    let body = serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null);
    (r.status, body)
}

/// A raw HTTP/1.1 request on loopback TCP; returns (status, body).
pub fn tcp_request(port: u16, method: &str, path: &str, headers: &[&str]) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect TCP");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nconnection: close\r\ncontent-length: 0\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|x| x.1)
        .unwrap_or("")
        .to_string();
    (status, body)
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `POST path` with `body` written from another thread, reading the answer meanwhile: a
/// daemon may answer 413 and close before a large body is all written. Returns (status,
/// body of the answer).
pub fn post_unread(socket: &Path, path: &str, body: Vec<u8>) -> (u16, String) {
    let mut s = std::os::unix::net::UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    let writer = std::thread::spawn(move || {
        let _ = w.write_all(&req);
    });
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    drop(s);
    writer.join().unwrap();
    let text = String::from_utf8_lossy(&out);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let answer = text
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    (status, answer)
}
