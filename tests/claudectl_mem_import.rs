//! `claudectl mem import` against a real claude-memd, from a claude-mem database built here
//! with claude-mem's own schema (its migrations' CREATE TABLE statements, current shape:
//! thedotmack/claude-mem src/services/sqlite/schema.sql and migrations/runner.ts), held
//! open by a writer in WAL mode as claude-mem's worker would.

#[path = "claudectl_support/mod.rs"]
mod ctl;
#[path = "support/memd.rs"]
mod memd;

use rusqlite::{params, Connection};
use serde_json::json;
use std::path::{Path, PathBuf};

/// claude-mem's tables as its migrations leave them.
const CLAUDE_MEM_SCHEMA: &str = include_str!("claudectl_support/claude_mem.sql");

/// Observations per project, summaries and prompts per session.
const SHOP: usize = 200;
const GHOST: usize = 60;
const API: usize = 40;
const SESSIONS: usize = 30;
const PROMPTS_PER_SESSION: usize = 2;
/// Rows the fixture adds that must be rejected, and the one withheld (all private).
const REJECTED: usize = 4;
/// Observations beyond the projects' own: a legacy one, a worktree's, an adopted one.
const EXTRA: usize = 3;
const WITHHELD: usize = 1;

/// 2026-01-05T10:00:00Z in milliseconds, as claude-mem stores epochs.
const T0_MS: i64 = 1_767_607_200_000;

struct Fixture {
    path: PathBuf,
    /// Held open, as claude-mem's worker holds it (WAL mode: the rows are in the WAL).
    writer: Connection,
}

fn project_of(i: usize) -> &'static str {
    match i % SESSIONS {
        0..=19 => "shop",
        20..=25 => "ghost",
        _ => "api",
    }
}

fn build_fixture(dir: &Path, shop_repo: &Path) -> Fixture {
    let path = dir.join("claude-mem.db");
    let c = Connection::open(&path).unwrap();
    c.pragma_update(None, "journal_mode", "WAL").unwrap();
    // Off, as in databases where orphan rows exist (one is added below).
    c.pragma_update(None, "foreign_keys", false).unwrap();
    c.execute_batch(CLAUDE_MEM_SCHEMA).unwrap();
    let tx = c.unchecked_transaction().unwrap();
    for s in 0..SESSIONS {
        tx.execute(
            "INSERT INTO sdk_sessions (content_session_id, memory_session_id, project, started_at,
               started_at_epoch, status) VALUES (?1, ?2, ?3, '2026-01-05T10:00:00.000Z', ?4, 'completed')",
            params![format!("claude-{s}"), format!("mem-{s}"), project_of(s), T0_MS],
        )
        .unwrap();
    }
    let mut n = 0;
    let mut obs = |project: &str, count: usize| {
        for _ in 0..count {
            // Sessions of that project, round robin.
            let mine: Vec<usize> = (0..SESSIONS)
                .filter(|s| project_of(*s) == project)
                .collect();
            let s = mine[n % mine.len()];
            let file = shop_repo.join(format!("src/module{n}.rs"));
            tx.execute(
                "INSERT INTO observations (memory_session_id, project, type, title, subtitle, facts,
                   narrative, concepts, files_read, files_modified, prompt_number, discovery_tokens,
                   content_hash, generated_by_model, created_at, created_at_epoch)
                 VALUES (?1, ?2, ?3, ?4, 'a subtitle', ?5, ?6, '[\"how-it-works\",\"gotcha\"]',
                   '[]', ?7, 1, 1234, ?8, 'claude-haiku', ?9, ?10)",
                params![
                    format!("mem-{s}"),
                    project,
                    ["bugfix", "feature", "discovery", "change"][n % 4],
                    format!("{project} finding number{n} about zebrafish{n}"),
                    json!([format!("fact one of {n}"), "fact two"]).to_string(),
                    format!("The narrative of observation {n}."),
                    if project == "shop" {
                        json!([file]).to_string()
                    } else {
                        "[]".into()
                    },
                    format!("hash{n}"),
                    format!("2026-01-05T10:{:02}:00.000Z", n % 60),
                    T0_MS + n as i64 * 60_000,
                ],
            )
            .unwrap();
            n += 1;
        }
    };
    obs("shop", SHOP);
    obs("ghost", GHOST);
    obs("api", API);
    // A legacy row: no title, only the old `text` column.
    tx.execute(
        "INSERT INTO observations (memory_session_id, project, text, type, created_at, created_at_epoch)
         VALUES ('mem-0', 'shop', 'Legacy quokka note\nsecond line', 'discovery', 'x', ?1)",
        [T0_MS],
    )
    .unwrap();
    // A worktree's project (`<main>/<worktree>`), and a row claude-mem adopted into shop.
    tx.execute_batch(&format!(
        "INSERT INTO observations (memory_session_id, project, type, title, merged_into_project,
           created_at, created_at_epoch)
         VALUES ('mem-0', 'shop/feature-wt', 'feature', 'worktree wallaby work', NULL, 'x', {T0_MS}),
                ('mem-0', 'shop-old', 'feature', 'adopted wallaby work', 'shop', 'x', {T0_MS});"
    ))
    .unwrap();
    // Rejected: facts that are not JSON; nothing to call it by; no time (which claude-memd
    // would refuse for the whole batch, stopping every import there).
    tx.execute_batch(&format!(
        "INSERT INTO observations (memory_session_id, project, type, title, facts, created_at, created_at_epoch)
           VALUES ('mem-0', 'shop', 'bugfix', 'broken facts', '[\"unterminated', 'x', {T0_MS});
         INSERT INTO observations (memory_session_id, project, type, created_at, created_at_epoch)
           VALUES ('mem-0', 'shop', 'bugfix', 'x', {T0_MS});
         INSERT INTO observations (memory_session_id, project, type, title, created_at, created_at_epoch)
           VALUES ('mem-0', 'shop', 'bugfix', 'timeless', 'x', 0);"
    ))
    .unwrap();
    for s in 0..SESSIONS {
        tx.execute(
            "INSERT INTO session_summaries (memory_session_id, project, request, investigated, learned,
               completed, next_steps, files_read, files_edited, notes, prompt_number, created_at,
               created_at_epoch)
             VALUES (?1, ?2, ?3, 'the cart', 'totals are cached', 'fixed rounding', 'more tests',
               '[]', '[]', NULL, 2, 'x', ?4)",
            params![format!("mem-{s}"), project_of(s), format!("request of session {s} about wombats"), T0_MS + s as i64],
        )
        .unwrap();
        for p in 1..=PROMPTS_PER_SESSION {
            tx.execute(
                "INSERT INTO user_prompts (content_session_id, prompt_number, prompt_text, created_at, created_at_epoch)
                 VALUES (?1, ?2, ?3, 'x', ?4)",
                params![format!("claude-{s}"), p as i64, format!("prompt {p} of session {s}: tune the platypus"), T0_MS + s as i64],
            )
            .unwrap();
        }
    }
    // Rejected: a prompt of a session claude-mem never recorded (no project). Withheld: all private.
    tx.execute_batch(&format!(
        "INSERT INTO user_prompts (content_session_id, prompt_number, prompt_text, created_at, created_at_epoch)
           VALUES ('claude-unknown', 1, 'orphan', 'x', {T0_MS}),
                  ('claude-0', 3, '<private>my bank password</private>', 'x', {T0_MS});"
    ))
    .unwrap();
    tx.commit().unwrap();
    Fixture { path, writer: c }
}

