//! The daemons `claudectl bench` measures: the installed programs, started in a fresh
//! temporary directory (sockets, state, config, HOME) so that the user's own daemons and
//! data are never touched, and stopped — SIGTERM, then wait — when the bench ends, fails or
//! is interrupted ([`Scratch`]'s `Drop`), the directory going with them.

use super::BenchError;
use crate::daemon_client::Api;
use claude_daemons::api::Health;
use claude_daemons::paths::{socket_path_fits, Daemon, Paths};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a scratch daemon may take to answer its first health check.
const READY_WITHIN: Duration = Duration::from_secs(20);
/// How long a scratch daemon may take to drain after SIGTERM before it is killed.
const STOP_WITHIN: Duration = Duration::from_secs(10);

/// Variables of the user's session that must not reach the scratch daemons: their own
/// settings (`CLAUDE_DAEMONS_*` overrides such as a broker URL or the Claude provider) and a
/// service manager's hand-over (sockets, notify socket, journal).
fn inherited_but_not_ours(name: &str) -> bool {
    name.starts_with("CLAUDE_DAEMONS_")
        || name.starts_with("LISTEN_")
        || name.starts_with("WATCHDOG_")
        || matches!(name, "NOTIFY_SOCKET" | "JOURNAL_STREAM" | "RUST_LOG")
}

/// One started daemon.
pub struct Running {
    /// Which.
    pub daemon: Daemon,
    /// Its `/v1/health` answer when it became ready (pid, version).
    pub health: Health,
    child: Child,
}

/// A temporary directory holding the scratch daemons' sockets, state and config.
pub struct Scratch {
    paths: Paths,
    root: PathBuf,
    running: Vec<Running>,
    // Declared last: dropped after the daemons are stopped.
    dir: tempfile::TempDir,
}

impl Scratch {
    /// A fresh directory: in `$TMPDIR`, or in /tmp when `$TMPDIR` is too long for the
    /// sockets' paths (macOS).
    pub fn new() -> Result<Scratch, BenchError> {
        let make = |base: &Path| {
            tempfile::Builder::new()
                .prefix("claudectl-bench-")
                .tempdir_in(base)
        };
        let mut dir = make(&std::env::temp_dir())
            .map_err(|e| anyhow::anyhow!("cannot create a temporary directory: {e}"))?;
        if !socket_path_fits(&dir.path().join("run/supervisord.sock")) {
            dir = make(Path::new("/tmp"))
                .map_err(|e| anyhow::anyhow!("cannot create a directory in /tmp: {e}"))?;
        }
        let root = dir.path().to_path_buf();
        let paths = Paths {
            runtime_dir: root.join("run"),
            state_dir: root.join("state"),
            config_file: root.join("config.toml"),
        };
        for sub in ["home", "project/.git", "project/src"] {
            std::fs::create_dir_all(root.join(sub))
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", root.join(sub).display()))?;
        }
        Ok(Scratch {
            paths,
            root,
            running: Vec::new(),
            dir,
        })
    }

    /// A project (a git root) for the hook payloads, as claude-memd names it (no symlinks:
    /// /tmp is one on macOS).
    pub fn project(&self) -> PathBuf {
        let p = self.root.join("project");
        p.canonicalize().unwrap_or(p)
    }

