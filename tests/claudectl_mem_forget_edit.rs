//! `claudectl mem forget` and `claudectl mem edit` against a real claude-memd: forgotten text
//! is gone from the API, search, the SessionStart context and the bytes of the database and
//! its WAL; nothing is forgotten without a confirmation; the `?project=` guard of the MCP
//! `forget` tool; an edit keeps the ID, says it was edited and moves the search index.

#[path = "claudectl_support/mod.rs"]
mod ctl;
#[path = "support/memd.rs"]
mod memd;

use memd::{contains, git_init, Memd};
use serde_json::{json, Value};
use std::path::Path;

fn hook(m: &Memd, session: &str, repo: &Path, event: &str, extra: Value) {
    let mut v = json!({"session_id": session, "cwd": repo, "hook_event_name": event});
    v.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let (s, body) = m.post("/v1/hook", v.to_string().as_bytes());
    assert_eq!(s, 200, "{body}");
}

fn edit(m: &Memd, session: &str, repo: &Path, n: usize, word: &str) {
    hook(
        m,
        session,
        repo,
        "PostToolUse",
        json!({"tool_name": "Edit", "tool_use_id": format!("{session}-{n}"),
               "tool_input": {"file_path": repo.join(format!("src/f{n}.rs")),
                              "old_string": "let a = 1;", "new_string": format!("let a = 1;\nlet {word} = 2;")}}),
    );
}

/// The observation whose text holds `word`.
fn id_of(m: &Memd, word: &str) -> i64 {
    let (_, hits) = m.get(&format!("/v1/search?q={word}&record=observation"));
    let r = hits["results"].as_array().unwrap();
    assert_eq!(r.len(), 1, "{word}: {hits}");
    r[0]["id"].as_i64().unwrap()
}

fn found(m: &Memd, word: &str) -> usize {
    let (_, hits) = m.get(&format!("/v1/search?q={word}"));
    hits["results"].as_array().unwrap().len()
}

#[test]
fn forgotten_records_leave_no_trace_and_need_a_confirmation() {
    let m = Memd::start();
    let rt = m.dir.path().join("run");
    let shop = m.dir.path().join("shop");
    let other = m.dir.path().join("other");
    git_init(&shop);
    git_init(&other);
    hook(
        &m,
        "s1",
        &shop,
        "UserPromptSubmit",
        json!({"prompt": "rename the glorpwidget"}),
    );
    edit(&m, "s1", &shop, 1, "zyxsecretword");
    edit(&m, "s1", &shop, 2, "keepwordone");
    edit(&m, "s2", &shop, 3, "sessiontwoword");
    edit(&m, "s3", &other, 4, "otherprojword");
    m.wait_processed();
    let doomed = id_of(&m, "zyxsecretword");
    assert!(contains(&m.raw_bytes(), "zyxsecretword"));

    // Without --yes and without a terminal, nothing happens.
    let (_, err) = ctl::run(&rt, &["mem", "forget", &doomed.to_string()], 1);
    assert!(err.contains("--yes"), "{err}");
    assert_eq!(m.get(&format!("/v1/observations/{doomed}")).0, 200);

    let (out, _) = ctl::run(&rt, &["mem", "forget", &format!("#{doomed}"), "--yes"], 0);
    assert!(out.contains(&format!("forgot #{doomed}")), "{out}");
    assert_eq!(m.get(&format!("/v1/observations/{doomed}")).0, 404);
    assert_eq!(found(&m, "zyxsecretword"), 0);
    let (_, ctx) = m.get(&format!("/v1/context?project={}", shop.display()));
    let md = ctx["markdown"].as_str().unwrap();
    assert!(
        !md.contains("zyxsecretword") && md.contains("keepwordone"),
        "{md}"
    );
    let raw = m.raw_bytes();
    assert!(
        !contains(&raw, "zyxsecretword"),
        "a copy is left in the file or its WAL"
    );
    assert!(contains(&raw, "keepwordone"));

    // A whole session, counted first.
    let r = ctl::json(&rt, &["mem", "forget", "--session", "s2", "--yes"]);
    assert_eq!(
        (r["observations"].as_u64(), r["prompts"].as_u64()),
        (Some(1), Some(0)),
        "{r}"
    );
    assert!(!contains(&m.raw_bytes(), "sessiontwoword"));

    // The prompt by its cited ID.
    let (_, prompts) = m.get("/api/prompts?project=shop");
    let pid = prompts["prompts"][0]["id"].as_i64().unwrap();
    ctl::run(&rt, &["mem", "forget", &format!("P{pid}"), "--yes"], 0);
    assert!(!contains(&m.raw_bytes(), "glorpwidget"));

    // The MCP tool's guard: a record of another project is not there for this caller.
    let theirs = id_of(&m, "otherprojword");
    let scoped = format!("/v1/observations/{theirs}?project={}", shop.display());
    assert_eq!(m.request("DELETE", &scoped, None).0, 404);
    assert_eq!(found(&m, "otherprojword"), 1);

    // A project up to a time: the rest of shop goes, the other project stays.
    let r = ctl::json(
        &rt,
        &[
            "mem",
            "forget",
            "--project",
            shop.to_str().unwrap(),
            "--before",
            "2999-01-01",
            "--yes",
        ],
    );
    assert_eq!(r["observations"], 1, "{r}");
    assert_eq!(
        (found(&m, "keepwordone"), found(&m, "otherprojword")),
        (0, 1)
    );
    let (out, _) = ctl::run(&rt, &["mem", "forget", "--session", "nosuch", "--yes"], 0);
    assert!(out.contains("nothing to forget"), "{out}");

    // Mistakes are refused with nothing changed.
    let (_, err) = ctl::run(&rt, &["mem", "forget", "x1", "--yes"], 1);
    assert!(err.contains("not a record ID"), "{err}");
    let (_, err) = ctl::run(&rt, &["mem", "forget", "999999", "--yes"], 1);
    assert!(err.contains("no record #999999"), "{err}");
    let (_, err) = ctl::run(&rt, &["mem", "forget", "--before", "someday", "--yes"], 4);
    assert!(err.contains("not a time"), "{err}");
    assert_eq!(m.post("/v1/forget", b"{}").0, 400);
    assert_eq!(found(&m, "otherprojword"), 1);
}

