//! A daemon as a child process in a temporary directory (self-bound sockets), the way pueue's
//! tests run a real daemon: `TestDaemon::start("claude-memd", &[])`.
#![allow(dead_code)]

// Also loaded by the other harnesses a test may include: one copy each is fine.
#[allow(clippy::duplicate_mod)]
#[path = "scratch.rs"]
mod scratch;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary of a program of this package.
pub fn bin(program: &str) -> &'static str {
    match program {
        "claude-memd" => env!("CARGO_BIN_EXE_claude-memd"),
        "claude-supervisord" => env!("CARGO_BIN_EXE_claude-supervisord"),
        "claude-meshd" => env!("CARGO_BIN_EXE_claude-meshd"),
        "claude-hook" => env!("CARGO_BIN_EXE_claude-hook"),
        "claudectl" => env!("CARGO_BIN_EXE_claudectl"),
        other => panic!("unknown program {other}"),
    }
}

/// Directories for one daemon instance, short enough for socket paths.
pub struct Dirs {
    pub tmp: tempfile::TempDir,
}

impl Dirs {
    pub fn new() -> Dirs {
        Dirs {
            tmp: scratch::kept(
                tempfile::Builder::new()
                    .prefix("cd-")
                    .tempdir_in("/tmp")
                    .unwrap(),
            ),
        }
    }
    pub fn runtime(&self) -> PathBuf {
        self.tmp.path().join("rt")
    }
    pub fn state(&self) -> PathBuf {
        self.tmp.path().join("state")
    }
    pub fn config(&self) -> PathBuf {
        self.tmp.path().join("config.toml")
    }
    /// A command for `program` with this instance's paths and nothing inherited that could
    /// redirect it (service-manager variables, the user's own config).
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(bin(program));
        for var in [
            "LISTEN_PID",
            "LISTEN_FDS",
            "LISTEN_FDNAMES",
            "NOTIFY_SOCKET",
            "WATCHDOG_USEC",
            "JOURNAL_STREAM",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("CLAUDE_DAEMONS_RUNTIME_DIR", self.runtime())
            .env("CLAUDE_DAEMONS_STATE_DIR", self.state())
            .env("CLAUDE_DAEMONS_CONFIG", self.config())
            .env("CLAUDE_DAEMONS_MEMORY_VIEWER_PORT", "0")
            .stdin(Stdio::null());
        cmd
    }

    /// `program` started through `sh` so that `exports` (e.g. `LISTEN_PID=$$`) can name the
    /// daemon's own pid the way a service manager's variables do: `exec` keeps the shell's
    /// pid. Arguments added to the command reach the daemon.
    pub fn command_via_shell(&self, program: &str, exports: &str) -> Command {
        let mut sh = Command::new("sh");
        sh.args([
            "-c",
            &format!("export {exports}; exec \"$0\" \"$@\""),
            bin(program),
        ]);
        for (k, v) in self.command(program).get_envs() {
            match v {
                Some(v) => sh.env(k, v),
                None => sh.env_remove(k),
            };
        }
        sh.stdin(Stdio::null());
        sh
    }
}

/// A running daemon; killed on drop.
pub struct TestDaemon {
    pub dirs: Dirs,
    pub child: Child,
    pub socket: PathBuf,
}

impl TestDaemon {
    /// Start `program --foreground ARGS` and wait until its socket answers.
    pub fn start(program: &str, args: &[&str]) -> TestDaemon {
        TestDaemon::start_in(Dirs::new(), program, args, |_| {})
    }

    /// Start with extra setup of the command.
    pub fn start_in(
        dirs: Dirs,
        program: &str,
        args: &[&str],
        setup: impl FnOnce(&mut Command),
    ) -> TestDaemon {
        let short = program.trim_start_matches("claude-");
        let socket = dirs.runtime().join(format!("{short}.sock"));
        let mut cmd = dirs.command(program);
        // A file, not a pipe: nobody reads a pipe during the test, and a full one would
        // block the daemon's logging.
        let log = std::fs::File::create(dirs.tmp.path().join("daemon.log")).unwrap();
        cmd.arg("--foreground").args(args).stderr(log);
        setup(&mut cmd);
        let child = cmd.spawn().unwrap();
        let mut d = TestDaemon {
            dirs,
            child,
            socket,
        };
        d.wait_ready();
        d
    }

    /// Ready means serving, not merely bound: the socket accepts connections into its
    /// backlog before the daemon has finished starting.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let health = claude_daemons::http::UnixClient::new(&self.socket)
                .timeout(Duration::from_secs(2))
                .get("/v1/health");
            if health.is_ok_and(|r| r.status == 200) {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("daemon exited before listening: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "daemon did not listen on {}",
                self.socket.display()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// What the daemon logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dirs.tmp.path().join("daemon.log")).unwrap_or_default()
    }

    /// Send `sig` and wait for the exit, returning its output.
    pub fn signal_and_wait(mut self, sig: i32) -> Output {
        unsafe { libc::kill(self.pid(), sig) };
        let child = std::mem::replace(&mut self.child, Command::new("true").spawn().unwrap());
        child.wait_with_output().unwrap()
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run `cmd` to completion with a deadline.
pub fn run_with_deadline(cmd: &mut Command, limit: Duration) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output().unwrap()));
    rx.recv_timeout(limit).unwrap_or_else(|_| {
        unsafe { libc::kill(pid, libc::SIGKILL) };
        panic!("command did not finish within {limit:?}")
    })
}

/// Whether `path` exists and is a socket.
pub fn is_socket(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

/// A child killed (and reaped) on drop, so a failing test leaves no daemon behind.
pub struct KillOnDrop(pub Option<Child>);

impl KillOnDrop {
    pub fn pid(&self) -> i32 {
        self.0.as_ref().unwrap().id() as i32
    }
    pub fn wait(mut self) -> std::process::ExitStatus {
        self.0.take().unwrap().wait().unwrap()
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
