//! Running claude-meshd for tests: a child process with its own runtime, state and config
//! (one "machine" each), JSON requests over its socket, and an SSE reader.
#![allow(dead_code)]

// Also loaded by the other harnesses a test may include: one copy each is fine.
/// The mesh tests' temporary directories (`CLAUDE_DAEMONS_TEST_KEEP=1` keeps them).
#[allow(clippy::duplicate_mod)]
#[path = "scratch.rs"]
pub mod scratch;

use claude_daemons::http::UnixClient;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One daemon and its directories.
pub struct Meshd {
    pub child: Option<Child>,
    pub root: PathBuf,
    pub socket: PathBuf,
    pub state: PathBuf,
    pub env: Vec<(String, String)>,
    pub log: PathBuf,
}

impl Meshd {
    /// Start a daemon under `root` (created if needed) with extra environment, and wait for
    /// it to answer.
    pub fn start(root: &Path, env: &[(&str, &str)]) -> Meshd {
        let mut m = Meshd::configure(root, env);
        m.spawn();
        m.wait_ready();
        m
    }

    /// Member `name` (its directory under `root` and its display name) of the mesh "team"
    /// with `secret`, on the broker at `url`, with a heartbeat every second; started.
    pub fn member(root: &Path, url: &str, name: &str, secret: &str) -> Meshd {
        Meshd::start(
            &root.join(name),
            &[
                ("CLAUDE_DAEMONS_MESH_BROKER_URL", url),
                ("CLAUDE_DAEMONS_MESH_MESH", "team"),
                ("CLAUDE_DAEMONS_MESH_MESH_SECRET", secret),
                ("CLAUDE_DAEMONS_MESH_DISPLAY_NAME", name),
                ("CLAUDE_DAEMONS_MESH_HEARTBEAT_SECS", "1"),
            ],
        )
    }

    /// Directories and environment without starting.
    pub fn configure(root: &Path, env: &[(&str, &str)]) -> Meshd {
        let runtime = root.join("r");
        let state = root.join("s");
        std::fs::create_dir_all(&runtime).unwrap();
        let mut e: Vec<(String, String)> = vec![
            (
                "CLAUDE_DAEMONS_RUNTIME_DIR".into(),
                runtime.display().to_string(),
            ),
            (
                "CLAUDE_DAEMONS_STATE_DIR".into(),
                state.display().to_string(),
            ),
            (
                "CLAUDE_DAEMONS_CONFIG".into(),
                root.join("config.toml").display().to_string(),
            ),
            ("CLAUDE_DAEMONS_MEMORY_VIEWER_PORT".into(), "0".into()),
            ("RUST_LOG".into(), "info".into()),
        ];
        for (k, v) in env {
            e.retain(|(x, _)| x != k);
            e.push((k.to_string(), v.to_string()));
        }
        Meshd {
            child: None,
            root: root.into(),
            socket: runtime.join("meshd.sock"),
            state,
            env: e,
            log: root.join("meshd.log"),
        }
    }

