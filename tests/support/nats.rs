//! A real nats-server with JetStream on a free loopback port and a temporary store, started
//! and stopped (or killed) by the tests.
#![allow(dead_code)]

// Also loaded by the other harnesses a test may include: one copy each is fine.
#[allow(clippy::duplicate_mod)]
#[path = "http.rs"]
mod http;

use http::free_port;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running (or stopped) nats-server.
pub struct Nats {
    child: Option<Child>,
    config: Option<PathBuf>,
    pub port: u16,
    pub store: PathBuf,
    log: PathBuf,
}

impl Nats {
    /// Start on a free port with its store under `dir`.
    pub fn start(dir: &Path) -> Nats {
        Nats::start_with(dir, None)
    }

    /// Start with extra server configuration (e.g. `max_payload: 8192`).
    pub fn start_with(dir: &Path, config: Option<&str>) -> Nats {
        let config = config.map(|text| {
            let p = dir.join("nats.conf");
            std::fs::write(&p, text).unwrap();
            p
        });
        let mut n = Nats {
            child: None,
            config,
            port: free_port(),
            store: dir.join("nats-store"),
            log: dir.join("nats.log"),
        };
        n.spawn();
        n
    }

    /// The server's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut cmd = Command::new("nats-server");
        if let Some(c) = &self.config {
            cmd.arg("-c").arg(c);
        }
        let child = cmd
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(&self.store)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "nats-server is missing ({e}): run scripts/test, which installs what the tests need"
                )
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && std::fs::read_to_string(&self.log)
                    .unwrap_or_default()
                    .matches("Server is ready")
                    .count()
                    > 0
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "nats-server did not start:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `kill -9` the server (its store stays).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Forget earlier readiness lines so a restart waits for its own.
        let _ = std::fs::write(&self.log, b"");
    }

    /// Start again on the same port and store.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Whether any file of the store contains `needle` (plaintext on the broker).
    pub fn store_contains(&self, needle: &[u8]) -> bool {
        fn walk(p: &Path, needle: &[u8]) -> bool {
            let Ok(rd) = std::fs::read_dir(p) else {
                return false;
            };
            rd.flatten().any(|e| {
                let path = e.path();
                if path.is_dir() {
                    walk(&path, needle)
                } else {
                    std::fs::read(&path)
                        .map(|b| b.windows(needle.len()).any(|w| w == needle))
                        .unwrap_or(false)
                }
            })
        }
        walk(&self.store, needle)
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
    }
}
