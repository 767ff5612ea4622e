//! Nothing the programs write is readable by other local users, whatever umask they are
//! started with: `claudectl install` + `claudectl run` + real traffic from a caller with
//! umask 022 leave every directory 0700 and every file 0600; a state directory an older
//! version left 0755 is tightened (and said so), and `claudectl doctor` flags loose modes.

#[path = "support/daemon.rs"]
mod daemon;
#[path = "support/hook.rs"]
mod hook;
#[path = "support/http.rs"]
mod http;

use daemon::KillOnDrop;
use http::free_port;
use serde_json::{json, Value};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A home directory and a short runtime directory in a fresh temporary directory.
struct Home {
    tmp: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        let tmp = tempfile::Builder::new()
            .prefix("cp-")
            .tempdir_in("/tmp")
            .unwrap();
        std::fs::create_dir(tmp.path().join("home")).unwrap();
        Home { tmp }
    }
    fn home(&self) -> PathBuf {
        self.tmp.path().join("home")
    }
    fn runtime(&self) -> PathBuf {
        self.tmp.path().join("rt")
    }
    fn state(&self) -> PathBuf {
        self.home().join(".local/state/claude-daemons")
    }
    fn config_dir(&self) -> PathBuf {
        self.home().join(".config/claude-daemons")
    }

    /// `program` as a user's shell would start it: the XDG default paths under our home,
    /// no user manager to talk to (no XDG_RUNTIME_DIR, no D-Bus), and umask 022 — the
    /// programs must set their own.
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(daemon::bin(program));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .env("CLAUDE_DAEMONS_RUNTIME_DIR", self.runtime())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        // SAFETY: umask(2) is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::umask(0o022);
                Ok(())
            });
        }
        cmd
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        daemon::run_with_deadline(self.command(program).args(args), Duration::from_secs(60))
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every directory and file under `root` (not `root` itself) with a mode that lets group
/// or others in, as "path mode" lines; directories must be 0700, files and sockets 0600.
fn loose_under(root: &Path, found: &mut Vec<PathBuf>) -> Vec<String> {
    let mut loose = Vec::new();
    for entry in std::fs::read_dir(root).unwrap() {
        let path = entry.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let m = meta.permissions().mode() & 0o777;
        let ft = meta.file_type();
        if ft.is_symlink() {
            continue;
        }
        found.push(path.clone());
        let expected = if ft.is_dir() { 0o700 } else { 0o600 };
        if m != expected && !(ft.is_socket() && m & 0o077 == 0) {
            loose.push(format!("{} {m:o}", path.display()));
        }
        if ft.is_dir() {
            loose.extend(loose_under(&path, found));
        }
    }
    loose
}

