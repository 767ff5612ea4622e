//! claude-meshd's refusals: a state directory from another host (exit 4 with both ids, warn,
//! accept-host), another uid on the socket, TCP without the bearer token.

#[path = "support/http.rs"]
mod http;
#[path = "support/meshd.rs"]
mod meshd;

use meshd::Meshd;
use serde_json::{json, Value};

fn tmp() -> tempfile::TempDir {
    meshd::scratch::kept(
        tempfile::Builder::new()
            .prefix("cm")
            .tempdir_in("/tmp")
            .unwrap(),
    )
}

#[test]
fn host_fingerprint_refusal_warn_and_accept() {
    let dir = tmp();
    let mut m = Meshd::start(dir.path(), &[]);
    m.stop();
    let file = m.state.join("host-fingerprint.json");
    let mut rec: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let real = rec["fingerprint"].as_str().unwrap().to_string();
    rec["fingerprint"] = json!("0".repeat(64));
    rec["machine-id"] = json!("elsewhere");
    std::fs::write(&file, rec.to_string()).unwrap();

    let run = |extra: &[(&str, &str)], args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_claude-meshd"))
            .args(args)
            .envs(m.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(extra.iter().copied())
            .output()
            .unwrap()
    };
    let out = run(&[], &["--foreground"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(
        err.contains(&"0".repeat(64)) && err.contains(&real),
        "both ids printed: {err}"
    );
    assert!(err.contains("--accept-host"), "{err}");

    // warn: starts anyway.
    let mut w = Meshd::configure(dir.path(), &[("CLAUDE_DAEMONS_MESH_HOST_POLICY", "warn")]);
    w.spawn();
    w.wait_ready();
    w.stop();
    assert!(w.log_text().contains("another host"), "{}", w.log_text());

    let out = run(&[], &["--accept-host"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    m.restart();
}

#[test]
fn other_uid_is_refused_on_the_socket() {
    let dir = tmp();
    let m = Meshd::start(dir.path(), &[]);
    // Open the modes so only the peer-credential check stands in the way.
    use std::os::unix::fs::PermissionsExt;
    for p in [dir.path(), &dir.path().join("r"), &m.socket] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    // The daemon may answer and close before the request is written: read regardless.
    let script = format!(
        "import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect({:?})\n\
         try:\n    s.sendall(b'GET /v1/peers HTTP/1.1\\r\\nhost: localhost\\r\\n\\r\\n')\n\
         except OSError:\n    pass\n\
         print(s.recv(4096).decode())\n",
        m.socket.display().to_string()
    );
    let out = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/usr/bin/python3",
            "-c",
            &script,
        ])
        .output()
        .expect("setpriv and /usr/bin/python3 are required (util-linux, python3)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("HTTP/1.1 403"),
        "stdout {text} stderr {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("peer uid is not the owner"), "{text}");
}

#[test]
fn tcp_needs_the_bearer_token() {
    let dir = tmp();
    let port = http::free_port();
    let port_s = port.to_string();
    let m = Meshd::start(dir.path(), &[("CLAUDE_DAEMONS_MESH_TCP_PORT", &port_s)]);
    let token = std::fs::read_to_string(m.state.join("api-token")).unwrap();
    let host = "Host: 127.0.0.1";
    let (s, _) = http::tcp_request(port, "GET", "/v1/health", &[host]);
    assert_eq!(s, 200, "health probe is open");
    let (s, body) = http::tcp_request(port, "GET", "/v1/peers", &[host]);
    assert_eq!(s, 401, "{body}");
    let (s, _) = http::tcp_request(
        port,
        "GET",
        "/v1/peers",
        &[host, "Authorization: Bearer wrong"],
    );
    assert_eq!(s, 401);
    let (s, _) = http::tcp_request(port, "GET", &format!("/v1/peers?token={token}"), &[host]);
    assert_eq!(s, 400, "token in the URL refused");
    let auth = format!("Authorization: Bearer {token}");
    let (s, body) = http::tcp_request(port, "GET", "/v1/peers", &[host, &auth]);
    assert_eq!(s, 200, "{body}");
    let (s, _) = http::tcp_request(port, "GET", "/v1/peers", &["Host: evil.example", &auth]);
    assert_eq!(s, 421);
    let (s, _) = http::tcp_request(
        port,
        "POST",
        "/v1/send",
        &[host, &auth, "Origin: https://evil.example"],
    );
    assert_eq!(s, 403);
    m.register("sess-a", "alice", &[], &[]);
}
