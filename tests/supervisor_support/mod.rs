//! Running claude-supervisord for tests: a temp dir with its own socket, state, config and
//! HOME, and small request helpers (plain and SSE) over the Unix socket.
#![allow(dead_code)]

// Also loaded by the other harnesses a test may include: one copy each is fine.
#[allow(clippy::duplicate_mod)]
#[path = "../support/scratch.rs"]
mod scratch;

use claude_daemons::http::UnixClient;
use serde_json::Value;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Supervisor {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub home: PathBuf,
    pub work: PathBuf,
    pub proc: Child,
    config: String,
    env: Vec<(String, OsString)>,
    args: Vec<String>,
}

/// The fake child built from examples/fake_claude.rs.
pub fn fake_claude() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let debug = exe.parent().unwrap().parent().unwrap();
    let p = debug.join("examples/fake_claude");
    assert!(
        p.exists(),
        "{} is missing: `cargo test` builds it; alone, run `cargo build --example fake_claude`",
        p.display()
    );
    p
}

impl Supervisor {
    /// Start with `config` (TOML of the `[supervisor]` table's keys) and extra environment.
    pub fn start(config: &str, env: &[(&str, OsString)], args: &[&str]) -> Supervisor {
        let dir = scratch::kept(
            tempfile::Builder::new()
                .prefix("sup")
                .tempdir_in("/tmp")
                .unwrap(),
        );
        let home = dir.path().join("home");
        let work = dir.path().join("work");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&work).unwrap();
        let mut s = Supervisor {
            socket: dir.path().join("run/supervisord.sock"),
            home,
            work,
            proc: Command::new("true").spawn().unwrap(),
            config: config.into(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            args: args.iter().map(|a| a.to_string()).collect(),
            dir,
        };
        let _ = s.proc.wait();
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let cfg = self.dir.path().join("config.toml");
        std::fs::write(&cfg, format!("[supervisor]\n{}\n", self.config)).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_claude-supervisord"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("RUST_LOG", "info,claude_supervisord=debug")
            .env("CLAUDE_DAEMONS_RUNTIME_DIR", self.dir.path().join("run"))
            .env("CLAUDE_DAEMONS_STATE_DIR", self.dir.path().join("state"))
            .env("CLAUDE_DAEMONS_CONFIG", &cfg)
            // A parent Claude Code session must not leak into children.
            .env("CLAUDECODE", "1")
            .env("WATCHDOG_PID", "1")
            .arg("--foreground")
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.path().join("daemon.log")).unwrap());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        self.proc = cmd.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if UnixClient::new(&self.socket).get("/v1/health").is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("supervisor did not come up: {}", self.log());
    }

    /// SIGTERM, wait for exit (returns the exit code), then start again on the same state.
    pub fn restart(&mut self) -> i32 {
        let code = self.terminate();
        self.spawn();
        code
    }

    /// SIGTERM and wait up to 30 s.
    pub fn terminate(&mut self) -> i32 {
        unsafe { libc::kill(self.proc.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(st) = self.proc.try_wait().unwrap() {
                return st.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "supervisor did not exit on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    fn client(&self) -> UnixClient {
        UnixClient::new(&self.socket).timeout(Duration::from_secs(60))
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .client()
            .get(path)
            .unwrap_or_else(|e| panic!("GET {path}: {e}\n{}", self.log()));
        (
            r.status,
            serde_json::from_slice(&r.body).unwrap_or(Value::Null),
        )
    }

    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .client()
            .post_json(path, body.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("POST {path}: {e}\n{}", self.log()));
        (
            r.status,
            serde_json::from_slice(&r.body).unwrap_or(Value::Null),
        )
    }

    pub fn put(&self, path: &str, body: &Value) -> (u16, Value) {
        let b = body.to_string();
        let r = self
            .client()
            .request(
                "PUT",
                path,
                &[("content-type", "application/json")],
                Some(b.as_bytes()),
            )
            .unwrap_or_else(|e| panic!("PUT {path}: {e}\n{}", self.log()));
        (
            r.status,
            serde_json::from_slice(&r.body).unwrap_or(Value::Null),
        )
    }

    pub fn delete(&self, path: &str) -> (u16, Value) {
        let r = self
            .client()
            .request("DELETE", path, &[], None)
            .unwrap_or_else(|e| panic!("DELETE {path}: {e}\n{}", self.log()));
        (
            r.status,
            serde_json::from_slice(&r.body).unwrap_or(Value::Null),
        )
    }

    pub fn ask(&self, key: &str, body: Value) -> (u16, Value) {
        self.post(&format!("/v1/sessions/{key}/ask"), &body)
    }

    /// An SSE ask; every event with when it arrived.
    pub fn ask_sse(&self, key: &str, body: Value) -> (u16, Vec<SseEvent>) {
        sse(
            &self.socket,
            "POST",
            &format!("/v1/sessions/{key}/ask"),
            Some(&body.to_string()),
            None,
        )
    }

    pub fn session(&self, key: &str) -> Value {
        let (status, v) = self.get(&format!("/v1/sessions/{key}"));
        assert_eq!(status, 200, "{v}");
        v
    }

    /// Lifecycle events of `key` from the status ring, as `kind` strings.
    pub fn events(&self, key: &str) -> Vec<String> {
        let (_, st) = self.get("/v1/status");
        st["recent_events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["key"] == key)
            .map(|e| e["kind"].as_str().unwrap().to_string())
            .collect()
    }

    /// Wait until `f` holds (polling), or panic with `what`.
    pub fn wait_for(&self, what: &str, limit: Duration, mut f: impl FnMut(&Supervisor) -> bool) {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if f(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("timed out waiting for {what}\n{}", self.log());
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        let _ = self.proc.kill();
        let _ = self.proc.wait();
    }
}

#[derive(Debug, Clone)]
pub struct SseEvent {
    pub at: Instant,
    pub event: String,
    pub data: String,
}

/// A request whose answer is read as SSE until the server closes; returns the status and the
/// events with their arrival times.
pub fn sse(
    socket: &Path,
    method: &str,
    path: &str,
    body: Option<&str>,
    stop_after: Option<usize>,
) -> (u16, Vec<SseEvent>) {
    sse_with(socket, method, path, "", body, stop_after)
}

/// How long an SSE read waits in all for the events it stops after: keep-alive comments
/// would otherwise keep a stream that missed its events open for ever.
const SSE_WAIT: Duration = Duration::from_secs(180);

/// [`sse`] with extra request header lines (`"name: value\r\n"` each).
pub fn sse_with(
    socket: &Path,
    method: &str,
    path: &str,
    headers: &str,
    body: Option<&str>,
    stop_after: Option<usize>,
) -> (u16, Vec<SseEvent>) {
    let started = Instant::now();
    let mut s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nhost: localhost\r\n{headers}accept: text/event-stream\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut r = BufReader::new(s);
    let mut status_line = String::new();
    r.read_line(&mut status_line).unwrap();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let mut chunked = false;
    loop {
        let mut h = String::new();
        r.read_line(&mut h).unwrap();
        if h.to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            chunked = true;
        }
        if h == "\r\n" || h.is_empty() {
            break;
        }
    }
    let mut events = Vec::new();
    let (mut event, mut data) = (String::new(), String::new());
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        if stop_after.is_some() && started.elapsed() > SSE_WAIT {
            break;
        }
        let l = line.trim_end_matches(['\r', '\n']);
        // Chunk-size lines are hex digits alone; SSE lines always have a colon or are empty.
        if chunked && !l.is_empty() && !l.contains(':') && l.chars().all(|c| c.is_ascii_hexdigit())
        {
            continue;
        }
        if let Some(v) = l.strip_prefix("event:") {
            event = v.trim().into();
        } else if let Some(v) = l.strip_prefix("data:") {
            data.push_str(v.strip_prefix(' ').unwrap_or(v));
        } else if l.is_empty() && !data.is_empty() {
            events.push(SseEvent {
                at: Instant::now(),
                event: std::mem::take(&mut event),
                data: std::mem::take(&mut data),
            });
            if stop_after.is_some_and(|n| events.len() >= n) {
                break;
            }
        }
    }
    (status, events)
}

/// Whether a process is alive (and not a zombie).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.split(") ").nth(1).unwrap_or("").starts_with('Z'))
        .unwrap_or(false)
}
