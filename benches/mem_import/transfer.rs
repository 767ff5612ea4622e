//! Part of the `mem_import` bench (`cargo bench --bench mem_import -- transfer`):
//! `claudectl mem export` and `claudectl mem import` of 100,000 records (90,000
//! observations, 5,000 summaries, 5,000 prompts), whole commands against warm claude-memd
//! instances, with baselines measured in the same run: reading every column of the same
//! rows with raw SQLite — what an export has to do at least — and copying them with raw
//! SQLite from one claude-memd database into an empty one (same schema, FTS triggers, one
//! transaction) — what an import has to do at least.

use super::{ctl, memd};
use rusqlite::{params, Connection};
use std::time::{Duration, Instant};

const OBS: usize = 90_000;
const SUMMARIES: usize = 5_000;
const PROMPTS: usize = 5_000;
const TOTAL: usize = OBS + SUMMARIES + PROMPTS;
const RUNS: usize = 3;

fn fill(db: &Connection) {
    let tx = db.unchecked_transaction().unwrap();
    for i in 0..OBS {
        tx.execute(
            "INSERT INTO observations (session_id, project, project_name, type, title, subtitle,
               facts, narrative, concepts, files_modified, prompt_number, created_at,
               created_at_epoch)
             VALUES (?1, '/home/u/shop', 'shop', 'change', ?2, 'src/cart.rs', ?3, ?4,
               '[\"what-changed\"]', '[\"/home/u/shop/src/cart.rs\"]', 1,
               strftime('%Y-%m-%dT%H:%M:%fZ', ?5, 'unixepoch'), ?5)",
            params![
                format!("s{}", i / 50),
                format!("Rounded cart totals in step {i}"),
                format!("[\"totals are cents\", \"step {i} keeps the sum\"]"),
                "@@ -1 +1,2 @@\n total = 0.0\n+total_cents = 0\n".repeat(3),
                1_767_607_200 + i as i64,
            ],
        )
        .unwrap();
    }
    for i in 0..SUMMARIES {
        tx.execute(
            "INSERT INTO session_summaries (session_id, project, project_name, request, learned,
               completed, created_at, created_at_epoch)
             VALUES (?1, '/home/u/shop', 'shop', 'fix the cart totals', 'cents, not floats',
               ?2, '2026-01-05T10:00:00.000Z', 1767607200)",
            params![format!("s{i}"), format!("step {i} done")],
        )
        .unwrap();
    }
    for i in 0..PROMPTS {
        tx.execute(
            "INSERT INTO user_prompts (session_id, project, project_name, prompt_number,
               prompt_text, created_at, created_at_epoch)
             VALUES (?1, '/home/u/shop', 'shop', 1, ?2, '2026-01-05T10:00:00.000Z', 1767607200)",
            params![format!("s{i}"), format!("round the cart totals, take {i}")],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

/// Copy every record with raw SQL into `dst` (a fresh claude-memd database).
fn raw_copy(src: &std::path::Path, dst: &std::path::Path) -> Duration {
    let t = Instant::now();
    let d = Connection::open(dst).unwrap();
    d.execute("ATTACH ?1 AS src", [src.display().to_string()])
        .unwrap();
    d.execute_batch(
        "BEGIN;
         INSERT INTO main.observations SELECT * FROM src.observations;
         INSERT INTO main.session_summaries SELECT * FROM src.session_summaries;
         INSERT INTO main.user_prompts SELECT * FROM src.user_prompts;
         COMMIT;",
    )
    .unwrap();
    t.elapsed()
}

/// What an export has to do at least: read every column of every record (the JSON lists
/// as text), with raw SQL from the same database.
fn raw_read(src: &std::path::Path) -> Duration {
    let t = Instant::now();
    let s = Connection::open(src).unwrap();
    let mut bytes = 0usize;
    for table in ["observations", "session_summaries", "user_prompts"] {
        let mut st = s.prepare(&format!("SELECT * FROM {table}")).unwrap();
        let n = st.column_count();
        let mut rows = st.query([]).unwrap();
        while let Some(r) = rows.next().unwrap() {
            for i in 0..n {
                bytes += match r.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Text(t) => t.len(),
                    _ => 8,
                };
            }
        }
    }
    assert!(bytes > TOTAL);
    t.elapsed()
}

fn rate(d: Duration) -> f64 {
    TOTAL as f64 / d.as_secs_f64()
}

/// Run and print this part.
pub fn run() {
    let a = memd::Memd::start();
    fill(&a.db());
    let rt_a = a.dir.path().join("run");
    let file = a.dir.path().join("memory.jsonl");
    let mut export = Vec::new();
    let mut import = Vec::new();
    let mut raw = Vec::new();
    let mut read = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        ctl::run(&rt_a, &["mem", "export", "-o", file.to_str().unwrap()], 0);
        export.push(t.elapsed());
        read.push(raw_read(&a.db_path()));
        let b = memd::Memd::start();
        let t = Instant::now();
        ctl::run(
            &b.dir.path().join("run"),
            &["mem", "import", "--json", file.to_str().unwrap()],
            0,
        );
        import.push(t.elapsed());
        assert_eq!(
            b.count("SELECT (SELECT count(*) FROM observations) + (SELECT count(*) FROM session_summaries) + (SELECT count(*) FROM user_prompts)"),
            TOTAL as i64
        );
        let mut c = memd::Memd::start();
        c.kill9();
        raw.push(raw_copy(&a.db_path(), &c.db_path()));
    }
    for v in [&mut export, &mut import, &mut raw, &mut read] {
        v.sort();
    }
    let med = |v: &[Duration]| v[v.len() / 2];
    let size = std::fs::metadata(&file).unwrap().len();
    println!("## export/import of {TOTAL} records ({OBS} observations, {SUMMARIES} summaries, {PROMPTS} prompts; file {:.1} MB), median of {RUNS}", size as f64 / 1e6);
    println!(
        "  claudectl mem export           {:>7.2} s  {:>9.0} records/s",
        med(&export).as_secs_f64(),
        rate(med(&export))
    );
    println!("  raw SQL read (baseline)        {:>7.2} s  {:>9.0} records/s  (export is {:.1}x the baseline)", med(&read).as_secs_f64(), rate(med(&read)), med(&export).as_secs_f64() / med(&read).as_secs_f64());
    println!(
        "  claudectl mem import (empty)   {:>7.2} s  {:>9.0} records/s",
        med(&import).as_secs_f64(),
        rate(med(&import))
    );
    println!("  raw SQL copy (baseline)        {:>7.2} s  {:>9.0} records/s  (import is {:.1}x the baseline)", med(&raw).as_secs_f64(), rate(med(&raw)), med(&import).as_secs_f64() / med(&raw).as_secs_f64());
}
