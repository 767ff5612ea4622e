//! `claudectl mem prune` against a real claude-memd: thousands of old records deleted in
//! batches (each one transaction), counts and the search index right after every step,
//! pending events kept, bad requests refused with nothing changed.

#[path = "claudectl_support/mod.rs"]
mod ctl;
#[path = "support/memd.rs"]
mod memd;

use serde_json::json;

const OLD: usize = 3000;
const NEW: usize = 200;

/// Old and new records straight into memd's database (as its processor writes them), each
/// observation with its own word so a search can tell which are left.
fn fill(db: &rusqlite::Connection) {
    let tx = db.unchecked_transaction().unwrap();
    for i in 0..OLD + NEW {
        let (word, when) = if i < OLD {
            (format!("oldword{i}"), "unixepoch('now', '-40 days')")
        } else {
            (format!("newword{i}"), "unixepoch('now', '-1 days')")
        };
        tx.execute(
            &format!(
                "INSERT INTO observations (session_id, project, project_name, type, title, narrative,
                   facts, created_at, created_at_epoch)
                 VALUES ('s-old', '/r/shop', 'shop', 'change', ?1, ?2, '[\"a fact\"]',
                   strftime('%Y-%m-%dT%H:%M:%fZ', {when}, 'unixepoch'), {when})"
            ),
            [format!("edited {word}"), "x".repeat(800)],
        )
        .unwrap();
    }
    tx.execute_batch(
        "INSERT INTO session_summaries (session_id, project, project_name, request, created_at, created_at_epoch)
           VALUES ('s-old', '/r/shop', 'shop', 'old summary', '2020-01-01T00:00:00Z', unixepoch('now', '-40 days'));
         INSERT INTO user_prompts (session_id, project, project_name, prompt_number, prompt_text, created_at_epoch)
           VALUES ('s-old', '/r/shop', 'shop', 1, 'old prompt', unixepoch('now', '-40 days'));
         INSERT INTO events (session_id, event, project, project_name, payload, state, created_at_epoch)
           VALUES ('s-old', 'Stop', '/r/shop', 'shop', '{}', 'done', unixepoch('now', '-40 days')),
                  ('s-pending', 'Stop', '/r/shop', 'shop', '{}', 'failed', unixepoch('now', '-40 days'));",
    )
    .unwrap();
    tx.commit().unwrap();
}

