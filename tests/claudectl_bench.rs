//! `claudectl bench`: the real command with the real daemons, as a user runs it (no
//! `CLAUDE_DAEMONS_*` variables, HOME and XDG directories of its own). Every figure comes
//! back with a baseline; the scratch daemons are gone afterwards, also after Ctrl-C; neither
//! HOME, the XDG directories nor the temporary directory keep anything; a wrong --bindir is
//! refused before anything starts, and a daemon that does not start is named.

#[path = "support/daemon.rs"]
mod daemon;

use daemon::{bin, run_with_deadline, KillOnDrop};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A user's session in a temporary directory: HOME, the XDG directories and TMPDIR.
struct Session {
    root: tempfile::TempDir,
}

const DIRS: [&str; 7] = ["home", "run", "state", "config", "data", "cache", "tmp"];

impl Session {
    fn new() -> Session {
        let root = daemon::Dirs::new().tmp;
        for d in DIRS {
            std::fs::create_dir(root.path().join(d)).unwrap();
        }
        Session { root }
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }

    /// `claudectl` in this session; nothing of the test's own environment can point it
    /// elsewhere.
    fn claudectl(&self) -> Command {
        let mut cmd = Command::new(bin("claudectl"));
        for (k, _) in std::env::vars() {
            if k.starts_with("CLAUDE_DAEMONS_") || k.starts_with("XDG_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("HOME", self.dir("home"))
            .env("XDG_RUNTIME_DIR", self.dir("run"))
            .env("XDG_STATE_HOME", self.dir("state"))
            .env("XDG_CONFIG_HOME", self.dir("config"))
            .env("XDG_DATA_HOME", self.dir("data"))
            .env("XDG_CACHE_HOME", self.dir("cache"))
            .env("TMPDIR", self.dir("tmp"))
            .stdin(Stdio::null());
        cmd
    }

    /// Everything below the session's directories (none may keep anything).
    fn leftovers(&self) -> Vec<PathBuf> {
        fn walk(p: &Path, out: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(p).unwrap() {
                let e = e.unwrap().path();
                if e.is_dir() {
                    walk(&e, out);
                }
                out.push(e);
            }
        }
        let mut out = Vec::new();
        for d in DIRS {
            walk(&self.dir(d), &mut out);
        }
        out
    }
}

fn bindir() -> &'static Path {
    Path::new(bin("claude-memd")).parent().unwrap()
}

fn alive(pid: i64) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
}

#[test]
fn bench_reports_every_figure_with_a_baseline_and_leaves_nothing() {
    let s = Session::new();
    let out = run_with_deadline(
        s.claudectl()
            .args(["bench", "--iterations", "20", "--json", "--bindir"])
            .arg(bindir()),
        Duration::from_secs(120),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench failed: {stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "no progress bar without a terminal: {stderr:?}"
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is one JSON object ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    assert_eq!(report["iterations"], 20);
    let figures = report["figures"].as_array().unwrap();
    let ids: Vec<&str> = figures.iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "memory.search",
            "memory.context",
            "memory.intake",
            "hook.post_tool_use",
            "hook.session_start",
            "mesh.delivery",
            "mesh.sends"
        ]
    );
    for f in figures {
        let num = |v: &Value| v.as_f64().unwrap_or_else(|| panic!("number in {f}"));
        assert_eq!(f["n"], 20, "{f}");
        assert!(num(&f["p50"]) > 0.0 && num(&f["mean"]) > 0.0, "{f}");
        assert!(num(&f["p99"]) > 0.0, "{f}");
        assert!(num(&f["baseline"]["p50"]) > 0.0, "{f}");
        assert!(f["baseline"]["id"].is_string(), "{f}");
        let ratio = num(&f["ratio"]);
        let expected = num(&f["p50"]) / num(&f["baseline"]["p50"]);
        assert!((ratio - expected).abs() < 1e-9 * expected, "{f}");
        let unit = f["unit"].as_str().unwrap();
        assert!(unit == "ms" || unit == "per_s", "{f}");
    }
    for (program, path) in report["programs"].as_object().unwrap() {
        assert_eq!(Path::new(path.as_str().unwrap()), bindir().join(program));
    }
    let daemons = report["daemons"].as_array().unwrap();
    assert_eq!(daemons.len(), 2, "{daemons:?}");
    for d in daemons {
        let pid = d["pid"].as_i64().unwrap();
        assert!(pid > 0 && !alive(pid), "{d} survived the bench");
    }
    assert_eq!(s.leftovers(), Vec::<PathBuf>::new());
}

#[test]
fn a_wrong_bindir_is_named_and_nothing_starts() {
    let s = Session::new();
    let missing = s.root.path().join("no-such-dir");
    let out = run_with_deadline(
        s.claudectl()
            .args(["bench", "memory", "--bindir"])
            .arg(&missing),
        Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("{}", missing.join("claude-memd").display()))
            && stderr.contains("--bindir"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
    assert_eq!(s.leftovers(), Vec::<PathBuf>::new());
}

#[test]
fn a_daemon_that_does_not_start_is_named_with_exit_status_3() {
    let s = Session::new();
    // A "claude-memd" that exits at once, next to the real others.
    let dir = s.root.path().join("bin");
    std::fs::create_dir(&dir).unwrap();
    std::os::unix::fs::symlink("/bin/false", dir.join("claude-memd")).unwrap();
    for p in ["claude-meshd", "claude-hook"] {
        std::os::unix::fs::symlink(bin(p), dir.join(p)).unwrap();
    }
    let out = run_with_deadline(
        s.claudectl().args(["bench", "--bindir"]).arg(&dir),
        Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("claude-memd did not start: it exited"),
        "{stderr}"
    );
    assert_eq!(s.leftovers(), Vec::<PathBuf>::new());
}

#[test]
fn ctrl_c_stops_the_scratch_daemons_and_removes_their_directory() {
    let s = Session::new();
    let child = s
        .claudectl()
        .args(["bench", "--iterations", "100000", "--bindir"])
        .arg(bindir())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(Some(child));
    // Both scratch daemons answer: the bench is under way.
    let deadline = Instant::now() + Duration::from_secs(30);
    let pids: Vec<i64> = loop {
        let sockets: Vec<PathBuf> = std::fs::read_dir(s.dir("tmp"))
            .unwrap()
            .flat_map(|e| {
                let run = e.unwrap().path().join("run");
                ["memd.sock", "meshd.sock"].map(|n| run.join(n))
            })
            .filter(|p| daemon::is_socket(p))
            .collect();
        if sockets.len() == 2 {
            let pids: Vec<i64> = sockets
                .iter()
                .filter_map(|p| {
                    claude_daemons::http::UnixClient::new(p)
                        .get("/v1/health")
                        .ok()
                        .and_then(|r| r.json::<Value>().ok())
                        .and_then(|h| h["pid"].as_i64())
                })
                .collect();
            if pids.len() == 2 {
                break pids;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the scratch daemons never answered"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    unsafe { libc::kill(child.pid(), libc::SIGINT) };
    let out = child.0.take().unwrap().wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    for pid in pids {
        assert!(!alive(pid), "scratch daemon {pid} survived Ctrl-C");
    }
    assert_eq!(s.leftovers(), Vec::<PathBuf>::new());
}
