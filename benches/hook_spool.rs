//! Nothing lost while claude-memd cannot answer (release build, real processes in a temp dir):
//! - **stall**: 4 clients × 50 PostToolUse hooks (whole `claude-hook` processes) while
//!   claude-memd is stopped by SIGSTOP, against the same hooks with claude-memd answering
//!   (baseline, same run) and the hook's deadline (`hook_timeout_ms`, 300 ms): every stalled
//!   hook must return within the deadline plus scheduling, and every event must be spooled;
//!   then SIGCONT and the time to drain the spool;
//! - **drain**: 500 hooks while claude-memd is not running at all, then its start, and the
//!   spool drain rate (events/s) until the last file is gone;
//! - **first start**: a new claude-memd on an empty state directory to its first health
//!   answer (all migrations in one transaction), quiet and beside a `dd oflag=dsync` writer.
//!
//! `cargo bench --bench hook_spool` (`HOOK_SPOOL_RUNS` first starts, default 9).

#[path = "support.rs"]
mod support;

use claude_daemons::http::UnixClient;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{report, Samples};

const HOOK: &str = env!("CARGO_BIN_EXE_claude-hook");
const MEMD: &str = env!("CARGO_BIN_EXE_claude-memd");
const DEADLINE: Duration = Duration::from_millis(300);

/// One state, runtime and work directory, and the environment that points both programs at it.
struct Home {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Home {
    fn new() -> Home {
        let dir = tempfile::Builder::new()
            .prefix("hook-spool-bench-")
            .tempdir_in("/var/tmp")
            .unwrap();
        let root = dir.path().to_path_buf();
        for d in ["run", "state", "work"] {
            std::fs::create_dir(root.join(d)).unwrap();
        }
        std::fs::write(root.join("config.toml"), "").unwrap();
        Home { _dir: dir, root }
    }

    fn env(&self, c: &mut Command) {
        let r = &self.root;
        c.env("CLAUDE_DAEMONS_RUNTIME_DIR", r.join("run"))
            .env("CLAUDE_DAEMONS_STATE_DIR", r.join("state"))
            .env("CLAUDE_DAEMONS_CONFIG", r.join("config.toml"))
            .env("CLAUDE_DAEMONS_MEMORY_VIEWER_PORT", "0")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("LISTEN_FDS");
    }