    /// `program` with the scratch environment: its sockets, state, config and HOME.
    pub fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        for (name, _) in std::env::vars_os() {
            if name.to_str().is_some_and(inherited_but_not_ours) {
                cmd.env_remove(name);
            }
        }
        let home = self.root.join("home");
        cmd.env("CLAUDE_DAEMONS_RUNTIME_DIR", &self.paths.runtime_dir)
            .env("CLAUDE_DAEMONS_STATE_DIR", &self.paths.state_dir)
            .env("CLAUDE_DAEMONS_CONFIG", &self.paths.config_file)
            .env("CLAUDE_DAEMONS_MEMORY_VIEWER_PORT", "0")
            .env("XDG_STATE_HOME", home.join(".local/state"))
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            // Logging costs time on every request: only what goes wrong.
            .env("RUST_LOG", "warn")
            .env("HOME", home);
        cmd
    }

    /// Start `daemon` from `program` and wait until it answers `/v1/health`.
    pub fn start(&mut self, daemon: Daemon, program: &Path) -> Result<&Running, BenchError> {
        let log_path = self.log(daemon);
        let log = std::fs::File::create(&log_path)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", log_path.display()))?;
        let mut cmd = self.command(program);
        cmd.args(["--foreground", "--idle-timeout", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            // Not in the terminal's process group: Ctrl-C reaches claudectl only, which then
            // stops the daemons in order and removes the directory.
            .process_group(0);
        #[cfg(target_os = "linux")]
        // SAFETY: prctl is async-signal-safe and touches only the child being set up. Should
        // claudectl itself be killed (SIGKILL skips every cleanup), the daemon is told to stop.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| anyhow::anyhow!("cannot start {}: {e}", program.display()))?;
        match self.wait_ready(daemon, &mut child) {
            Ok(health) => {
                self.running.push(Running {
                    daemon,
                    health,
                    child,
                });
                Ok(self.running.last().expect("just pushed"))
            }
            Err(e) => {
                stop(&mut child);
                Err(e)
            }
        }
    }

    fn wait_ready(&self, daemon: Daemon, child: &mut Child) -> Result<Health, BenchError> {
        let api = self.api(daemon).timeout(Duration::from_secs(2));
        let started = Instant::now();
        loop {
            super::check_interrupt()?;
            if let Ok(Some(status)) = child.try_wait() {
                return Err(BenchError::NotStarted {
                    program: daemon.program(),
                    why: format!("it exited ({status})"),
                    log: self.log_tail(daemon),
                });
            }
            if let Ok((h, _)) = api.get::<Health>("/v1/health") {
                return Ok(h);
            }
            if started.elapsed() > READY_WITHIN {
                return Err(BenchError::NotStarted {
                    program: daemon.program(),
                    why: format!(
                        "nothing answered on {} within {} s",
                        self.paths.socket(daemon).display(),
                        READY_WITHIN.as_secs()
                    ),
                    log: self.log_tail(daemon),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The scratch daemon's API.
    pub fn api(&self, daemon: Daemon) -> Api {
        Api::at(daemon, self.paths.socket(daemon))
    }

    /// The daemons started so far.
    pub fn running(&self) -> &[Running] {
        &self.running
    }

    fn log(&self, daemon: Daemon) -> PathBuf {
        self.root.join(format!("{}.log", daemon.short()))
    }

    fn log_tail(&self, daemon: Daemon) -> String {
        let text = std::fs::read_to_string(self.log(daemon)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Stop every daemon (SIGTERM, wait) and remove the directory; an error names a daemon
    /// that did not stop cleanly.
    pub fn finish(mut self) -> Result<(), BenchError> {
        let mut unclean = Vec::new();
        for mut r in std::mem::take(&mut self.running) {
            if let Some(how) = stop(&mut r.child) {
                unclean.push(format!("{} {how}", r.daemon.program()));
            }
        }
        let dir = self.dir.path().to_path_buf();
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            unclean.push(format!("cannot remove {}: {e}", dir.display()));
        }
        match unclean.is_empty() {
            true => Ok(()),
            false => Err(anyhow::anyhow!("after the bench: {}", unclean.join("; ")).into()),
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for r in &mut self.running {
            stop(&mut r.child);
        }
    }
}

/// SIGTERM, wait for the drain, SIGKILL past [`STOP_WITHIN`]; what went wrong, if anything.
fn stop(child: &mut Child) -> Option<String> {
    if let Ok(Some(_)) = child.try_wait() {
        return Some("had already exited".into());
    }
    // SAFETY: plain kill(2) on our own child, not yet reaped.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let deadline = Instant::now() + STOP_WITHIN;
    loop {
        match child.try_wait() {
            Ok(Some(s)) if s.success() => return None,
            Ok(Some(s)) => return Some(format!("stopped with {s}")),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Some(format!(
                    "did not stop within {} s; killed",
                    STOP_WITHIN.as_secs()
                ));
            }
        }
    }
}
