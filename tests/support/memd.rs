//! A claude-memd child process in a temporary directory (self-bound socket), with helpers to
//! talk to it, read its database, kill it hard and start it again on the same state.
#![allow(dead_code)] // each test file uses a different part

// Also loaded by the other harnesses a test may include: one copy each is fine.
#[allow(clippy::duplicate_mod)]
#[path = "scratch.rs"]
mod scratch;

use claude_daemons::http::UnixClient;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running (or killed) claude-memd.
pub struct Memd {
    /// Holds runtime, state and config; removed on drop.
    pub dir: tempfile::TempDir,
    /// The daemon process.
    pub child: Option<Child>,
    /// The viewer's loopback port (0: off, the default here).
    pub viewer_port: u16,
}

impl Memd {
    /// Start a fresh daemon.
    pub fn start() -> Memd {
        Memd::start_with_config("")
    }

    /// Start a fresh daemon with `config` as its config.toml.
    pub fn start_with_config(config: &str) -> Memd {
        Memd::start_on(config, 0)
    }

    /// Start a fresh daemon serving the viewer on a free loopback port.
    pub fn start_with_viewer() -> Memd {
        Memd::start_with_viewer_and_config("")
    }

    /// Start a fresh daemon serving the viewer, with `config` as its config.toml.
    pub fn start_with_viewer_and_config(config: &str) -> Memd {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Memd::start_on(config, port)
    }

    fn start_on(config: &str, viewer_port: u16) -> Memd {
        let mut m = Memd::prepare_on(config, viewer_port);
        m.spawn();
        m
    }

    /// The directories and config of a fresh daemon, not started yet ([`Memd::spawn`]).
    pub fn prepare(config: &str) -> Memd {
        Memd::prepare_on(config, 0)
    }

    fn prepare_on(config: &str, viewer_port: u16) -> Memd {
        let dir = scratch::kept(
            tempfile::Builder::new()
                .prefix("cdm")
                .tempdir_in("/tmp")
                .unwrap(),
        );
        std::fs::create_dir_all(dir.path().join("run")).unwrap();
        std::fs::create_dir_all(dir.path().join("state")).unwrap();
        std::fs::write(dir.path().join("config.toml"), config).unwrap();
        Memd {
            dir,
            child: None,
            viewer_port,
        }
    }

    /// Environment pointing a daemon, a hook or Claude Code at this instance.
    pub fn env(&self) -> Vec<(&'static str, PathBuf)> {
        let d = self.dir.path();
        vec![
            ("CLAUDE_DAEMONS_RUNTIME_DIR", d.join("run")),
            ("CLAUDE_DAEMONS_STATE_DIR", d.join("state")),
            ("CLAUDE_DAEMONS_CONFIG", d.join("config.toml")),
        ]
    }

    /// The Unix socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("run/memd.sock")
    }

    /// The database file.
    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("state/memory.db")
    }

    /// Start the daemon (again) and wait until it answers.
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("memd.log"))
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_claude-memd"));
        cmd.args(["--foreground", "--idle-timeout", "0"])
            .env(
                "CLAUDE_DAEMONS_MEMORY_VIEWER_PORT",
                self.viewer_port.to_string(),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in self.env() {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().expect("spawn claude-memd"));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = self.client(Duration::from_secs(2)).get("/v1/health") {
                if r.status == 200 {
                    return;
                }
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("claude-memd exited with {status}: {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "claude-memd did not answer: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM the daemon and wait for its exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("running");
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        c.wait().unwrap()
    }

    /// SIGKILL the daemon and reap it.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("memd.log")).unwrap_or_default()
    }

    /// A client with `timeout`.
    pub fn client(&self, timeout: Duration) -> UnixClient {
        UnixClient::new(self.socket()).timeout(timeout)
    }

    /// `GET path` → (status, JSON).
    pub fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .client(Duration::from_secs(20))
            .get(path)
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        (
            r.status,
            serde_json::from_slice(&r.body).unwrap_or(Value::Null),
        )
    }

    /// `POST path` with a body → (status, JSON).
    pub fn post(&self, path: &str, body: &[u8]) -> (u16, Value) {
        let r = self
            .client(Duration::from_secs(20))
            .post_json(path, body)
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        (
            r.status,
            serde_json::from_slice(&r.body).unwrap_or(Value::Null),
        )
    }

    /// Any request → (status, JSON).
    pub fn request(&self, method: &str, path: &str, body: Option<&[u8]>) -> (u16, Value) {
        let r = self
            .client(Duration::from_secs(20))
            .request(method, path, &[("content-type", "application/json")], body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        (
            r.status,
            serde_json::from_slice(&r.body).unwrap_or(Value::Null),
        )
    }

    /// A read connection to the database.
    pub fn db(&self) -> rusqlite::Connection {
        let c = rusqlite::Connection::open(self.db_path()).unwrap();
        c.busy_timeout(Duration::from_secs(10)).unwrap();
        c
    }

    /// One number from the database.
    pub fn count(&self, sql: &str) -> i64 {
        self.db().query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// Wait until no event is pending or processing.
    pub fn wait_processed(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.count("SELECT count(*) FROM events WHERE state IN ('pending', 'processing')") > 0
        {
            assert!(
                Instant::now() < deadline,
                "events not processed: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The raw bytes of the database and its WAL (for "no trace" checks).
    pub fn raw_bytes(&self) -> Vec<u8> {
        let mut all = std::fs::read(self.db_path()).unwrap();
        if let Ok(wal) = std::fs::read(self.db_path().with_extension("db-wal")) {
            all.extend(wal);
        }
        all
    }
}

impl Drop for Memd {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Whether `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Make `dir` a real git repository.
pub fn git_init(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let ok = Command::new("git")
        .args(["init", "-q"])
        .current_dir(dir)
        .status()
        .expect("git is missing: run scripts/test, which installs what the tests need")
        .success();
    assert!(ok, "git init failed in {}", dir.display());
}

/// Make `dir` a git repository whose `origin` is `origin`: a clone as team memory sees it.
pub fn clone_at(dir: &Path, origin: &str) {
    git_init(dir);
    let ok = Command::new("git")
        .args(["remote", "add", "origin", origin])
        .current_dir(dir)
        .status()
        .unwrap()
        .success();
    assert!(ok, "git remote add failed in {}", dir.display());
}

/// The claude-hook binary.
pub fn hook_bin() -> &'static str {
    env!("CARGO_BIN_EXE_claude-hook")
}