/// The source's bytes: the file and its WAL (where the held-open writer's rows are).
fn source_bytes(path: &Path) -> (Vec<u8>, Vec<u8>) {
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    (std::fs::read(path).unwrap(), std::fs::read(wal).unwrap())
}

#[test]
fn import_a_claude_mem_database() {
    let m = memd::Memd::start();
    let rt = m.dir.path().join("run");
    let base = m.dir.path();
    let shop = base.join("src/shop");
    memd::git_init(&shop);
    std::fs::create_dir_all(shop.join("src")).unwrap();
    let api = base.join("work/api-server");
    memd::git_init(&api);
    let ghost = base.join("elsewhere/ghost");
    memd::git_init(&ghost);
    let fx = build_fixture(base, &shop);
    let fx_path = fx.path.display().to_string();
    let before_src = source_bytes(&fx.path);
    let empty = ctl::counts(&m.db());

    // Not claude-mem: refused before anything is sent; memd unchanged.
    let other = base.join("other.db");
    Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('hi');")
        .unwrap();
    let garbage = base.join("garbage.db");
    std::fs::write(
        &garbage,
        b"this is not a database at all, just some bytes\n".repeat(200),
    )
    .unwrap();
    let almost = base.join("almost.db");
    Connection::open(&almost)
        .unwrap()
        .execute_batch(&CLAUDE_MEM_SCHEMA.replace("  facts TEXT,\n", ""))
        .unwrap();
    for (file, expect) in [
        (&other, "not a claude-mem database (no table sdk_sessions)"),
        (&garbage, "not a readable SQLite database"),
        (&almost, "table observations has no column facts"),
        (&base.join("missing.db"), "no such file"),
        (&base.join("src"), "not a file"),
    ] {
        let garbage_before = std::fs::read(file).ok();
        let (_, err) = ctl::run(&rt, &["mem", "import", &file.display().to_string()], 1);
        assert!(err.contains(expect), "{}: {err}", file.display());
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert_eq!(
            std::fs::read(file).ok(),
            garbage_before,
            "{} changed",
            file.display()
        );
        assert_eq!(ctl::counts(&m.db()), empty);
    }

    // claude-memd down: exit 3 naming the socket; nothing read beyond the checks.
    let nowhere = base.join("no-daemon");
    std::fs::create_dir_all(&nowhere).unwrap();
    let (_, err) = ctl::run(&nowhere, &["mem", "import", &fx_path], 3);
    assert!(err.contains("memd.sock"), "{err}");

    // The import.
    let api_map = format!("api={}", api.display());
    let r = ctl::json(
        &rt,
        &[
            "mem",
            "import",
            &fx_path,
            "--project",
            &api_map,
            "--batch",
            "64",
        ],
    );
    let good = SHOP + GHOST + API + EXTRA + SESSIONS * (1 + PROMPTS_PER_SESSION);
    assert_eq!(r["imported"], good, "{r:#}");
    assert_eq!(r["duplicates"], 0, "{r:#}");
    assert_eq!(r["withheld"], WITHHELD, "{r:#}");
    assert_eq!(r["rejected"], REJECTED, "{r:#}");
    assert_eq!(r["rows"], good + REJECTED + WITHHELD, "{r:#}");
    let reasons: Vec<String> = r["rejections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            format!(
                "{} {}",
                x["origin"].as_str().unwrap(),
                x["reason"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        reasons
            .iter()
            .any(|x| x.starts_with("claude-mem:observations:")
                && x.contains("facts is not a JSON list")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|x| x.contains("created_at_epoch is not a positive time")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|x| x.contains("no title and no text")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|x| x.starts_with("claude-mem:user_prompts:") && x.contains("no project")),
        "{reasons:?}"
    );
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap().display().to_string();
    let mapped: Vec<(String, String, String)> = r["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().into(),
                p["project"].as_str().unwrap().into(),
                p["how"].as_str().unwrap().into(),
            )
        })
        .collect();
    for want in [
        ("shop".to_string(), canon(&shop), "files".to_string()),
        ("api".into(), canon(&api), "dir".into()),
        ("ghost".into(), "ghost".into(), "unmapped".into()),
    ] {
        assert!(mapped.contains(&want), "{want:?} in {mapped:?}");
    }
    let after = ctl::counts(&m.db());
    assert_eq!(
        after[..3],
        [
            (SHOP + GHOST + API + EXTRA) as i64,
            SESSIONS as i64,
            (SESSIONS * PROMPTS_PER_SESSION) as i64
        ]
    );

    // search → show: the right project and fields.
    // Quoted: the word itself, not zebrafish70… (a bare word also matches as a prefix).
    let found = ctl::json(
        &rt,
        &["mem", "search", "\"zebrafish7\"", "--project", "shop"],
    );
    let hits = found["results"].as_array().unwrap();
    assert_eq!(hits.len(), 1, "{found:#}");
    assert_eq!(hits[0]["project"], canon(&shop).as_str());
    let id = hits[0]["id"].as_i64().unwrap();
    let o = ctl::json(&rt, &["mem", "show", &id.to_string()]);
    assert_eq!(o["title"], "shop finding number7 about zebrafish7", "{o:#}");
    assert_eq!(o["type"], "change");
    assert_eq!(o["subtitle"], "a subtitle");
    assert_eq!(o["facts"], json!(["fact one of 7", "fact two"]));
    assert_eq!(o["concepts"], json!(["how-it-works", "gotcha"]));
    assert_eq!(o["files_modified"], json!([shop.join("src/module7.rs")]));
    assert_eq!(o["project_name"], "shop");
    assert_eq!(
        o["session_id"], "claude-7",
        "Claude's session id, not claude-mem's own"
    );
    assert_eq!(
        o["created_at_epoch"],
        (T0_MS + 7 * 60_000) / 1000,
        "milliseconds became seconds"
    );
    assert_eq!(o["created_at"], "2026-01-05T10:07:00.000Z");
    let stored: (String, String) = m
        .db()
        .query_row(
            "SELECT origin, source FROM observations WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(stored.1, "claude-mem");
    assert!(
        stored.0.starts_with("claude-mem:observations:"),
        "{stored:?}"
    );
    // By name too, and the other record kinds.
    let by_name = ctl::json(
        &rt,
        &[
            "mem",
            "search",
            "\"zebrafish7\"",
            "--project",
            &canon(&shop),
        ],
    );
    assert_eq!(by_name["results"].as_array().unwrap().len(), 1);
    let wallaby = ctl::json(&rt, &["mem", "search", "wallaby", "--project", "shop"]);
    let wallaby = wallaby["results"].as_array().unwrap();
    assert_eq!(wallaby.len(), 2, "worktree and adopted rows: {wallaby:?}");
    assert!(wallaby
        .iter()
        .all(|h| h["project"] == canon(&shop).as_str()));
    let legacy = ctl::json(&rt, &["mem", "search", "quokka"]);
    assert_eq!(
        legacy["results"][0]["title"], "Legacy quokka note",
        "{legacy:#}"
    );
    let sums = ctl::json(
        &rt,
        &[
            "mem", "search", "wombats", "--record", "summary", "-n", "100",
        ],
    );
    assert_eq!(
        sums["results"].as_array().unwrap().len(),
        SESSIONS,
        "{sums:#}"
    );
    let prompts = ctl::json(
        &rt,
        &[
            "mem", "search", "platypus", "--record", "prompt", "-n", "100",
        ],
    );
    assert_eq!(
        prompts["results"].as_array().unwrap().len(),
        SESSIONS * PROMPTS_PER_SESSION
    );
    assert!(
        !m.raw_bytes().windows(13).any(|w| w == b"bank password"),
        "the private prompt left no trace"
    );
    let api_hit = ctl::json(&rt, &["mem", "search", "\"zebrafish280\""]);
    assert_eq!(
        api_hit["results"][0]["project"],
        canon(&api).as_str(),
        "{api_hit:#}"
    );

    // timeline around it: its neighbours in time, of the same project.
    let t = ctl::json(
        &rt,
        &[
            "mem",
            "timeline",
            &id.to_string(),
            "--before",
            "2",
            "--after",
            "2",
        ],
    );
    let items = t["items"].as_array().unwrap();
    assert!(
        items.iter().any(|i| i["anchor"] == true && i["id"] == id),
        "{t:#}"
    );
    assert!(items.len() >= 3, "{t:#}");

    // SessionStart context: the mapped repository shows its imported work; a repository
    // named like an unmapped project shows that project's.
    let ctx = ctl::json(
        &rt,
        &["mem", "context", "--project", &shop.display().to_string()],
    );
    let md = ctx["markdown"].as_str().unwrap();
    assert!(
        md.contains(&format!("shop finding number{}", SHOP - 1)),
        "{md}"
    );
    assert!(!md.contains("ghost finding"), "{md}");
    let hook = json!({"session_id": "new-1", "cwd": ghost, "hook_event_name": "SessionStart", "source": "startup"});
    let (s, ack) = m.post("/v1/hook", hook.to_string().as_bytes());
    assert_eq!(s, 200, "{ack}");
    let ghost_ctx = ack["context"].as_str().unwrap();
    assert!(
        ghost_ctx.contains(&format!("ghost finding number{}", SHOP + GHOST - 1)),
        "{ghost_ctx}"
    );
    assert!(!ghost_ctx.contains("shop finding"), "{ghost_ctx}");

    // Again: nothing new. The ghost repository is known now (its SessionStart above), so
    // the records imported under the bare name move to it.
    let again = ctl::json(&rt, &["mem", "import", &fx_path]);
    assert_eq!(again["imported"], 0, "{again:#}");
    assert_eq!(again["duplicates"], good, "{again:#}");
    let again_counts = ctl::counts(&m.db());
    assert_eq!(again_counts[..3], after[..3]);
    let moved = ctl::json(&rt, &["mem", "search", "\"zebrafish210\""]);
    assert_eq!(
        moved["results"][0]["project"],
        canon(&ghost).as_str(),
        "{moved:#}"
    );
    let api_still = ctl::json(&rt, &["mem", "search", "\"zebrafish280\""]);
    assert_eq!(
        api_still["results"][0]["project"],
        canon(&api).as_str(),
        "remembered without --project"
    );

    // The source was only read.
    assert!(
        source_bytes(&fx.path) == before_src,
        "the claude-mem database changed"
    );
    let still: i64 = fx
        .writer
        .query_row("SELECT count(*) FROM observations", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        still as usize,
        SHOP + GHOST + API + EXTRA + 3,
        "the worker's connection still works"
    );

    // The human summary.
    let (human, _) = ctl::run(&rt, &["mem", "import", &fx_path], 0);
    assert!(
        human.starts_with(&format!("imported 0 records from {fx_path}")),
        "{human}"
    );
    assert!(
        human.contains(&format!("ghost → {} (already known", canon(&ghost))),
        "{human}"
    );
    assert!(
        human.contains(&format!("api → {} (from --project)", canon(&api))),
        "{human}"
    );
    assert!(
        human.contains("rejected claude-mem:observations:"),
        "{human}"
    );
}