#[test]
fn prune_in_batches_with_counts_search_and_refusals() {
    let m = memd::Memd::start();
    let rt = m.dir.path().join("run");
    let db = m.db();
    fill(&db);
    // An old event still waiting: never pruned. Its state is set after the processor looked,
    // so it stays pending (the processor only picks up new work when woken).
    db.execute(
        "UPDATE events SET state = 'pending' WHERE session_id = 's-pending'",
        [],
    )
    .unwrap();
    let before = ctl::counts(&db);
    assert_eq!(before[0], (OLD + NEW) as i64);

    // Bad requests: 4xx with a reason, nothing deleted, the daemon keeps serving.
    for body in [
        json!({"older_than_days": 0}),
        json!({"older_than_days": 30, "limit": 0}),
        json!({"older_than_days": 30, "limit": 1_000_000_000u64}),
        json!({"older_than_days": 30, "limit": 10, "vacuum": true}),
        json!({"older_than_days": -3}),
    ] {
        let (status, r) = m.post("/v1/prune", body.to_string().as_bytes());
        assert!((400..500).contains(&status), "{body}: {status} {r}");
        assert_eq!(ctl::counts(&db), before, "{body} changed the database");
    }
    let (status, r) = m.post("/v1/prune", br#"{"older_than_days": 30, "limit": 0}"#);
    assert_eq!(status, 400);
    assert!(r["error"].as_str().unwrap().contains("limit"), "{r}");
    ctl::run(
        &rt,
        &["mem", "prune", "--older-than-days", "30", "--batch", "0"],
        2,
    );
    assert_eq!(ctl::counts(&db), before);

    // Dry run: the counts, nothing deleted.
    let dry = ctl::json(
        &rt,
        &["mem", "prune", "--older-than-days", "30", "--dry-run"],
    );
    assert_eq!(dry["dry_run"], true, "{dry}");
    assert_eq!(dry["observations"], OLD, "{dry}");
    assert_eq!(
        (&dry["summaries"], &dry["prompts"], &dry["events"]),
        (&json!(1), &json!(1), &json!(1)),
        "the pending event is not counted: {dry}"
    );
    let (human, _) = ctl::run(
        &rt,
        &["mem", "prune", "--older-than-days", "30", "--dry-run"],
        0,
    );
    assert!(
        human.starts_with(&format!("would delete {OLD} observations")),
        "{human}"
    );
    assert_eq!(ctl::counts(&db), before);

    // One batch by hand, as if claudectl were interrupted after it: a consistent database
    // (the integrity check in counts) with exactly that batch gone.
    let (status, r) = m.post("/v1/prune", br#"{"older_than_days": 30, "limit": 500}"#);
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["observations"], 500, "{r}");
    assert_eq!(r["freed_pages"], 0, "space comes back at the end: {r}");
    let total = OLD + 3;
    assert_eq!(r["remaining"], total - 500, "{r}");
    assert_eq!(ctl::counts(&db)[0], (OLD + NEW - 500) as i64);

    // claudectl finishes the job in batches of 700.
    let p = ctl::json(
        &rt,
        &["mem", "prune", "--older-than-days", "30", "--batch", "700"],
    );
    assert_eq!(p["observations"], OLD - 500, "{p}");
    assert_eq!(p["remaining"], 0, "{p}");
    assert_eq!(p["batches"], (total - 500).div_ceil(700), "{p}");
    assert!(
        p["freed_pages"].as_i64().unwrap() > 100,
        "the file shrank: {p}"
    );
    let after = ctl::counts(&db);
    assert_eq!(after[0], NEW as i64);
    assert_eq!((after[1], after[2]), (0, 0));
    assert_eq!(after[3], 1, "only the pending event is left");
    let free: i64 = db
        .query_row("PRAGMA freelist_count", [], |r| r.get(0))
        .unwrap();
    assert_eq!(free, 0);

    // Search agrees: the pruned words are gone, the recent ones are found.
    for (word, found) in [
        ("oldword17", false),
        ("oldword2999", false),
        ("newword3100", true),
    ] {
        let r = ctl::json(&rt, &["mem", "search", word]);
        assert_eq!(
            !r["results"].as_array().unwrap().is_empty(),
            found,
            "{word}: {r}"
        );
    }

    // Nothing left: one call, nothing deleted; the human summary says so.
    let (human, _) = ctl::run(&rt, &["mem", "prune", "--older-than-days", "30"], 0);
    assert!(human.starts_with("deleted 0 observations"), "{human}");
    assert!(human.contains("in 1 batches"), "{human}");

    // On a terminal the bar is drawn on stderr; with --json never, even on a terminal.
    fill(&db);
    let tty = on_tty(&rt, "mem prune --older-than-days 30 --batch 1000");
    assert!(tty.contains("pruning [") && tty.contains("rows,"), "{tty}");
    assert!(
        tty.contains(&format!("deleted {OLD} observations")),
        "{tty}"
    );
    fill(&db);
    let tty = on_tty(&rt, "mem prune --older-than-days 30 --batch 1000 --json");
    let v: serde_json::Value = serde_json::from_str(tty.trim())
        .unwrap_or_else(|e| panic!("only JSON on the terminal ({e}): {tty}"));
    assert_eq!(v["observations"], OLD);
}

/// `claudectl ARGS` on a pseudo-terminal (util-linux `script`): what the terminal showed.
fn on_tty(runtime: &std::path::Path, args: &str) -> String {
    let out = std::process::Command::new("script")
        .args([
            "-qec",
            &format!("{} {args}", env!("CARGO_BIN_EXE_claudectl")),
            "/dev/null",
        ])
        .env("CLAUDE_DAEMONS_RUNTIME_DIR", runtime)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script (util-linux) runs claudectl on a terminal");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}
