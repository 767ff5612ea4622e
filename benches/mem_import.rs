//! `claudectl mem import` and `claudectl mem prune`, whole commands against a warm
//! claude-memd, each with a baseline measured in the same run:
//!
//! - import of 10,000 claude-mem observations vs reading the same rows and inserting them
//!   with raw SQLite into claude-memd's schema (same FTS triggers, one transaction);
//! - prune of 10,000 old observations (batches of 5,000, then incremental vacuum) vs one raw
//!   `DELETE` transaction plus the same vacuum on an identical database.
//!
//! - `claudectl mem export` and the import of what it wrote, 100,000 records
//!   ([`mem_transfer`]).
//!
//! Run: `cargo bench --bench mem_import` (release build); `-- claude-mem` or `-- transfer`
//! runs one part.

#[path = "../tests/claudectl_support/mod.rs"]
mod ctl;
#[path = "mem_import/transfer.rs"]
mod mem_transfer;
#[path = "../tests/support/memd.rs"]
mod memd;
#[path = "support.rs"]
mod support;

use rusqlite::{params, Connection};
use std::path::Path;
use std::time::{Duration, Instant};
use support::{report, Samples};

const ROWS: usize = 10_000;
const RUNS: usize = 5;

/// A claude-mem database of `ROWS` observations of one project, in `dir`.
fn claude_mem_db(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("claude-mem.db");
    let c = Connection::open(&path).unwrap();
    c.pragma_update(None, "journal_mode", "WAL").unwrap();
    c.execute_batch(include_str!("../tests/claudectl_support/claude_mem.sql"))
        .unwrap();
    let tx = c.unchecked_transaction().unwrap();
    for s in 0..50 {
        tx.execute(
            "INSERT INTO sdk_sessions (content_session_id, memory_session_id, project, started_at,
               started_at_epoch) VALUES (?1, ?2, 'shop', '2026-01-05T10:00:00.000Z', 1767607200000)",
            params![format!("claude-{s}"), format!("mem-{s}")],
        )
        .unwrap();
    }
    for i in 0..ROWS {
        tx.execute(
            "INSERT INTO observations (memory_session_id, project, type, title, subtitle, facts,
               narrative, concepts, files_read, files_modified, prompt_number, discovery_tokens,
               created_at, created_at_epoch)
             VALUES (?1, 'shop', 'change', ?2, 'src/cart.rs', ?3, ?4, '[\"what-changed\"]',
               '[\"/home/u/shop/src/lib.rs\"]', '[\"/home/u/shop/src/cart.rs\"]', 1, 900,
               '2026-01-05T10:00:00.000Z', ?5)",
            params![
                format!("mem-{}", i % 50),
                format!("Rounded cart totals in step {i}"),
                format!("[\"totals are cents\", \"step {i} keeps the sum\"]"),
                "The cart kept floating point totals; they are integer cents now. ".repeat(4),
                1_767_607_200_000i64 + i as i64 * 1000,
            ],
        )
        .unwrap();
    }
    tx.commit().unwrap();
    path
}

/// What an import has to do at least: read the rows, insert them (FTS triggers included)
/// in one transaction.
fn raw_import(src: &Path, dst: &Path) -> Duration {
    let t = Instant::now();
    let s = Connection::open(src).unwrap();
    let mut d = Connection::open(dst).unwrap();
    let tx = d.transaction().unwrap();
    {
        let mut read = s
            .prepare(
                "SELECT o.id, s.content_session_id, o.type, o.title, o.subtitle, o.facts,
                   o.narrative, o.concepts, o.files_read, o.files_modified, o.created_at,
                   o.created_at_epoch / 1000
                 FROM observations o JOIN sdk_sessions s USING (memory_session_id)",
            )
            .unwrap();
        let mut ins = tx
            .prepare(
                "INSERT INTO observations (origin, session_id, project, project_name, type, title,
                   subtitle, facts, narrative, concepts, files_read, files_modified, created_at,
                   created_at_epoch) VALUES ('raw:' || ?1, ?2, '/home/u/shop', 'shop', ?3, ?4, ?5,
                   ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )
            .unwrap();
        let mut rows = read.query([]).unwrap();
        while let Some(r) = rows.next().unwrap() {
            let v: Vec<rusqlite::types::Value> = (0..12).map(|i| r.get(i).unwrap()).collect();
            ins.execute(rusqlite::params_from_iter(v)).unwrap();
        }
    }
    tx.commit().unwrap();
    t.elapsed()
}