    /// Start claude-memd and wait for its first health answer; how long that took.
    fn start(&self) -> (Child, Duration) {
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(self.root.join("memd.log"))
            .unwrap();
        let mut c = Command::new(MEMD);
        c.args(["--foreground", "--idle-timeout", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        self.env(&mut c);
        let t = Instant::now();
        let mut child = c.spawn().unwrap();
        let client =
            UnixClient::new(self.root.join("run/memd.sock")).timeout(Duration::from_secs(5));
        loop {
            if matches!(client.get("/v1/health"), Ok(r) if r.status == 200) {
                return (child, t.elapsed());
            }
            if let Some(st) = child.try_wait().unwrap() {
                let log = std::fs::read_to_string(self.root.join("memd.log")).unwrap_or_default();
                panic!("claude-memd exited ({st}): {log}");
            }
            assert!(
                t.elapsed() < Duration::from_secs(120),
                "claude-memd never answered"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn spooled(&self) -> usize {
        std::fs::read_dir(self.root.join("state/spool"))
            .map(|rd| {
                rd.filter(|e| {
                    e.as_ref()
                        .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "hook"))
                })
                .count()
            })
            .unwrap_or(0)
    }

    fn stored(&self) -> i64 {
        let c = rusqlite::Connection::open(self.root.join("state/memory.db")).unwrap();
        c.busy_timeout(Duration::from_secs(10)).unwrap();
        c.query_row(
            "SELECT count(*) FROM events WHERE session_id LIKE 'bench-%'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    }

    /// `clients` threads each running `per` hooks one after another; every hook's duration.
    fn fire(&self, tag: &str, clients: usize, per: usize) -> Samples {
        let times = std::thread::scope(|s| {
            let handles: Vec<_> = (0..clients)
                .map(|c| {
                    s.spawn(move || (0..per).map(|i| self.hook(tag, c, i)).collect::<Vec<_>>())
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        Samples::new(times)
    }

    fn hook(&self, tag: &str, c: usize, i: usize) -> Duration {
        use std::io::Write;
        let id = format!("spool-bench-{tag}-{c}-{i}");
        let work = self.root.join("work");
        let payload = serde_json::json!({
            "session_id": format!("bench-{tag}-{c}"),
            "cwd": work,
            "hook_event_name": "PostToolUse",
            "tool_name": "Read",
            "tool_use_id": format!("toolu_{id}"),
            "tool_input": {"file_path": work.join(format!("f{i}.rs"))},
            "tool_response": {"type": "text", "marker": id},
        });
        let mut cmd = Command::new(HOOK);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.env(&mut cmd);
        let t = Instant::now();
        let mut child = cmd.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(payload.to_string().as_bytes())
            .unwrap();
        let st = child.wait().unwrap();
        let took = t.elapsed();
        assert!(st.success(), "a hook exits 0 whatever happens");
        took
    }
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    while !done() {
        assert!(
            t.elapsed() < Duration::from_secs(300),
            "{what} never happened"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    t.elapsed()
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

fn stop(mut child: Child) {
    signal(&child, "-TERM");
    child.wait().unwrap();
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn stall() {
    let home = Home::new();
    let (memd, _) = home.start();
    let live = home.fire("live", 4, 50);
    signal(&memd, "-STOP");
    let stalled = home.fire("stalled", 4, 50);
    let spooled = home.spooled();
    signal(&memd, "-CONT");
    let drained = wait_until("the drain of the spool", || home.spooled() == 0);
    wait_until("every event stored", || home.stored() == 400);
    stop(memd);
    println!("stall: 4 clients x 50 PostToolUse hooks, whole claude-hook processes");
    report("hook, claude-memd answering (baseline)", &live, None);
    report(
        "hook, claude-memd stopped by SIGSTOP",
        &stalled,
        Some(("baseline", &live)),
    );
    println!(
        "  deadline {:.0} ms: p99 is deadline {:+.1} ms, max deadline {:+.1} ms; {spooled}/200 spooled, \
         drained {:.0} ms after SIGCONT; 400/400 stored",
        ms(DEADLINE),
        ms(stalled.p99()) - ms(DEADLINE),
        ms(stalled.pct(1.0)) - ms(DEADLINE),
        ms(drained)
    );
}

fn drain() {
    let home = Home::new();
    // Create the database first so that the drain figure is not the first start.
    let (memd, _) = home.start();
    stop(memd);
    let hooks = home.fire("down", 4, 125);
    let n = home.spooled();
    assert_eq!(
        n, 500,
        "every hook spooled while claude-memd was not running"
    );
    let t = Instant::now();
    let (memd, up) = home.start();
    wait_until("the drain of the spool", || home.spooled() == 0);
    let total = t.elapsed();
    wait_until("every event stored", || home.stored() == 500);
    stop(memd);
    report("hook, claude-memd not running", &hooks, None);
    println!(
        "drain: {n} spooled events gone {:.0} ms after the start ({:.0} events/s; health after \
         {:.0} ms, {:.0} events/s from then)",
        ms(total),
        n as f64 / total.as_secs_f64(),
        ms(up),
        n as f64 / (total - up).as_secs_f64()
    );
}

fn first_starts(runs: usize) -> Samples {
    Samples::new(
        (0..runs)
            .map(|_| {
                let home = Home::new();
                let (memd, up) = home.start();
                stop(memd);
                up
            })
            .collect(),
    )
}

/// A writer that makes every write reach the disk, as a busy disk looks to SQLite's fsyncs.
fn dsync_writer(dir: &Path) -> Child {
    Command::new("dd")
        .args([
            "if=/dev/zero",
            &format!("of={}", dir.join("dd.out").display()),
            "bs=64k",
            "count=100000",
            "oflag=dsync",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("dd")
}

fn main() {
    let runs = std::env::var("HOOK_SPOOL_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(9);
    let what: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wants = |w: &str| what.is_empty() || what.iter().any(|a| a == w);
    if wants("stall") {
        stall();
    }
    if wants("drain") {
        drain();
    }
    if wants("first") {
        let quiet = first_starts(runs);
        let scratch = tempfile::tempdir_in("/var/tmp").unwrap();
        let mut dd = dsync_writer(scratch.path());
        let busy = first_starts(runs);
        let _ = dd.kill();
        let _ = dd.wait();
        report("first start on an empty state dir", &quiet, None);
        report(
            "first start beside dd oflag=dsync",
            &busy,
            Some(("quiet", &quiet)),
        );
    }
}
