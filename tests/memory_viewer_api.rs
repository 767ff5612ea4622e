//! The memory viewer's server side over real HTTP: the one-time login link from `claudectl
//! mem open`, the session cookie, the 401 page, the security headers, forgetting a record
//! (gone from the API, the full-text index, the database file and its WAL) and the stream's
//! `Last-Event-ID` replay. The page itself is driven in a real browser by memory_viewer.rs.

#[path = "support/memd.rs"]
mod memd;

use memd::{contains, git_init, Memd};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;

/// A raw HTTP/1.1 exchange on the viewer's port: (status, headers in lower case, body).
fn tcp(port: u16, method: &str, path: &str, headers: &[&str]) -> (u16, String, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect viewer");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\ncontent-length: 0\r\n"
    );
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head.to_lowercase(), body.to_string())
}

fn mem_open(m: &Memd) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_claudectl"));
    cmd.args(["mem", "open", "--print-url"]);
    for (k, v) in m.env() {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// `claudectl mem open --print-url`, visited: the session cookie's `name=value`.
pub fn login(m: &Memd) -> String {
    let out = mem_open(m);
    assert!(out.status.success(), "{out:?}");
    let url = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let prefix = format!("http://127.0.0.1:{}/login/", m.viewer_port);
    let path = url.strip_prefix(&format!("http://127.0.0.1:{}", m.viewer_port));
    assert!(url.starts_with(&prefix), "{url}");
    let (status, head, _) = tcp(m.viewer_port, "GET", path.unwrap(), &[]);
    assert_eq!(status, 303, "{head}");
    assert!(head.contains("\r\nlocation: /"), "{head}");
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .expect("a cookie")
        .to_string();
    assert!(
        cookie.contains("; httponly") && cookie.contains("; samesite=strict"),
        "{cookie}"
    );
    // A second visit of the same link is refused.
    let (again, _, page) = tcp(m.viewer_port, "GET", path.unwrap(), &[]);
    assert_eq!(again, 401);
    assert!(page.contains("already used or has expired"), "{page}");
    // Header names were lower-cased with the rest; the value is hex and digits.
    cookie.split(';').next().unwrap().to_string()
}

#[test]
fn one_time_link_cookie_401_page_and_headers() {
    let m = Memd::start_with_viewer();
    let port = m.viewer_port;

    // No cookie: a browser gets a page naming the command, an API client JSON.
    let (s, head, body) = tcp(port, "GET", "/", &["accept: text/html"]);
    assert_eq!(s, 401);
    assert!(body.contains("claudectl mem open"), "{body}");
    for h in [
        "content-security-policy: default-src 'none'; script-src 'self'",
        "frame-ancestors 'none'",
        "x-frame-options: deny",
        "x-content-type-options: nosniff",
        "referrer-policy: no-referrer",
    ] {
        assert!(head.contains(h), "missing {h}: {head}");
    }
    let (s, _, body) = tcp(port, "GET", "/api/stats", &[]);
    assert_eq!(s, 401);
    assert!(body.starts_with('{'), "{body}");
    // A guessed or forged login fails like a used one.
    assert_eq!(tcp(port, "GET", "/login/00", &[]).0, 401);
    let (s, _, _) = tcp(
        port,
        "GET",
        "/api/stats",
        &["cookie: claude_viewer=9999999999.00"],
    );
    assert_eq!(s, 401);

    let cookie = login(&m);
    let c = format!("cookie: {cookie}");
    let (s, head, body) = tcp(port, "GET", "/", &[&c, "accept: text/html"]);
    assert_eq!(s, 200, "{body}");
    assert!(head.contains("x-frame-options: deny"));
    assert!(body.contains("<script src=\"/assets/app.js\""), "{body}");
    assert!(!body.contains("<script>"), "no inline script");
    for asset in ["app.js", "app.css", "icon.svg"] {
        let (s, _, body) = tcp(port, "GET", &format!("/assets/{asset}"), &[&c]);
        assert_eq!(s, 200, "{asset}");
        assert!(!body.contains("http://") && !body.contains("https://") || asset == "icon.svg");
    }
    assert_eq!(tcp(port, "GET", "/api/stats", &[&c]).0, 200);
    // A state change with the cookie must say where it comes from (a page on loopback).
    assert_eq!(tcp(port, "DELETE", "/v1/observations/1", &[&c]).0, 401);
    let evil = tcp(
        port,
        "DELETE",
        "/v1/observations/1",
        &[&c, "origin: http://evil.example"],
    );
    assert_eq!(evil.0, 403);
    let ours = format!("origin: http://127.0.0.1:{port}");
    assert_eq!(
        tcp(port, "DELETE", "/v1/observations/1", &[&c, &ours]).0,
        404
    );

    // `claudectl status` says where the page is.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_claudectl"));
    cmd.arg("status");
    for (k, v) in m.env() {
        cmd.env(k, v);
    }
    let out = String::from_utf8(cmd.output().unwrap().stdout).unwrap();
    assert!(
        out.contains(&format!("viewer: http://127.0.0.1:{port}/")),
        "{out}"
    );

    // The cookie is stateless: it outlives a restart of the daemon.
    let mut m = m;
    m.stop();
    m.spawn();
    assert_eq!(tcp(port, "GET", "/api/stats", &[&c]).0, 200);
}

#[test]
fn mem_open_says_when_the_viewer_is_off() {
    let m = Memd::start();
    let out = mem_open(&m);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("viewer is off") && err.contains("viewer_port"),
        "{err}"
    );
}