fn hook(h: &Home, payload: Value) {
    hook::run_ok(h.command("claude-hook"), payload.to_string().as_bytes());
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn install_run_and_traffic_with_umask_022_leave_everything_private() {
    let h = Home::new();
    // The user made the config directory with their umask: the daemons tighten it.
    std::fs::create_dir_all(h.config_dir()).unwrap();
    chmod(&h.home().join(".config"), 0o700);
    chmod(&h.config_dir(), 0o755);
    let config = h.config_dir().join("config.toml");
    std::fs::write(
        &config,
        format!("[memory]\nviewer_port = {}\n", free_port()),
    )
    .unwrap();
    chmod(&config, 0o644);
    let bindir = Path::new(daemon::bin("claude-memd")).parent().unwrap();

    let out = h.run(
        "claudectl",
        &["install", "--bindir", bindir.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        mode(&h.state()),
        0o700,
        "install creates the state directory"
    );

    let run = h
        .command("claudectl")
        .args(["run", "--bindir"])
        .arg(bindir)
        .stderr(std::fs::File::create(h.tmp.path().join("run.log")).unwrap())
        .spawn()
        .unwrap();
    let run = KillOnDrop(Some(run));
    for short in ["memd", "supervisord", "meshd"] {
        let socket = h.runtime().join(format!("{short}.sock"));
        wait_for(&format!("{short} to answer"), || {
            daemon::is_socket(&socket)
                && claude_daemons::http::UnixClient::new(&socket)
                    .get("/v1/health")
                    .is_ok_and(|r| r.status == 200)
        });
    }

    // Traffic through every daemon: a session's hooks (memory and mesh), a message, a
    // search, the supervisor's sessions, an unauthenticated TCP health probe.
    let repo = h.tmp.path().join("repo");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    let ev = |event: &str, extra: Value| {
        let mut v = json!({"session_id": "s-1", "cwd": repo, "hook_event_name": event,
            "transcript_path": "/nonexistent"});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        hook(&h, v);
    };
    ev("SessionStart", json!({"source": "startup"}));
    ev(
        "UserPromptSubmit",
        json!({"prompt": "make checkout faster"}),
    );
    ev(
        "PostToolUse",
        json!({"tool_name": "Edit", "tool_use_id": "e1",
            "tool_input": {"file_path": repo.join("src/cart.rs"), "old_string": "a", "new_string": "b"}}),
    );
    wait_for("the prompt to be searchable", || {
        text(&h.run("claudectl", &["mem", "search", "checkout"])).contains("checkout")
    });
    let peers = h.run("claudectl", &["mesh", "peers", "--json"]);
    assert!(peers.status.success(), "{}", text(&peers));
    let sessions = h.run("claudectl", &["sup", "sessions"]);
    assert!(sessions.status.success(), "{}", text(&sessions));
    let token = h.state().join("api-token");
    assert!(token.exists(), "memd's TCP listener writes the API token");

    // Once while running (the WAL and the sockets exist), once after the clean stop.
    let walk = || {
        let mut found = Vec::new();
        let mut loose = loose_under(&h.home(), &mut found);
        loose.extend(loose_under(&h.runtime(), &mut found));
        assert_eq!(mode(&h.runtime()), 0o700);
        assert!(
            loose.is_empty(),
            "readable by other users:\n{}",
            loose.join("\n")
        );
        found
    };
    let found = walk();
    // What this test means to cover was really written.
    for must in [
        h.state().join("memory.db"),
        h.state().join("memory.db-wal"),
        h.state().join("mesh.db"),
        h.state().join("supervisor.db"),
        h.state().join("mesh-identity.key"),
        token,
        h.state().join("logs/claude-memd.log"),
        h.home().join(".claude/settings.json"),
        h.home().join(".claude.json"),
        h.runtime().join("memd.sock"),
        config,
    ] {
        assert!(
            found.contains(&must),
            "{} missing: {found:#?}",
            must.display()
        );
    }
    unsafe { libc::kill(run.pid(), libc::SIGINT) };
    assert!(run.wait().success());
    walk();
    // The first daemon to start tightened the configuration directory, and said so.
    let logs: String = ["memd", "supervisord", "meshd"]
        .iter()
        .map(|d| std::fs::read_to_string(h.state().join(format!("logs/claude-{d}.log"))).unwrap())
        .collect();
    assert!(
        logs.contains(&format!(
            "configuration directory {} was mode 755",
            h.config_dir().display()
        )),
        "the tightening is logged: {logs}"
    );
}

#[test]
fn a_loose_state_dir_is_tightened_and_doctor_flags_it() {
    let h = Home::new();
    let state = h.state();
    std::fs::create_dir_all(&state).unwrap();
    chmod(&state, 0o755);
    let db = state.join("memory.db");
    std::fs::write(&db, "").unwrap();
    chmod(&db, 0o644);

    let doctor = |h: &Home| -> Option<Value> {
        let out = h.run("claudectl", &["doctor", "--json"]);
        let checks: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("doctor --json: {e}: {}", text(&out)));
        checks
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "state private")
            .cloned()
    };
    // Looked at after the daemon's part, which is checked first.
    let before = doctor(&h);

    let log = h.tmp.path().join("memd.log");
    let child = h
        .command("claude-memd")
        .args(["--foreground", "--idle-timeout", "0"])
        .env("CLAUDE_DAEMONS_MEMORY_VIEWER_PORT", "0")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let child = KillOnDrop(Some(child));
    let socket = h.runtime().join("memd.sock");
    wait_for("memd to answer", || {
        claude_daemons::http::UnixClient::new(&socket)
            .get("/v1/health")
            .is_ok_and(|r| r.status == 200)
    });
    assert_eq!(mode(&state), 0o700, "the state directory is tightened");
    assert_eq!(mode(&db), 0o600, "its database too");
    let text_log = std::fs::read_to_string(&log).unwrap();
    assert!(
        text_log.contains(&format!(
            "state directory {} was mode 755, readable by other users; changed it to 700",
            state.display()
        )),
        "{text_log}"
    );
    unsafe { libc::kill(child.pid(), libc::SIGTERM) };
    assert!(child.wait().success());

    let before = before.expect("doctor has a \"state private\" check");
    assert_eq!(before["ok"], false, "{before}");
    let detail = before["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("{} 755", state.display())) && detail.contains("memory.db 644"),
        "{before}"
    );
    assert_eq!(
        before["fix"],
        format!("chmod -R go-rwx {}", state.display()),
        "{before}"
    );
    let after = doctor(&h).unwrap();
    assert_eq!(after["ok"], true, "{after}");
}
