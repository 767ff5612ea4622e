//! claude-memd and claude-hook figures, each with a baseline measured in the same run:
//!
//! - claude-hook PostToolUse, whole process, warm daemon, vs spawning `/bin/true`; peak RSS.
//! - Durable intake with concurrent clients (events/s) vs `GET /v1/version` on the same socket.
//! - SessionStart context with 10,000 observations in the project, vs `GET /v1/version`.
//! - FTS search over 100,000 observations; claude-memd RSS at that size.
//! - claude-hook at UserPromptSubmit and PreToolUse(Read) with 100,000 observations (the
//!   in-session context lookups), whole process, vs spawning `/bin/true`.
//!
//! Run: `cargo bench --bench memory` (release build; a few minutes with the data set).

#[path = "support.rs"]
mod support;

use claude_daemons::http::UnixClient;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Daemon {
    dir: tempfile::TempDir,
    child: Child,
}

impl Daemon {
    fn start() -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("cdb")
            .tempdir_in("/tmp")
            .unwrap();
        std::fs::create_dir_all(dir.path().join("run")).unwrap();
        let child = Daemon::spawn(dir.path());
        let d = Daemon { dir, child };
        d.wait_healthy();
        d
    }

    fn spawn(dir: &Path) -> Child {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_claude-memd"));
        cmd.args(["--foreground", "--idle-timeout", "0"])
            .envs(env(dir))
            .env("CLAUDE_DAEMONS_MEMORY_VIEWER_PORT", "0")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd.spawn().unwrap()
    }

    fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.client().get("/v1/health").map(|r| r.status).ok() != Some(200) {
            assert!(Instant::now() < deadline, "claude-memd did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stop and start again on the same files (as socket activation does after an idle
    /// exit), then wait until the full-text indexes are merged.
    fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = Daemon::spawn(self.dir.path());
        self.wait_healthy();
        let t = Instant::now();
        loop {
            let r = self.client().get("/v1/health").unwrap();
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            if v["fts_upkeep"]["pending"] == false {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(600),
                "the index merge never ended: {v}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        println!(
            "## claude-memd restarted; full-text indexes merged in {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }

    fn client(&self) -> UnixClient {
        UnixClient::new(self.dir.path().join("run/memd.sock")).timeout(Duration::from_secs(30))
    }

    fn rss_kb(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    fn wait_processed(&self) {
        support::wait_processed(&self.dir.path().join("state/memory.db"));
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn env(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    vec![
        ("CLAUDE_DAEMONS_RUNTIME_DIR", dir.join("run")),
        ("CLAUDE_DAEMONS_STATE_DIR", dir.join("state")),
        ("CLAUDE_DAEMONS_CONFIG", dir.join("config.toml")),
    ]
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// Time `n` runs of `f`; (p50, p99).
fn measure(n: usize, mut f: impl FnMut(usize)) -> (Duration, Duration) {
    let mut t: Vec<Duration> = (0..n)
        .map(|i| {
            let s = Instant::now();
            f(i);
            s.elapsed()
        })
        .collect();
    t.sort();
    (pct(&t, 0.5), pct(&t, 0.99))
}

/// Run `cmd` with `stdin`, wait for it with `wait4`; its own peak RSS in KiB.
#[allow(clippy::zombie_processes)] // reaped by wait4, which std's Child does not know about
fn spawn_with_stdin(cmd: &mut Command, stdin: &[u8]) -> i64 {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _ = child.stdin.take().unwrap().write_all(stdin);
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for our own child with valid out-pointers; `child` is not waited again.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert!(pid > 0 && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    usage.ru_maxrss
}

fn hook_round_trip(d: &Daemon, repo: &Path) {
    let payload = |i: usize| {
        json!({"session_id": "bench", "hook_event_name": "PostToolUse", "cwd": repo,
               "tool_name": "Read", "tool_use_id": format!("toolu_hook_{i}"),
               "tool_input": {"file_path": repo.join("src/lib.rs")},
               "tool_response": {"type": "text", "file": {"filePath": repo.join("src/lib.rs"), "content": "fn main() {}\n".repeat(40), "numLines": 40, "startLine": 1, "totalLines": 40}}})
        .to_string()
    };
    let n = 400;
    for i in 0..50 {
        spawn_with_stdin(
            Command::new(env!("CARGO_BIN_EXE_claude-hook")).envs(env(d.dir.path())),
            payload(100_000 + i).as_bytes(),
        );
    }
    // Interleaved, so both see the same machine load.
    let (mut base, mut hook, mut true_rss, mut hook_rss) = (Vec::new(), Vec::new(), 0, 0);
    for i in 0..n {
        let t = Instant::now();
        true_rss = true_rss.max(spawn_with_stdin(&mut Command::new("/bin/true"), b"{}"));
        base.push(t.elapsed());
        let t = Instant::now();
        hook_rss = hook_rss.max(spawn_with_stdin(
            Command::new(env!("CARGO_BIN_EXE_claude-hook")).envs(env(d.dir.path())),
            payload(i).as_bytes(),
        ));
        hook.push(t.elapsed());
    }
    base.sort();
    hook.sort();
    let (t50, t99, h50, h99) = (
        pct(&base, 0.5),
        pct(&base, 0.99),
        pct(&hook, 0.5),
        pct(&hook, 0.99),
    );
    let db = rusqlite::Connection::open(d.dir.path().join("state/memory.db")).unwrap();
    let stored: i64 = db
        .query_row(
            "SELECT count(*) FROM events WHERE tool_use_id LIKE 'toolu_hook_%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(stored >= n as i64 + 50, "every hook call was stored");
    println!("## claude-hook PostToolUse round trip (whole process, warm daemon), n={n}");
    println!("  /bin/true spawn      p50 {}  p99 {}", ms(t50), ms(t99));
    println!("  claude-hook          p50 {}  p99 {}", ms(h50), ms(h99));
    println!(
        "  ratio p50            {:.2}x /bin/true",
        h50.as_secs_f64() / t50.as_secs_f64()
    );
    let c = d.client();
    let (p50, p99) = measure(n, |i| {
        let r = c
            .post_json("/v1/hook", payload(200_000 + i).as_bytes())
            .unwrap();
        assert_eq!(r.status, 200);
    });
    println!(
        "  of which the daemon  p50 {}  p99 {} (POST /v1/hook from this process: commit included)",
        ms(p50),
        ms(p99)
    );
    println!("  peak RSS             claude-hook {hook_rss} KiB, /bin/true {true_rss} KiB (max over the runs)");
}

fn intake_throughput(d: &Daemon, repo: &Path, clients: usize) {
    let per = 32_000 / clients;
    let run = |path: &'static str, post: bool| {
        let start = Instant::now();
        let threads: Vec<_> = (0..clients)
            .map(|c| {
                let client = d.client();
                let repo = repo.to_path_buf();
                std::thread::spawn(move || {
                    for i in 0..per {
                        let r = if post {
                            let body = json!({"session_id": format!("tp-{clients}-{c}"), "hook_event_name": "PostToolUse",
                                "cwd": repo, "tool_name": "Edit", "tool_use_id": format!("tp_{c}_{i}"),
                                "tool_input": {"file_path": repo.join(format!("src/m{i}.rs")), "old_string": "a", "new_string": "b"}})
                            .to_string();
                            client.post_json(path, body.as_bytes()).unwrap()
                        } else {
                            client.get(path).unwrap()
                        };
                        assert_eq!(r.status, 200);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        (clients * per) as f64 / start.elapsed().as_secs_f64()
    };
    let base = run("/v1/version", false);
    let intake = run("/v1/hook", true);
    println!(
        "## durable intake, {clients} concurrent clients, {} requests each",
        per
    );
    println!("  GET /v1/version      {base:.0} req/s (baseline: same socket, no database)");
    println!("  POST /v1/hook        {intake:.0} events/s acknowledged after commit ({:.0}% of baseline)", 100.0 * intake / base);
    d.wait_processed();
}

/// Deterministic words: a vocabulary of 3,000 made-up words (syllable triples).
fn vocabulary() -> Vec<String> {
    let syl = [
        "ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "de", "va", "zu", "xo", "be", "fi", "gu",
    ];
    let mut out = Vec::new();
    for a in syl {
        for b in syl {
            for c in syl {
                out.push(format!("{a}{b}{c}"));
            }
        }
    }
    out.truncate(3000);
    out
}

fn populate(d: &Daemon, project: &Path, total: usize, in_project: usize) {
    let vocab = vocabulary();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut word = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        vocab[(x % vocab.len() as u64) as usize].clone()
    };
    let mut db = rusqlite::Connection::open(d.dir.path().join("state/memory.db")).unwrap();
    db.busy_timeout(Duration::from_secs(30)).unwrap();
    let tx = db
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    {
        let mut st = tx
            .prepare(
                "INSERT INTO observations (session_id, project, project_name, type, title, subtitle, facts,
                   narrative, files_read, files_modified, prompt_number, created_at, created_at_epoch)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 1,
                   strftime('%Y-%m-%dT%H:%M:%fZ', ?11, 'unixepoch'), ?11)",
            )
            .unwrap();
        let key = project.display().to_string();
        for i in 0..total {
            let (p, name) = if i % (total / in_project) == 0 {
                (key.clone(), "bench-project".to_string())
            } else {
                (
                    format!("/home/u/other{}", i % 50),
                    format!("other{}", i % 50),
                )
            };
            let file = format!("/src/{}/{}.rs", word(), word());
            let kind = if i % 3 == 0 { "change" } else { "discovery" };
            let title = format!(
                "{} {} {}",
                if kind == "change" { "Edited" } else { "Read" },
                file,
                word()
            );
            let facts = json!([
                format!("{} {} {} {}", word(), word(), word(), word()),
                format!("{} {} {}", word(), word(), word())
            ])
            .to_string();
            let narrative: Vec<String> = (0..20).map(|_| word()).collect();
            let files = json!([file]).to_string();
            st.execute(rusqlite::params![
                format!("s{}", i / 40),
                p,
                name,
                kind,
                title,
                word(),
                facts,
                narrative.join(" "),
                if kind == "discovery" {
                    files.as_str()
                } else {
                    "[]"
                },
                if kind == "change" {
                    files.as_str()
                } else {
                    "[]"
                },
                1_700_000_000 + i as i64
            ])
            .unwrap();
        }
    }
    tx.commit().unwrap();
}

const TOTAL: usize = 100_000;
const IN_PROJECT: usize = 10_000;

/// The data set, written straight into the database; the daemon is then restarted, as a
/// daemon whose memory grew over months would have merged its indexes as it went.
fn populate_once(d: &mut Daemon, project: &Path, done: &mut bool) {
    if std::mem::replace(done, true) {
        return;
    }
    let t = Instant::now();
    populate(d, project, TOTAL, IN_PROJECT);
    println!("## data set: {TOTAL} observations ({IN_PROJECT} in the measured project), inserted in {:.1} s", t.elapsed().as_secs_f64());
    d.restart();
}

/// The hook's in-session lookups at 100,000 observations, whole process, interleaved with
/// `/bin/true`. Each run is a new session, so nothing counts as shown already.
fn in_session_hooks(d: &Daemon, project: &Path) {
    let vocab = vocabulary();
    let prompt = |i: usize| {
        json!({"session_id": format!("bench-prompt-{i}"), "hook_event_name": "UserPromptSubmit",
               "cwd": project,
               "prompt": format!("why does {} call {} before {} here? fix the {} handling in {} and {} please",
                   vocab[(i * 7) % vocab.len()], vocab[(i * 13) % vocab.len()],
                   vocab[(i * 31) % vocab.len()], vocab[(i * 37) % vocab.len()],
                   vocab[(i * 41) % vocab.len()], vocab[(i * 43) % vocab.len()])})
        .to_string()
    };
    let read = |i: usize| {
        json!({"session_id": format!("bench-read-{i}"), "hook_event_name": "PreToolUse",
               "cwd": project, "tool_name": "Read", "tool_use_id": format!("toolu_pre_{i}"),
               "tool_input": {"file_path": project.join(format!("src/{}.rs", vocab[i % vocab.len()]))}})
        .to_string()
    };
    // The lookup answers something: a context comes back on stdout.
    let mut shown = 0;
    for i in 0..20 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_claude-hook"))
            .envs(env(d.dir.path()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(prompt(1_000_000 + i).as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        shown += usize::from(String::from_utf8_lossy(&out.stdout).contains("additionalContext"));
    }
    let n = 300;
    for (name, payload) in [
        ("UserPromptSubmit", &prompt as &dyn Fn(usize) -> String),
        ("PreToolUse(Read)", &read),
    ] {
        let (mut base, mut hook) = (Vec::new(), Vec::new());
        for i in 0..n {
            let t = Instant::now();
            spawn_with_stdin(&mut Command::new("/bin/true"), b"{}");
            base.push(t.elapsed());
            let t = Instant::now();
            spawn_with_stdin(
                Command::new(env!("CARGO_BIN_EXE_claude-hook")).envs(env(d.dir.path())),
                payload(i).as_bytes(),
            );
            hook.push(t.elapsed());
        }
        base.sort();
        hook.sort();
        let (t50, h50, h99) = (pct(&base, 0.5), pct(&hook, 0.5), pct(&hook, 0.99));
        println!("## claude-hook {name} with {TOTAL} observations (whole process, in-session context lookup), n={n}");
        println!("  /bin/true spawn      p50 {}", ms(t50));
        println!("  claude-hook          p50 {}  p99 {}", ms(h50), ms(h99));
        println!(
            "  ratio p50            {:.2}x /bin/true",
            h50.as_secs_f64() / t50.as_secs_f64()
        );
    }
    println!("  (prompts that brought a context in the check run: {shown} of 20)");
}

fn context_and_search(d: &Daemon, project: &Path) {
    let total = TOTAL;
    let in_project = IN_PROJECT;
    let c = d.client();
    let n = 300;
    let (b50, b99) = measure(n, |_| assert_eq!(c.get("/v1/version").unwrap().status, 200));
    let q = format!("/v1/context?project={}", project.display());
    let first = c.get(&q).unwrap();
    let ctx: serde_json::Value = first.json().unwrap();
    assert!(ctx["observations"].as_u64().unwrap() > 5, "{ctx}");
    let (c50, c99) = measure(n, |_| assert_eq!(c.get(&q).unwrap().status, 200));
    println!("## SessionStart context, {in_project} observations in the project (GET /v1/context round trip)");
    println!(
        "  GET /v1/version      p50 {}  p99 {} (baseline)",
        ms(b50),
        ms(b99)
    );
    println!(
        "  context              p50 {}  p99 {}  ({} observations shown, ~{} tokens)",
        ms(c50),
        ms(c99),
        ctx["observations"],
        ctx["tokens"]
    );
    println!(
        "  in the daemon (p50 minus baseline) {}",
        ms(c50.saturating_sub(b50))
    );

    let vocab = vocabulary();
    let queries: Vec<String> = (0..n)
        .map(|i| match i % 3 {
            0 => format!("/v1/search?q={}", vocab[(i * 7) % vocab.len()]),
            1 => format!(
                "/v1/search?q={}+{}",
                vocab[(i * 13) % vocab.len()],
                vocab[(i * 31) % vocab.len()]
            ),
            _ => format!(
                "/v1/search?q={}&project=bench-project&type=change",
                vocab[(i * 17) % vocab.len()]
            ),
        })
        .collect();
    let mut hits = 0;
    let (s50, s99) = measure(n, |i| {
        let r = c.get(&queries[i]).unwrap();
        assert_eq!(r.status, 200);
        let v: serde_json::Value = r.json().unwrap();
        hits += v["results"].as_array().unwrap().len();
    });
    println!("## FTS search over {total} observations (GET /v1/search round trip, 1-2 words, filters on a third)");
    println!(
        "  search               p50 {}  p99 {}  ({:.1} hits per query)",
        ms(s50),
        ms(s99),
        hits as f64 / n as f64
    );
    println!(
        "  in the daemon (p50 minus baseline) {}; ratio p50 {:.2}x GET /v1/version",
        ms(s50.saturating_sub(b50)),
        s50.as_secs_f64() / b50.as_secs_f64()
    );
    let (rss, hwm) = d.rss_kb();
    println!(
        "## claude-memd memory with {total} observations: RSS {} MiB, peak {} MiB",
        rss / 1024,
        hwm / 1024
    );
}

fn main() {
    // `cargo bench --bench memory -- hook intake search` runs only those parts (default all).
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let run = |part: &str| only.is_empty() || only.iter().any(|o| o == part);
    let mut d = Daemon::start();
    let repo = d.dir.path().join("bench-project");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    std::fs::create_dir_all(repo.join("src")).unwrap();
    let repo = std::fs::canonicalize(&repo).unwrap();
    if run("hook") {
        hook_round_trip(&d, &repo);
    }
    if run("intake") {
        intake_throughput(&d, &repo, 16);
        intake_throughput(&d, &repo, 64);
    }
    let mut populated = false;
    if run("recall") {
        populate_once(&mut d, &repo, &mut populated);
        in_session_hooks(&d, &repo);
    }
    if run("search") {
        populate_once(&mut d, &repo, &mut populated);
        context_and_search(&d, &repo);
    }
}
