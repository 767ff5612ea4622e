//! Figures of team memory (issue 19), printed as medians; run by hand, not in CI:
//! `cargo test --test memory_share_bench -- --ignored --nocapture` (add `--release` for
//! release-build figures). Two claude-memd on one real nats-server with JetStream.
//!
//! - replication: a hook event at A (acknowledged) → searchable at B, per record;
//! - catch-up: 100,000 records A published while B was stopped → all stored at B, per second;
//! - hooks: PostToolUse acknowledgement time with sharing on (project enabled) and off.

#[path = "support/memd.rs"]
mod memd;
#[path = "support/nats.rs"]
mod nats;

use memd::{git_init, Memd};
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn config(url: &str) -> String {
    format!("[memory.share]\nbroker_url = \"{url}\"\nteam = \"bench\"\nteam_secret = \"s\"\n")
}

fn clone_at(dir: &Path) {
    git_init(dir);
    assert!(Command::new("git")
        .args(["remote", "add", "origin", "git@github.com:acme/bench.git"])
        .current_dir(dir)
        .status()
        .unwrap()
        .success());
}

fn share(m: &Memd, dir: &Path) {
    let body = json!({"project": dir, "enabled": true}).to_string();
    let (s, r) = m.post("/v1/share", body.as_bytes());
    assert_eq!(s, 200, "{r}");
}

fn median(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[v.len() * 95 / 100])
}

fn tool(m: &Memd, repo: &Path, i: usize) -> Duration {
    let mut t = json!({"session_id": "bench", "cwd": repo, "hook_event_name": "PostToolUse"});
    t["tool_name"] = json!("Bash");
    t["tool_use_id"] = json!(format!("t{i}"));
    t["tool_input"] = json!({"command": format!("cargo test marker{i}x")});
    t["tool_response"] = json!({"stdout": "ok", "stderr": ""});
    let started = Instant::now();
    let (s, a) = m.post("/v1/hook", t.to_string().as_bytes());
    assert_eq!(s, 200, "{a}");
    started.elapsed()
}

/// Poll `f` every `every` until it holds (a bulk phase is polled seldom: counting 100,000
/// rows every millisecond would measure the poll).
fn wait(what: &str, limit: Duration, every: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(every);
    }
}

#[test]
#[ignore = "a benchmark: run with --ignored --nocapture"]
fn team_memory_figures() {
    let tmp = tempfile::tempdir().unwrap();
    let broker = nats::Nats::start(tmp.path());
    let mut a = Memd::start_with_config(&config(&broker.url()));
    let mut b = Memd::start_with_config(&config(&broker.url()));
    let (ra, rb) = (a.dir.path().join("repo"), b.dir.path().join("clone"));
    clone_at(&ra);
    clone_at(&rb);
    share(&a, &ra);
    share(&b, &rb);

    // Replication latency.
    let n = 200;
    let mut lat = Vec::new();
    for i in 0..n {
        let started = Instant::now();
        tool(&a, &ra, i);
        let q = format!("/v1/search?q=marker{i}x&who=team&mode=lexical");
        wait(
            "replication",
            Duration::from_secs(30),
            Duration::from_millis(1),
            || {
                b.get(&q).1["results"]
                    .as_array()
                    .is_some_and(|r| !r.is_empty())
            },
        );
        lat.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let (p50, p95) = median(lat);
    println!(
        "replication hook at A -> searchable at B: p50 {p50:.1} ms, p95 {p95:.1} ms ({n} records)"
    );

    // Hook latency, sharing on (A's project is shared) and off (an unshared repository).
    let plain = a.dir.path().join("plain");
    git_init(&plain);
    let on: Vec<f64> = (0..300)
        .map(|i| tool(&a, &ra, 10_000 + i).as_secs_f64() * 1000.0)
        .collect();
    let off: Vec<f64> = (0..300)
        .map(|i| tool(&a, &plain, 20_000 + i).as_secs_f64() * 1000.0)
        .collect();
    let ((on50, on95), (off50, off95)) = (median(on), median(off));
    println!("PostToolUse ack: sharing on p50 {on50:.2} ms p95 {on95:.2} ms; off p50 {off50:.2} ms p95 {off95:.2} ms");
    a.wait_processed();

    // Catch-up: 100,000 records written while B is stopped.
    b.stop();
    let total = 100_000;
    a.stop();
    {
        let c = a.db();
        let project: String = c
            .query_row("SELECT project FROM share_projects", [], |r| r.get(0))
            .unwrap();
        c.execute_batch("BEGIN").unwrap();
        let mut st = c
            .prepare(
                "INSERT INTO observations (session_id, project, project_name, type, title, facts,
                   narrative, created_at, created_at_epoch)
                 VALUES ('bulk', ?1, 'repo', 'discovery', ?2, '[\"a fact of some length\"]',
                   'A narrative of a typical length, a sentence or two about what was done.',
                   '2026-01-01T00:00:00Z', 1767225600)",
            )
            .unwrap();
        for i in 0..total {
            st.execute(rusqlite::params![project, format!("Bulk record {i}")])
                .unwrap();
        }
        drop(st);
        c.execute_batch("COMMIT").unwrap();
    }
    let started = Instant::now();
    a.spawn();
    wait(
        "A to publish",
        Duration::from_secs(1800),
        Duration::from_millis(100),
        || a.count("SELECT count(*) FROM share_outbox") == 0,
    );
    let published = started.elapsed().as_secs_f64();
    println!(
        "publish: {total} records in {published:.1} s ({:.0} records/s)",
        total as f64 / published
    );
    let before = b.count("SELECT count(*) FROM team_records");
    let started = Instant::now();
    b.spawn();
    wait(
        "B to catch up",
        Duration::from_secs(1800),
        Duration::from_millis(100),
        || b.count("SELECT count(*) FROM team_records") >= before + total as i64,
    );
    let caught = started.elapsed().as_secs_f64();
    println!(
        "catch-up: {total} records in {caught:.1} s ({:.0} records/s, start of claude-memd included)",
        total as f64 / caught
    );
}