fn edit_with(rt: &Path, id: i64, editor: &str) -> std::process::Output {
    let out = ctl::command(rt, &["mem", "edit", &id.to_string()])
        .env("EDITOR", editor)
        .env_remove("VISUAL")
        .output()
        .unwrap();
    out
}

#[test]
fn an_edit_keeps_the_id_says_so_and_moves_the_index() {
    let m = Memd::start();
    let rt = m.dir.path().join("run");
    let shop = m.dir.path().join("shop");
    git_init(&shop);
    edit(&m, "s1", &shop, 1, "wrongfactword");
    m.wait_processed();
    let id = id_of(&m, "wrongfactword");
    let before = m.get(&format!("/v1/observations/{id}")).1;
    assert!(before.get("edited_at").is_none(), "{before}");

    // An editor that leaves the file alone changes nothing.
    let out = edit_with(&rt, id, "true");
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("unchanged"));
    assert_eq!(m.get(&format!("/v1/observations/{id}")).1, before);

    // A broken file is refused; the record stays as it was.
    let out = edit_with(&rt, id, "sh -c 'echo \"title = \" > \"$0\"'");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing changed"));
    assert_eq!(m.get(&format!("/v1/observations/{id}")).1, before);

    let sed = "sed -i -e 's/wrongfactword/rightfactword/g' -e 's/^type = .*/type = \"bugfix\"/' -e 's/^title = .*/title = \"Corrected by hand: quokkas\"/'";
    let out = edit_with(&rt, id, sed);
    assert!(out.status.success(), "{out:?}");
    let (_, o) = m.get(&format!("/v1/observations/{id}"));
    assert_eq!(o["id"], id);
    assert_eq!(o["title"], "Corrected by hand: quokkas");
    assert_eq!(o["type"], "bugfix");
    assert!(o["edited_at"].is_string(), "{o}");
    assert!(
        o["facts"][0].as_str().unwrap().contains("rightfactword"),
        "{o}"
    );
    assert_eq!(o["files_modified"], before["files_modified"]);
    assert_eq!((found(&m, "quokkas"), found(&m, "rightfactword")), (1, 1));
    assert_eq!(found(&m, "wrongfactword"), 0);

    // PATCH refuses what is not a correction.
    let patch = |body: &str| {
        m.request(
            "PATCH",
            &format!("/v1/observations/{id}"),
            Some(body.as_bytes()),
        )
    };
    assert_eq!(patch(r#"{"type": "nonsense"}"#).0, 400);
    assert_eq!(patch(r#"{"title": ""}"#).0, 400);
    assert_eq!(patch("{}").0, 400);
    assert_eq!(
        m.request(
            "PATCH",
            "/v1/observations/999999",
            Some(br#"{"title": "x"}"#)
        )
        .0,
        404
    );
    let (s, o) = patch(r#"{"narrative": "told again"}"#);
    assert_eq!((s, o["narrative"].as_str()), (200, Some("told again")));
}
