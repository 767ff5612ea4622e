//! A real `systemd --user` and journald for one test, in a private mount namespace (the
//! recipe of `reference/systemd.md`). Needs root, util-linux and systemd; never skips.
//!
//! `unshare` applies to a whole process, so a test runs itself again in a new mount namespace
//! and only that inner run starts the manager:
//! ```ignore
//! #[path = "support/user_manager.rs"]
//! mod user_manager;
//! #[test]
//! fn memd_socket_activation() {
//!     if !user_manager::inside() {
//!         return user_manager::run_inside_namespace("memd_socket_activation");
//!     }
//!     let um = user_manager::UserManager::start();
//!     let memd = [("claude-memd", env!("CARGO_BIN_EXE_claude-memd"))];
//!     um.install_units(&["claude-memd"], &memd, &user_manager::Tweaks::default());
//!     um.systemctl_ok(&["start", "claude-memd.socket"]);
//! }
//! ```
#![allow(dead_code)] // each test file uses a different part of the harness

// Also loaded by the other harnesses a test may include: one copy each is fine.
#[allow(clippy::duplicate_mod)]
#[path = "scratch.rs"]
mod scratch;

use super::repo;
use std::ffi::CString;
use std::fs::{self, File};
use std::os::unix::{fs::PermissionsExt, io::AsRawFd, process::CommandExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Set, to the outer process's mount namespace, in the re-executed test binary.
const INNER_ENV: &str = "CD_USER_MANAGER_INNER";

/// Whether this process is the inner run started by [`run_inside_namespace`].
pub fn inside() -> bool {
    std::env::var_os(INNER_ENV).is_some()
}

/// Runs the test `test_name` (its full libtest name, e.g. `module::name` inside a module) again
/// in this binary inside a private mount namespace, and fails unless that run passed.
pub fn run_inside_namespace(test_name: &str) {
    assert!(!inside(), "run_inside_namespace called from the inner run");
    require_root();
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private"])
        .arg(std::env::current_exe().expect("current test binary"))
        .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env(INNER_ENV, mount_ns())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run `unshare` (util-linux, {e}): run scripts/test, which installs what the tests need"));
    // Through print! so that libtest captures it like the test's own output.
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "{test_name} failed inside: {}",
        out.status
    );
    // A name that matches no test gives "0 passed" and exit 0, which is not a pass.
    let ran = stdout.contains("test result: ok. 1 passed");
    assert!(
        ran,
        "the inner run did not run one test named {test_name:?}"
    );
}

/// Changes [`UserManager::install_units`] makes to the services it installs.
#[derive(Clone, Debug, Default)]
pub struct Tweaks {
    /// Appended to `ExecStart=`, e.g. `["--idle-timeout", "2"]`.
    pub args: Vec<String>,
    /// `Environment=` lines, e.g. `("CLAUDE_DAEMONS_STATE_DIR", "/tmp/x")`.
    pub env: Vec<(String, String)>,
    /// Replaces `WatchdogSec=`.
    pub watchdog_sec: Option<u64>,
    /// Plain-text replacements in every installed file (e.g. the viewer's port).
    pub replace: Vec<(String, String)>,
}

/// A running `systemd --user` and journald. Dropping it stops both and kills whatever the
/// manager started (also when the test panics: Drop runs on unwind).
pub struct UserManager {
    manager: Option<Child>,
    journald: Option<Child>,
    /// The manager's cgroup, relative to each cgroup hierarchy's mount point.
    cgroup: PathBuf,
    home: PathBuf,
    _lock: File,
    tmp: tempfile::TempDir,
}

