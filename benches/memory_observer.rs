//! claude-memd with `provider = "claude"`: the hook's latency with the observer busy (it is
//! never on the hook path) against `provider = "local"` and `/bin/true` in the same run;
//! then events per observer request under load (batching) and tokens per stored
//! observation. The observer is the real Claude Code run by a real claude-supervisord,
//! answering through the mock Messages API (one observation per tool event shown).
//!
//! `cargo bench --bench memory_observer`

#[path = "../tests/support/mock_anthropic.rs"]
mod mock_anthropic;
#[path = "../tests/support/repo.rs"]
mod repo;
#[path = "support.rs"]
mod support;

use support::wait_processed;

use claude_daemons::http::UnixClient;
use mock_anthropic::{newest_prompt, MockApi, Reply};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.0.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn env(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    vec![
        ("CLAUDE_DAEMONS_RUNTIME_DIR", dir.join("run")),
        ("CLAUDE_DAEMONS_STATE_DIR", dir.join("state")),
        ("CLAUDE_DAEMONS_CONFIG", dir.join("config.toml")),
    ]
}

fn wait_up(socket: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while UnixClient::new(socket).get("/v1/health").is_err() {
        assert!(
            Instant::now() < deadline,
            "{} did not come up",
            socket.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn memd(dir: &Path, provider: &str) -> Proc {
    std::fs::create_dir_all(dir.join("run")).unwrap();
    let cfg = format!(
        "[memory]\nprovider = \"{provider}\"\nobserver_session_tokens = 0\nobserver_day_tokens = 0\n\
         observer_session_usd = 0\nobserver_day_usd = 0\n[supervisor]\nclaude_bin = \"{}\"\nidle_timeout_secs = 0\n",
        mock_anthropic::claude_bin().display()
    );
    std::fs::write(dir.join("config.toml"), cfg).unwrap();
    let p = Command::new(env!("CARGO_BIN_EXE_claude-memd"))
        .args(["--foreground", "--idle-timeout", "0"])
        .envs(env(dir))
        .env("CLAUDE_DAEMONS_MEMORY_VIEWER_PORT", "0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("memd.log")).unwrap())
        .spawn()
        .unwrap();
    wait_up(&dir.join("run/memd.sock"));
    Proc(p)
}

fn supervisor(dir: &Path, api: &MockApi) -> Proc {
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let p = Command::new(env!("CARGO_BIN_EXE_claude-supervisord"))
        .arg("--foreground")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("RUST_LOG", "warn")
        .env("ANTHROPIC_BASE_URL", api.base_url())
        .env("ANTHROPIC_API_KEY", "sk-ant-mock-key")
        .env("DISABLE_TELEMETRY", "1")
        .env("DISABLE_AUTOUPDATER", "1")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .envs(env(dir))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_up(&dir.join("run/supervisord.sock"));
    Proc(p)
}

fn payload(repo: &Path, session: &str, i: usize) -> String {
    json!({"session_id": session, "hook_event_name": "PostToolUse", "cwd": repo,
           "tool_name": "Read", "tool_use_id": format!("toolu_{session}_{i}"),
           "tool_input": {"file_path": repo.join("src/lib.rs")},
           "tool_response": {"type": "text", "file": {"filePath": repo.join("src/lib.rs"), "content": "fn main() {}\n".repeat(40)}}})
    .to_string()
}

fn hook(dir: &Path, stdin: &[u8]) -> Duration {
    let t = Instant::now();
    let mut c = Command::new(env!("CARGO_BIN_EXE_claude-hook"))
        .envs(env(dir))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _ = c.stdin.take().unwrap().write_all(stdin);
    assert!(c.wait().unwrap().success());
    t.elapsed()
}

fn spawn_true() -> Duration {
    let t = Instant::now();
    Command::new("/bin/true").status().unwrap();
    t.elapsed()
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let api = MockApi::start(|req| {
        let p = newest_prompt(req);
        let n = p.matches("<what_happened>").count();
        Reply::Text(if n == 0 {
            "ok".into()
        } else {
            (0..n)
                .map(|i| {
                    format!(
                        "<observation><type>discovery</type><title>Read lib.rs ({i})</title>\
                         <facts><fact>main is empty</fact></facts><files_read><file>src/lib.rs</file></files_read></observation>"
                    )
                })
                .collect()
        })
    });
    let root = tempfile::Builder::new()
        .prefix("cdo")
        .tempdir_in("/tmp")
        .unwrap();
    let (cdir, ldir) = (root.path().join("c"), root.path().join("l"));
    // memd writes the config the supervisor reads (claude_bin): it starts first.
    let _claude = memd(&cdir, "claude");
    let _sup = supervisor(&cdir, &api);
    let _local = memd(&ldir, "local");
    let repo = root.path().join("proj");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    std::fs::create_dir_all(repo.join("src")).unwrap();
    let repo = std::fs::canonicalize(repo).unwrap();

    // Hook latency, interleaved so all three see the same load; the claude memd's observer
    // is kept busy by the very events being timed.
    let n = 300;
    let (mut t, mut l, mut c) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        t.push(spawn_true());
        l.push(hook(&ldir, payload(&repo, "lat", i).as_bytes()));
        c.push(hook(&cdir, payload(&repo, "lat", i).as_bytes()));
    }
    println!("## claude-hook PostToolUse, whole process, n={n} (interleaved)");
    for (name, v) in [
        ("/bin/true", &mut t),
        ("provider=local", &mut l),
        ("provider=claude", &mut c),
    ] {
        let (p50, p99) = (pct(v, 0.5), pct(v, 0.99));
        println!("  {name:<16} p50 {}  p99 {}", ms(p50), ms(p99));
    }
    println!(
        "  ratio p50 claude/local {:.2}x",
        pct(&mut c, 0.5).as_secs_f64() / pct(&mut l, 0.5).as_secs_f64()
    );
    wait_processed(&cdir.join("state/memory.db"));

    // Load: 8 sessions × 40 events from 8 threads, as fast as the hooks go.
    let started = Instant::now();
    std::thread::scope(|s| {
        for k in 0..8 {
            let (cdir, repo) = (&cdir, &repo);
            s.spawn(move || {
                let c =
                    UnixClient::new(cdir.join("run/memd.sock")).timeout(Duration::from_secs(10));
                for i in 0..40 {
                    let r = c
                        .post_json("/v1/hook", payload(repo, &format!("load{k}"), i).as_bytes())
                        .unwrap();
                    assert_eq!(r.status, 200);
                }
            });
        }
    });
    let posted = started.elapsed();
    wait_processed(&cdir.join("state/memory.db"));
    let drained = started.elapsed();
    let h = UnixClient::new(cdir.join("run/memd.sock"))
        .get("/v1/health")
        .unwrap();
    let h: serde_json::Value = serde_json::from_slice(&h.body).unwrap();
    assert_eq!(
        h["observer"]["mode"], "claude",
        "the observer was not used: {h}"
    );
    let db = rusqlite::Connection::open(cdir.join("state/memory.db")).unwrap();
    let (req, events, obs, tokens): (i64, i64, i64, i64) = db
        .query_row(
            "SELECT sum(requests), sum(events), sum(observations), sum(tokens) FROM observer_spend
             WHERE session_id LIKE 'load%'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    let (lreq, levents): (i64, i64) = db
        .query_row(
            "SELECT sum(requests), sum(events) FROM observer_spend WHERE session_id = 'lat'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let stored: i64 = db
        .query_row(
            "SELECT count(*) FROM observations WHERE source = 'claude' AND session_id LIKE 'load%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    println!("## observer under load: 8 sessions x 40 PostToolUse (posted in {posted:?}, all observed after {drained:?})");
    println!(
        "  {events} events in {req} observer requests: {:.1} events/request (latency run, one hook at a time: {:.1})",
        events as f64 / req.max(1) as f64,
        levents as f64 / lreq.max(1) as f64
    );
    println!(
        "  {tokens} tokens for {stored} stored observations: {:.0} tokens/observation (mock usage: 120 tokens per model call)",
        tokens as f64 / obs.max(1) as f64
    );
}