    /// Start the process (appending to its log).
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_claude-meshd"))
            .arg("--foreground")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn claude-meshd");
        self.child = Some(child);
    }

    /// Wait until `/v1/health` answers (panics with the log after 20 s).
    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(r) = UnixClient::new(&self.socket)
                .timeout(Duration::from_secs(2))
                .get("/v1/health")
            {
                if r.status == 200 {
                    return;
                }
            }
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    panic!("claude-meshd exited early ({status}):\n{}", self.log_text());
                }
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("claude-meshd did not become ready:\n{}", self.log_text());
    }

    /// The daemon's stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `kill -9`.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(25);
            loop {
                if let Some(s) = c.try_wait().unwrap() {
                    assert!(s.success(), "meshd exit {s}:\n{}", self.log_text());
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "meshd did not stop:\n{}",
                    self.log_text()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Start again after a stop or kill.
    pub fn restart(&mut self) {
        self.spawn();
        self.wait_ready();
    }

    fn client(&self) -> UnixClient {
        UnixClient::new(&self.socket).timeout(Duration::from_secs(20))
    }

    /// `GET path` → (status, JSON).
    pub fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .client()
            .get(path)
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        (
            r.status,
            serde_json::from_slice(&r.body).unwrap_or(Value::Null),
        )
    }

    /// `POST path` with JSON → (status, JSON).
    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_raw(path, &[], body.to_string().as_bytes())
    }

    /// `POST path` with raw bytes and headers.
    pub fn post_raw(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Value) {
        let mut h = vec![("content-type", "application/json")];
        h.extend_from_slice(headers);
        let r = self
            .client()
            .request("POST", path, &h, Some(body))
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        (
            r.status,
            serde_json::from_slice(&r.body).unwrap_or(Value::Null),
        )
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str) -> (u16, Value) {
        let r = self
            .client()
            .request("DELETE", path, &[], None)
            .unwrap_or_else(|e| panic!("DELETE {path}: {e}"));
        (
            r.status,
            serde_json::from_slice(&r.body).unwrap_or(Value::Null),
        )
    }

    /// Register a Claude session.
    pub fn register(&self, session: &str, name: &str, groups: &[&str], topics: &[&str]) -> Value {
        let (s, v) = self.post(
            "/v1/peers",
            &serde_json::json!({"session_id": session, "name": name, "cwd": "/tmp",
                "hostname": "test", "pid": std::process::id(), "groups": groups, "topics": topics}),
        );
        assert_eq!(s, 200, "{v}");
        v
    }

    /// Send; returns (status, body).
    pub fn send(&self, body: Value) -> (u16, Value) {
        self.post("/v1/send", &body)
    }

    /// The member key.
    pub fn key(&self) -> String {
        let (_, h) = self.get("/v1/health");
        h["member_key"].as_str().unwrap().to_string()
    }

    /// Inbox page as a session (or the operator).
    pub fn inbox(&self, query: &str) -> Vec<Value> {
        let (s, v) = self.get(&format!("/v1/inbox?{query}"));
        assert_eq!(s, 200, "{v}");
        v["items"].as_array().unwrap().clone()
    }

    /// Every inbox item (operator view), paging with the cursor.
    pub fn inbox_all(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let mut since = 0;
        loop {
            let (s, v) = self.get(&format!("/v1/inbox?since={since}&limit=1000"));
            assert_eq!(s, 200, "{v}");
            let items = v["items"].as_array().unwrap().clone();
            if items.is_empty() {
                return out;
            }
            since = v["next_cursor"].as_i64().unwrap();
            out.extend(items);
        }
    }

    /// Outbox rows in a state.
    pub fn outbox(&self, state: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut since = 0;
        loop {
            let (s, v) = self.get(&format!(
                "/v1/outbox?state={state}&since={since}&limit=1000"
            ));
            assert_eq!(s, 200, "{v}");
            let items = v.as_array().unwrap().clone();
            match items.last() {
                None => return out,
                Some(l) => since = l["id"].as_i64().unwrap(),
            }
            out.extend(items);
        }
    }

    /// Open the database directly (tests put rows into states the API cannot reach quickly).
    pub fn sql(&self, sql: &str) {
        let c = rusqlite::Connection::open(self.state.join("mesh.db")).unwrap();
        c.busy_timeout(Duration::from_secs(5)).unwrap();
        c.execute_batch(sql).unwrap();
    }

    /// Wait until `f` holds (panics after `secs`). Through a broker, give a minute: a member
    /// learns another's presence at the next resync when the watch misses it, and a stalled
    /// read of the bucket is only abandoned after 10 s (a 10 s wait for "A knows bob" failed
    /// once in a clean CI run).
    pub fn wait_for(&self, secs: u64, what: &str, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !f() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Meshd {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// One SSE event.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub id: Option<i64>,
    pub kind: String,
    pub data: Value,
}

/// A reader of `GET /v1/events` (HTTP/1.0, so the body is the raw stream).
pub struct Sse {
    reader: BufReader<UnixStream>,
    pub comments: Vec<String>,
}

impl Sse {
    /// Connect with a query and an optional Last-Event-ID.
    pub fn connect(socket: &Path, query: &str, last_event_id: Option<i64>) -> Sse {
        let mut s = UnixStream::connect(socket).unwrap();
        let mut req = format!("GET /v1/events?{query} HTTP/1.0\r\nhost: localhost\r\n");
        if let Some(id) = last_event_id {
            req.push_str(&format!("last-event-id: {id}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut reader = BufReader::new(s);
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        assert!(status.contains(" 200 "), "SSE status: {status}");
        loop {
            let mut l = String::new();
            reader.read_line(&mut l).unwrap();
            if l == "\r\n" || l.is_empty() {
                break;
            }
        }
        Sse {
            reader,
            comments: Vec::new(),
        }
    }

    /// The next event within `timeout`, or None (timeout or end of stream).
    pub fn next(&mut self, timeout: Duration) -> Option<SseEvent> {
        self.reader
            .get_ref()
            .set_read_timeout(Some(timeout))
            .unwrap();
        let (mut id, mut kind, mut data) = (None, String::new(), String::new());
        loop {
            let mut l = String::new();
            match self.reader.read_line(&mut l) {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
            let l = l.trim_end_matches(['\r', '\n']);
            if l.is_empty() {
                if !kind.is_empty() || !data.is_empty() {
                    return Some(SseEvent {
                        id,
                        kind,
                        data: serde_json::from_str(&data).unwrap_or(Value::Null),
                    });
                }
                continue;
            }
            if let Some(c) = l.strip_prefix(':') {
                self.comments.push(c.trim().to_string());
            } else if let Some(v) = l.strip_prefix("id:") {
                id = v.trim().parse().ok();
            } else if let Some(v) = l.strip_prefix("event:") {
                kind = v.trim().to_string();
            } else if let Some(v) = l.strip_prefix("data:") {
                data.push_str(v.trim_start());
            }
        }
    }

    /// Next event of `kind`, skipping others.
    pub fn next_of(&mut self, kind: &str, timeout: Duration) -> Option<SseEvent> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let e = self.next(left.max(Duration::from_millis(1)))?;
            if e.kind == kind {
                return Some(e);
            }
        }
    }
}