fn ev(repo: &std::path::Path, event: &str, extra: Value) -> Value {
    let mut v = json!({"session_id": "sess-v", "cwd": repo, "hook_event_name": event});
    v.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    v
}

/// Read SSE text from `s` until `done` says it has what it needs.
fn read_until(s: &mut std::net::TcpStream, seen: &mut String, done: impl Fn(&str) -> bool) {
    let mut buf = [0u8; 8192];
    while !done(seen) {
        let n = s.read(&mut buf).expect("stream data within 20 s");
        assert!(n > 0, "stream closed: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
}

#[test]
fn forgetting_leaves_no_trace_and_the_stream_replays_from_last_event_id() {
    let m = Memd::start_with_viewer();
    let repo = m.dir.path().join("viewerapp");
    git_init(&repo);
    let post = |v: Value| m.post("/v1/hook", v.to_string().as_bytes());
    post(ev(
        &repo,
        "UserPromptSubmit",
        json!({"prompt": "rename quuxfrobnicator everywhere"}),
    ));
    for (i, word) in ["zebulonquark", "keepmeplease"].iter().enumerate() {
        post(ev(
            &repo,
            "PostToolUse",
            json!({"tool_name": "Edit", "tool_use_id": format!("t{i}"),
                   "tool_input": {"file_path": repo.join(format!("src/{word}.rs")),
                                  "old_string": "a", "new_string": word}}),
        ));
    }
    m.wait_processed();
    let (_, page) = m.get("/api/observations?project=viewerapp");
    let items = page["observations"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{page}");
    let doomed = items
        .iter()
        .find(|o| o["title"].as_str().unwrap().contains("zebulonquark"))
        .unwrap()["id"]
        .as_i64()
        .unwrap();

    // A client that has nothing (Last-Event-ID 0.0.0) is sent everything, then lives on.
    let cookie = login(&m);
    let mut sse = std::net::TcpStream::connect(("127.0.0.1", m.viewer_port)).unwrap();
    sse.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        sse,
        "GET /stream HTTP/1.1\r\nhost: 127.0.0.1\r\ncookie: {cookie}\r\nlast-event-id: 0.0.0\r\n\r\n"
    )
    .unwrap();
    let mut seen = String::new();
    read_until(&mut sse, &mut seen, |s| {
        s.matches("event: observation-created").count() == 2
            && s.contains("event: user-prompt-created")
    });
    assert!(seen.contains("\"resumed\":true"), "{seen}");
    assert!(
        seen.contains("quuxfrobnicator") && seen.contains("zebulonquark"),
        "{seen}"
    );
    assert!(seen.contains("\"project_name\":\"viewerapp\""), "{seen}");
    // Each event carries the marks a reconnect resumes from.
    assert!(
        seen.contains(&format!("id: {}.0.1", items[0]["id"])),
        "{seen}"
    );

    assert!(contains(&m.raw_bytes(), "zebulonquark"));
    let (s, body) = m.request("DELETE", &format!("/v1/observations/{doomed}"), None);
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["checkpointed"], true, "{body}");
    read_until(&mut sse, &mut seen, |s| s.contains("event: record-deleted"));
    assert!(seen.contains(&format!("\"id\":{doomed}")), "{seen}");

    assert_eq!(m.get(&format!("/v1/observations/{doomed}")).0, 404);
    let (_, hits) = m.get("/v1/search?q=zebulonquark");
    assert_eq!(hits["results"].as_array().unwrap().len(), 0, "{hits}");
    let (_, hits) = m.get("/v1/search?q=keepmeplease");
    assert_eq!(hits["results"].as_array().unwrap().len(), 1, "{hits}");
    let raw = m.raw_bytes();
    assert!(
        !contains(&raw, "zebulonquark"),
        "a copy is left in the file or WAL"
    );
    assert!(contains(&raw, "keepmeplease"));

    // Prompts and summaries go the same way; a second delete is a clean 404.
    let (_, prompts) = m.get("/api/prompts?project=viewerapp");
    let pid = prompts["prompts"][0]["id"].as_i64().unwrap();
    assert_eq!(
        m.request("DELETE", &format!("/v1/prompts/{pid}"), None).0,
        200
    );
    assert!(!contains(&m.raw_bytes(), "quuxfrobnicator"));
    assert_eq!(
        m.request("DELETE", &format!("/v1/prompts/{pid}"), None).0,
        404
    );
    assert_eq!(m.request("DELETE", "/v1/summaries/999999", None).0, 404);
    assert_eq!(m.request("DELETE", "/v1/observations/x", None).0, 400);
}