impl UserManager {
    /// Sets up `/run`, journald and the manager; returns once the manager answers.
    pub fn start() -> UserManager {
        let outer = std::env::var(INNER_ENV).expect("UserManager::start outside the inner run");
        require_root();
        assert_ne!(
            mount_ns(),
            outer,
            "not in a private mount namespace: not mounting /run"
        );
        let systemd = find(&["/lib/systemd/systemd", "/usr/lib/systemd/systemd"]);
        let journald = find(&[
            "/lib/systemd/systemd-journald",
            "/usr/lib/systemd/systemd-journald",
        ]);
        // One manager at a time: units under test share loopback ports, and timing-sensitive
        // tests (idle exit, watchdog) are flaky when two managers share two cores.
        let lock = File::create(std::env::temp_dir().join("claude-daemons-user-manager.lock"));
        let lock = lock.expect("lock file");
        // SAFETY: flock(2) on a descriptor we own.
        assert_eq!(
            unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) },
            0,
            "flock"
        );

        // A fresh /run: `systemd --user` needs /run/systemd/system, some hardening options
        // mount an empty /run in a service (hiding a shared journal socket), and the host's
        // /run stays untouched.
        run(Command::new("mount").args(["-t", "tmpfs", "-o", "mode=755", "tmpfs", "/run"]));
        for dir in ["/run/systemd/system", "/run/systemd/journal", "/run/log"] {
            fs::create_dir_all(dir).unwrap();
        }
        make_inaccessible_nodes();
        let tmp = scratch::kept(
            tempfile::Builder::new()
                .prefix("cd-um.")
                .tempdir()
                .expect("temp dir"),
        );
        let home = tmp.path().join("home");
        for dir in ["home/.config/systemd/user", "run", "journal"] {
            fs::create_dir_all(tmp.path().join(dir)).unwrap();
        }
        fs::set_permissions(tmp.path().join("run"), fs::Permissions::from_mode(0o700)).unwrap();
        // The host's persistent journal must not receive the test's logs.
        let journal = tmp.path().join("journal");
        run(Command::new("mount")
            .arg("--bind")
            .arg(journal)
            .arg("/var/log/journal"));

        let mut um = UserManager {
            manager: None,
            journald: None,
            cgroup: PathBuf::new(),
            home: home.clone(),
            _lock: lock,
            tmp,
        };
        um.journald = Some(spawn(
            &mut Command::new(journald),
            &um.scratch().join("journald.log"),
        ));
        um.wait("journald", |_| {
            Path::new("/run/systemd/journal/stdout").exists()
        });

        // This process, the manager and the services all use the temporary home.
        for (key, dir) in [
            ("HOME", ""),
            ("XDG_CONFIG_HOME", ".config"),
            ("XDG_STATE_HOME", ".local/state"),
            ("XDG_DATA_HOME", ".local/share"),
            ("XDG_CACHE_HOME", ".cache"),
        ] {
            std::env::set_var(key, home.join(dir));
        }
        std::env::set_var("XDG_RUNTIME_DIR", um.scratch().join("run"));
        std::env::remove_var("DBUS_SESSION_BUS_ADDRESS");

        // The manager starts in a cgroup of its own (see make_cgroup): write(2) of "0" to
        // cgroup.procs between fork and exec moves the child itself.
        let (procs, cgroup) = make_cgroup();
        um.cgroup = cgroup;
        let fds: Vec<i32> = procs.iter().map(|f| f.as_raw_fd()).collect();
        let mut cmd = Command::new(systemd);
        cmd.args(["--user", "--unit=basic.target", "--log-target=journal"]);
        cmd.env_remove(INNER_ENV);
        // SAFETY: only write(2), which is async-signal-safe, runs between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                for &fd in &fds {
                    if libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        um.manager = Some(spawn(&mut cmd, &um.scratch().join("systemd.log")));
        drop(procs);
        um.wait("systemd --user", |um| {
            let state = um.systemctl(&["is-system-running"]).stdout;
            matches!(
                String::from_utf8_lossy(&state).trim(),
                "running" | "degraded"
            )
        });
        um
    }

    pub fn home(&self) -> &Path {
        &self.home
    }

    /// `$XDG_RUNTIME_DIR`, systemd's `%t`.
    pub fn runtime_dir(&self) -> PathBuf {
        self.scratch().join("run")
    }

    /// `$XDG_CONFIG_HOME/systemd/user`, where units are installed.
    pub fn unit_dir(&self) -> PathBuf {
        self.home.join(".config/systemd/user")
    }

    /// A temporary directory that lives as long as the manager (holds its logs, too).
    pub fn scratch(&self) -> &Path {
        self.tmp.path()
    }

    /// The manager's pid, to check that nothing outlives it.
    pub fn manager_pid(&self) -> u32 {
        self.manager.as_ref().unwrap().id()
    }

    /// Writes a unit of the test's own; call [`UserManager::daemon_reload`] afterwards.
    pub fn write_unit(&self, name: &str, contents: &str) {
        fs::write(self.unit_dir().join(name), contents).unwrap();
    }

    /// Installs `units/systemd/<name>.socket` and `.service` for each name, with
    /// `ExecStart=/usr/bin/<program>` pointing at the binary given for `<program>` and the
    /// `tweaks` applied, then reloads the manager.
    pub fn install_units(&self, names: &[&str], binaries: &[(&str, &str)], tweaks: &Tweaks) {
        let src = repo::root().join("units/systemd");
        for file in names
            .iter()
            .flat_map(|n| [format!("{n}.socket"), format!("{n}.service")])
        {
            let text = fs::read_to_string(src.join(&file)).expect(&file);
            let mut text = match file.ends_with(".service") {
                true => tweak_service(&text, binaries, tweaks),
                false => text,
            };
            for (from, to) in &tweaks.replace {
                text = text.replace(from.as_str(), to);
            }
            fs::write(self.unit_dir().join(&file), text).unwrap();
        }
        self.daemon_reload();
    }

    pub fn daemon_reload(&self) {
        self.systemctl_ok(&["daemon-reload"]);
    }

    /// `systemctl --user ARGS…`, whatever its outcome.
    pub fn systemctl(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new("systemctl");
        cmd.arg("--user")
            .args(args)
            .output()
            .expect("run systemctl")
    }

    /// `systemctl --user ARGS…`, which must succeed; returns its stdout.
    pub fn systemctl_ok(&self, args: &[&str]) -> String {
        let out = self.systemctl(args);
        assert!(
            out.status.success(),
            "systemctl --user {args:?}: {}",
            describe(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `systemctl --user show -P PROP UNIT`.
    pub fn show(&self, unit: &str, prop: &str) -> String {
        self.systemctl_ok(&["show", "-P", prop, unit])
            .trim()
            .to_string()
    }

    /// Waits until `prop` of `unit` is `value`; on timeout, panics with the unit's status.
    pub fn wait_for(&self, unit: &str, prop: &str, value: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.show(unit, prop) != value {
            if Instant::now() > deadline {
                let status = self.systemctl(&["status", "--no-pager", "-n", "30", unit]);
                let status = String::from_utf8_lossy(&status.stdout);
                panic!("{unit}: {prop} is not {value:?} after {timeout:?}:\n{status}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Journal entries, `journalctl -o json MATCHES…` (`FIELD=value`, `+`, or options).
    pub fn journal(&self, matches: &[&str]) -> Vec<serde_json::Value> {
        let mut cmd = Command::new("journalctl");
        let out = cmd
            .args(["-o", "json", "--no-pager", "-q"])
            .args(matches)
            .output();
        let out = out.expect("run journalctl");
        assert!(
            out.status.success(),
            "journalctl {matches:?}: {}",
            describe(&out)
        );
        let lines = String::from_utf8_lossy(&out.stdout).into_owned();
        lines
            .lines()
            .map(|l| serde_json::from_str(l).expect("journal JSON"))
            .collect()
    }

    /// Waits until an entry matching `matches` has a MESSAGE containing `needle`.
    pub fn wait_for_journal(&self, matches: &[&str], needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let found =
            |e: &serde_json::Value| e["MESSAGE"].as_str().is_some_and(|m| m.contains(needle));
        while !self.journal(matches).iter().any(found) {
            if Instant::now() >= deadline {
                // Whether the line is there without the fields asked for (journald reads a
                // short-lived process's unit from /proc, which can be gone by then).
                let elsewhere: Vec<_> = self
                    .journal(&[])
                    .into_iter()
                    .filter(found)
                    .map(|e| e.to_string())
                    .collect();
                panic!(
                    "no {needle:?} in the journal for {matches:?}; entries with it: {elsewhere:?}"
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Polls `ready` for up to 30 s while `what` starts (a loaded 2-core machine is slow to
    /// start systemd); panics with the scratch logs.
    fn wait(&mut self, what: &str, mut ready: impl FnMut(&Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ready(self) {
            let exited = [&mut self.manager, &mut self.journald]
                .into_iter()
                .flatten()
                .any(|c| c.try_wait().unwrap().is_some());
            if exited || Instant::now() > deadline {
                let logs = ["journald.log", "systemd.log"]
                    .map(|f| fs::read_to_string(self.scratch().join(f)).unwrap_or_default());
                panic!(
                    "{what} did not start (exited: {exited}):\n{}",
                    logs.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for UserManager {
    fn drop(&mut self) {
        // SIGTERM makes a user manager stop its units and exit, like `systemctl --user exit`.
        if let Some(mut manager) = self.manager.take() {
            stop(&mut manager, Duration::from_secs(15));
        }
        // Then whatever survived: a unit that ignored its stop, or everything if the manager
        // had to be killed.
        for (mount, _, _) in cgroup_mounts() {
            remove_cgroup_tree(&mount.join(&self.cgroup));
        }
        if let Some(mut journald) = self.journald.take() {
            stop(&mut journald, Duration::from_secs(5));
        }
        for target in ["/var/log/journal", "/run"] {
            let target = CString::new(target).unwrap();
            // SAFETY: umount2(2) with a valid C string; a failure only leaves a private mount.
            unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

fn tweak_service(text: &str, binaries: &[(&str, &str)], tweaks: &Tweaks) -> String {
    let mut out = String::new();
    let mut exec = false;
    for line in text.lines() {
        if let Some(program) = line.strip_prefix("ExecStart=/usr/bin/") {
            let binary = binaries.iter().find(|(name, _)| *name == program.trim());
            let (_, binary) = binary.unwrap_or_else(|| panic!("no binary given for {program}"));
            let args = tweaks
                .args
                .iter()
                .map(|a| format!(" {}", quote(a)))
                .collect::<String>();
            out += &format!("ExecStart={}{args}\n", quote(binary));
            for (key, value) in &tweaks.env {
                out += &format!("Environment={}\n", quote(&format!("{key}={value}")));
            }
            if let Some(secs) = tweaks.watchdog_sec {
                out += &format!("WatchdogSec={secs}\n");
            }
            exec = true;
        } else if !(line.starts_with("WatchdogSec=") && tweaks.watchdog_sec.is_some()) {
            out += &format!("{line}\n");
        }
    }
    assert!(exec, "no ExecStart=/usr/bin/… line in:\n{text}");
    out
}

/// systemd's quoting, enough for paths and arguments with spaces (`%` is not escaped).
fn quote(s: &str) -> String {
    match s.contains(|c: char| c.is_whitespace() || c == '"' || c == '\\') {
        true => format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")),
        false => s.to_string(),
    }
}

/// The nodes PID 1 normally creates: without them sandboxing fails with 226/NAMESPACE.
fn make_inaccessible_nodes() {
    let dir = Path::new("/run/systemd/inaccessible");
    fs::create_dir_all(dir.join("dir")).unwrap();
    File::create(dir.join("reg")).unwrap();
    for (name, kind) in [
        ("fifo", libc::S_IFIFO),
        ("chr", libc::S_IFCHR),
        ("blk", libc::S_IFBLK),
    ] {
        let path = CString::new(format!("{}/{name}", dir.display())).unwrap();
        // SAFETY: mknod(2) with a valid C string; device 0:0 as PID 1 makes it.
        let rc = unsafe { libc::mknod(path.as_ptr(), kind, libc::makedev(0, 0)) };
        assert_eq!(rc, 0, "mknod {name}: {}", std::io::Error::last_os_error());
    }
    for name in ["reg", "dir", "fifo", "chr", "blk"] {
        fs::set_permissions(dir.join(name), fs::Permissions::from_mode(0o000)).unwrap();
    }
}

/// Creates `/cd-um-<pid>.slice/user@<uid>.service` in the hierarchies systemd tracks
/// processes with (`name=systemd` and the unified one; hybrid systems have both), and returns
/// their open `cgroup.procs` files and `cd-um-<pid>.slice`, relative to the mount points.
/// Without its own cgroup, a manager started in the root cgroup moves every process of the
/// machine into `/init.scope`. The names and the place matter: journald sets
/// `_SYSTEMD_USER_UNIT` only for cgroups under `[<slice>/…]user@UID.service/`, counted from
/// the root, as on a real system (`/user.slice/user-1000.slice/user@1000.service/…`).
fn make_cgroup() -> (Vec<File>, PathBuf) {
    let rel = PathBuf::from(format!("cd-um-{}.slice", std::process::id()));
    let mut procs = vec![];
    for (mount, fstype, options) in cgroup_mounts() {
        if fstype == "cgroup" && !options.split(',').any(|o| o == "name=systemd") {
            continue; // systemd creates what it needs in the controller hierarchies
        }
        let leaf = mount.join(&rel).join(format!("user@{}.service", uid()));
        fs::create_dir_all(&leaf).unwrap_or_else(|e| panic!("cannot create cgroup {leaf:?}: {e}"));
        let file = fs::OpenOptions::new()
            .write(true)
            .open(leaf.join("cgroup.procs"));
        procs.push(file.unwrap());
    }
    assert!(
        !procs.is_empty(),
        "no cgroup hierarchy in /proc/self/mountinfo"
    );
    (procs, rel)
}

/// Mounted cgroup hierarchies: (mount point, fstype, super options).
fn cgroup_mounts() -> Vec<(PathBuf, String, String)> {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let parse = |line: &str| {
        let (left, right) = line.split_once(" - ")?;
        let mut right = right.split(' ');
        let (fstype, options) = (right.next()?, right.nth(1)?);
        let mount = PathBuf::from(left.split(' ').nth(4)?);
        let cgroup = fstype == "cgroup" || fstype == "cgroup2";
        cgroup.then(|| (mount, fstype.to_string(), options.to_string()))
    };
    info.lines().filter_map(parse).collect()
}

/// Kills every process under `top`, then removes its cgroups, deepest first.
fn remove_cgroup_tree(top: &Path) {
    let (mut dirs, mut todo) = (vec![], vec![top.to_path_buf()]);
    while let Some(dir) = todo.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        todo.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
        dirs.push(dir);
    }
    for _ in 0..100 {
        let procs = dirs
            .iter()
            .filter_map(|d| fs::read_to_string(d.join("cgroup.procs")).ok());
        let pids: Vec<i32> = procs
            .flat_map(|s| s.lines().flat_map(str::parse).collect::<Vec<_>>())
            .collect();
        if pids.is_empty() {
            break;
        }
        for pid in pids {
            // SAFETY: kill(2); these pids are in the manager's cgroup, never this process.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    dirs.iter().for_each(|d| drop(fs::remove_dir(d)));
}

/// SIGTERM, then SIGKILL after `grace`; reaps the child either way.
fn stop(child: &mut Child, grace: Duration) {
    // SAFETY: kill(2) on our own child, not reaped yet, so the pid is still ours.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + grace;
    while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn spawn(cmd: &mut Command, log: &Path) -> Child {
    let log = File::create(log).unwrap();
    let cmd = cmd
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    cmd.spawn()
        .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", cmd.get_program()))
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}", describe(&out));
}

fn describe(out: &Output) -> String {
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    format!("{}\n{stdout}{stderr}", out.status)
}

fn find(candidates: &[&'static str]) -> &'static str {
    let found = candidates.iter().find(|p| Path::new(p).exists());
    found.unwrap_or_else(|| panic!("none of {candidates:?} exists (systemd is missing): run scripts/test, which installs what the tests need"))
}

fn uid() -> u32 {
    // SAFETY: geteuid(2) cannot fail.
    unsafe { libc::geteuid() }
}

fn require_root() {
    let uid = uid();
    assert_eq!(
        uid, 0,
        "a user manager in a mount namespace needs root, not uid {uid}: run scripts/test (it uses sudo)"
    );
}

fn mount_ns() -> String {
    let ns = fs::read_link("/proc/self/ns/mnt").expect("/proc/self/ns/mnt");
    ns.to_string_lossy().into_owned()
}
