//! `claudectl mem export` and `claudectl mem import` of what it wrote, between two real
//! claude-memd instances: the round trip gives the same search results and context, importing
//! twice (or into the memd that exported it) adds nothing, and a cut-short or hand-broken
//! file is refused line by line with nothing written.

#[path = "claudectl_support/mod.rs"]
mod ctl;
#[path = "support/memd.rs"]
mod memd;

use memd::{git_init, Memd};
use serde_json::{json, Value};

fn hook(m: &Memd, session: &str, repo: &std::path::Path, event: &str, extra: Value) {
    let mut v = json!({"session_id": session, "cwd": repo, "hook_event_name": event});
    v.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    assert_eq!(m.post("/v1/hook", v.to_string().as_bytes()).0, 200);
}

fn counts(m: &Memd) -> [i64; 3] {
    ["observations", "session_summaries", "user_prompts"]
        .map(|t| m.count(&format!("SELECT count(*) FROM {t}")))
}

fn results(m: &Memd, q: &str) -> Value {
    let (s, v) = m.get(&format!("/v1/search?q={q}"));
    assert_eq!(s, 200, "{q}: {v}");
    v
}

#[test]
fn round_trip_is_faithful_idempotent_and_refuses_broken_files() {
    let a = Memd::start();
    let shop = a.dir.path().join("shop");
    git_init(&shop);
    hook(
        &a,
        "s1",
        &shop,
        "UserPromptSubmit",
        json!({"prompt": "make the login token refresh before expiry"}),
    );
    for (i, (old, new)) in [
        (
            "expires = 3600",
            "expires = 3600\nrefresh_at = expires - 60",
        ),
        ("fn login() {}", "fn login() { audit(); }"),
    ]
    .iter()
    .enumerate()
    {
        hook(
            &a,
            "s1",
            &shop,
            "PostToolUse",
            json!({"tool_name": "Edit", "tool_use_id": format!("t{i}"),
                   "tool_input": {"file_path": shop.join(format!("src/auth{i}.py")), "old_string": old, "new_string": new}}),
        );
    }
    a.wait_processed();
    let db = a.db();
    db.execute_batch(
        "INSERT INTO session_summaries (session_id, project, project_name, request, learned,
           created_at, created_at_epoch)
         VALUES ('s1', 'shop', 'shop', 'token refresh', 'refresh a minute early',
           '2026-11-01T10:00:00.000Z', 1793527200);
         INSERT INTO observations (session_id, project, project_name, type, title, facts,
           created_at, created_at_epoch, source, origin)
         VALUES ('old', 'shop', 'shop', 'decision', 'Imported long ago: use argon2', '[]',
           '2025-01-01T00:00:00.000Z', 1735689600, 'claude-mem', 'claude-mem:observations:7');",
    )
    .unwrap();
    let id = a.get("/v1/search?q=refresh_at").1["results"][0]["id"]
        .as_i64()
        .unwrap();
    let (s, _) = a.request(
        "PATCH",
        &format!("/v1/observations/{id}"),
        Some(br#"{"concepts": ["what-changed", "gotcha"]}"#),
    );
    assert_eq!(s, 200);

    let file = a.dir.path().join("memory.jsonl");
    let rt_a = a.dir.path().join("run");
    ctl::run(&rt_a, &["mem", "export", "-o", file.to_str().unwrap()], 0);
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let header: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(
        (header["format"].as_str(), header["version"].as_u64()),
        (Some("claude-daemons-memory"), Some(1))
    );
    let end: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    let total: i64 = counts(&a).iter().sum();
    assert_eq!(end["records"], total, "{end}");
    assert_eq!(lines.len() as i64, total + 2);
    // stdout is the same export.
    let (stdout, _) = ctl::run(&rt_a, &["mem", "export"], 0);
    assert_eq!(
        stdout.lines().skip(1).collect::<Vec<_>>(),
        lines[1..].to_vec()
    );

    // Into a fresh memd: the same search results and context.
    let b = Memd::start();
    let rt_b = b.dir.path().join("run");
    let r = ctl::json(&rt_b, &["mem", "import", file.to_str().unwrap()]);
    assert_eq!(
        (r["imported"].as_i64(), r["duplicates"].as_u64()),
        (Some(total), Some(0)),
        "{r}"
    );
    assert_eq!(counts(&b), counts(&a));
    // The import turns FTS5's automerge off for its batches only (the upkeep merges later).
    for t in ["observations_fts", "summaries_fts", "prompts_fts"] {
        let automerge: Option<i64> = b
            .db()
            .query_row(
                &format!("SELECT v FROM {t}_config WHERE k = 'automerge'"),
                [],
                |r| r.get(0),
            )
            .ok();
        assert!(matches!(automerge, None | Some(4)), "{t}: {automerge:?}");
    }
    for q in [
        "refresh_at",
        "login+token",
        "argon2",
        "audit",
        "expiry+-nothing",
        "gotcha",
    ] {
        assert_eq!(results(&b, q), results(&a, q), "{q}");
        assert!(
            !results(&a, q)["results"].as_array().unwrap().is_empty(),
            "{q}"
        );
    }
    let ctx = |m: &Memd| m.get(&format!("/v1/context?project={}", shop.display())).1;
    assert_eq!(ctx(&b), ctx(&a));
    // The same record, but for the hook event it was made from, which stays behind.
    let obs = |m: &Memd| {
        let mut o = m.get(&format!("/v1/observations/{id}")).1;
        o.as_object_mut().unwrap().remove("event_id");
        o
    };
    assert_eq!(obs(&b), obs(&a));

    // Twice adds nothing; nor does importing into the memd that exported it.
    let r = ctl::json(&rt_b, &["mem", "import", file.to_str().unwrap()]);
    assert_eq!(
        (r["imported"].as_u64(), r["duplicates"].as_i64()),
        (Some(0), Some(total)),
        "{r}"
    );
    let r = ctl::json(&rt_a, &["mem", "import", file.to_str().unwrap()]);
    assert_eq!(
        (r["imported"].as_u64(), r["duplicates"].as_i64()),
        (Some(0), Some(total)),
        "{r}"
    );
    assert_eq!(counts(&a), counts(&b));
    // B's export names the same records the same way.
    let (again, _) = ctl::run(&rt_b, &["mem", "export"], 0);
    assert_eq!(
        again.lines().skip(1).collect::<Vec<_>>(),
        lines[1..].to_vec()
    );

    // Broken files: refused line by line, nothing written.
    let c = Memd::start();
    let rt_c = c.dir.path().join("run");
    let cut = a.dir.path().join("cut.jsonl");
    std::fs::write(&cut, &text[..text.len() - lines.last().unwrap().len() - 30]).unwrap();
    let (_, err) = ctl::run(&rt_c, &["mem", "import", cut.to_str().unwrap()], 1);
    let n = lines.len() - 1;
    assert!(err.contains(&format!("line {n}: ")), "{err}");
    assert!(
        err.contains("ends without its end line") && err.contains("nothing imported"),
        "{err}"
    );
    let broken = a.dir.path().join("broken.jsonl");
    let mut hand = lines.iter().map(|l| l.to_string()).collect::<Vec<_>>();
    hand[2] = hand[2].replacen("\"session_id\"", "\"sesion_id\"", 1);
    hand[3] = "{not json".into();
    std::fs::write(&broken, hand.join("\n") + "\n").unwrap();
    let (_, err) = ctl::run(&rt_c, &["mem", "import", broken.to_str().unwrap()], 1);
    assert!(err.contains("line 3: missing field `session_id`"), "{err}");
    assert!(err.contains("line 4: "), "{err}");
    assert_eq!(counts(&c), [0, 0, 0]);
}