/// `ROWS` observations 40 days old in claude-memd's database.
fn fill_old(db: &Connection) {
    let tx = db.unchecked_transaction().unwrap();
    for i in 0..ROWS {
        tx.execute(
            "INSERT INTO observations (session_id, project, project_name, type, title, narrative,
               facts, created_at, created_at_epoch) VALUES ('s', '/home/u/shop', 'shop', 'change',
               ?1, ?2, '[\"a fact\"]', '2026-01-01T00:00:00Z', unixepoch('now', '-40 days'))",
            params![format!("old step {i}"), "x".repeat(300)],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

fn raw_prune(db: &Connection) -> Duration {
    let t = Instant::now();
    db.execute(
        "DELETE FROM observations WHERE created_at_epoch < unixepoch('now', '-30 days')",
        [],
    )
    .unwrap();
    let mut st = db.prepare("PRAGMA incremental_vacuum").unwrap();
    let mut rows = st.query([]).unwrap();
    while rows.next().unwrap().is_some() {}
    t.elapsed()
}

/// A migrated claude-memd database no daemon is using.
fn idle_memd_db() -> (memd::Memd, Connection) {
    let mut m = memd::Memd::start();
    m.kill9();
    let c = Connection::open(m.db_path()).unwrap();
    (m, c)
}

fn rate(d: Duration) -> String {
    format!("{:.0} rows/s", ROWS as f64 / d.as_secs_f64())
}

fn main() {
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let run = |part: &str| only.is_empty() || only.iter().any(|o| o == part);
    if run("claude-mem") {
        claude_mem_import_and_prune();
    }
    if run("transfer") {
        mem_transfer::run();
    }
}

fn claude_mem_import_and_prune() {
    let work = tempfile::Builder::new()
        .prefix("cdmi")
        .tempdir_in("/tmp")
        .unwrap();
    let src = claude_mem_db(work.path());
    let src_s = src.display().to_string();
    let (mut imports, mut raw_imports, mut prunes, mut raw_prunes) =
        (vec![], vec![], vec![], vec![]);
    for _ in 0..RUNS {
        let m = memd::Memd::start();
        let rt = m.dir.path().join("run");
        let t = Instant::now();
        let r = ctl::json(&rt, &["mem", "import", &src_s]);
        imports.push(t.elapsed());
        assert_eq!(r["imported"], ROWS, "{r}");

        let (b, _c) = idle_memd_db();
        raw_imports.push(raw_import(&src, &b.db_path()));

        let m = memd::Memd::start();
        let rt = m.dir.path().join("run");
        fill_old(&m.db());
        let t = Instant::now();
        let r = ctl::json(&rt, &["mem", "prune", "--older-than-days", "30"]);
        prunes.push(t.elapsed());
        assert_eq!(r["observations"], ROWS, "{r}");

        let (_b, c) = idle_memd_db();
        fill_old(&c);
        raw_prunes.push(raw_prune(&c));
    }
    let (imports, raw_imports) = (Samples::new(imports), Samples::new(raw_imports));
    let (prunes, raw_prunes) = (Samples::new(prunes), Samples::new(raw_prunes));
    println!("{ROWS} observations, {RUNS} runs each");
    report(
        "claudectl mem import (whole command)",
        &imports,
        Some(("raw SQLite", &raw_imports)),
    );
    report(
        "raw SQLite read + insert, one transaction",
        &raw_imports,
        None,
    );
    report(
        "claudectl mem prune (batches of 5000)",
        &prunes,
        Some(("raw SQLite", &raw_prunes)),
    );
    report("raw SQLite DELETE + incremental vacuum", &raw_prunes, None);
    println!(
        "import {} (raw {}); prune {} (raw {})",
        rate(imports.p50()),
        rate(raw_imports.p50()),
        rate(prunes.p50()),
        rate(raw_prunes.p50())
    );
}
