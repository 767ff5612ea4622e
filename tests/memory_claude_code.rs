//! The real client end to end: Claude Code (pinned npm package) against the mock Messages
//! API, with claude-hook registered in its settings and a real claude-memd behind it.
//! Session 1 reads and edits a file in a git repository; session 2 in the same repository is
//! shown session 1's observations in its SessionStart context (asserted on the request body
//! the model received); a private prompt leaves no trace in the database.

#[path = "support/memd.rs"]
mod memd;
#[path = "support/memory_claude.rs"]
mod memory_claude;
#[path = "support/mock_anthropic.rs"]
mod mock_anthropic;
#[path = "support/repo.rs"]
mod repo;

use memd::{contains, git_init, Memd};
use memory_claude::{hook_settings, run_claude, tool_results};
use mock_anthropic::{MockApi, Reply};
use serde_json::{json, Value};

#[test]
fn observations_of_one_session_reach_the_next_and_private_prompts_leave_no_trace() {
    let m = Memd::start();
    let base = m.dir.path().to_path_buf();
    let home = base.join("home");
    let repo = base.join("shop");
    git_init(&repo);
    std::fs::write(repo.join("notes.txt"), "the secret word is marmalade\n").unwrap();
    std::fs::write(repo.join("vault.txt"), "pineapple-vault-7731\n").unwrap();
    hook_settings(&home);

    // Session 1: Read notes.txt, Edit it, done.
    let notes = repo.join("notes.txt").display().to_string();
    let vault = repo.join("vault.txt").display().to_string();
    let edited = notes.clone();
    let api = MockApi::start(move |req| {
        let text = req.to_string();
        let private = text.contains("zebracorn");
        match (private, tool_results(req)) {
            (true, 0) => Reply::Tool {
                name: "Read".into(),
                input: json!({"file_path": vault}),
            },
            (false, 0) => Reply::Tool {
                name: "Read".into(),
                input: json!({"file_path": notes}),
            },
            (false, 1) => Reply::Tool {
                name: "Edit".into(),
                input: json!({"file_path": notes, "old_string": "marmalade", "new_string": "apricot"}),
            },
            _ => Reply::Text("all done".into()),
        }
    });
    run_claude(
        &api,
        &home,
        &repo,
        &m,
        "read notes.txt and change the secret word",
    );
    assert_eq!(
        std::fs::read_to_string(repo.join("notes.txt")).unwrap(),
        "the secret word is apricot\n",
        "the real Edit tool ran"
    );
    m.wait_processed();
    let (_, obs) = m.get("/api/observations?project=shop");
    let titles: Vec<&str> = obs["observations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["title"].as_str().unwrap())
        .collect();
    assert!(titles.contains(&"Read notes.txt"), "{obs}\n{}", m.log());
    assert!(titles.contains(&"Edited notes.txt"), "{obs}");
    let edit = obs["observations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["title"] == "Edited notes.txt")
        .unwrap();
    assert_eq!(edit["type"], "change");
    assert_eq!(edit["files_modified"][0], edited);
    let project = edit["project"].as_str().unwrap().to_string();
    assert_eq!(
        project,
        std::fs::canonicalize(&repo).unwrap().display().to_string()
    );
    // Stop produced a summary of the turn.
    let (_, sums) = m.get("/api/summaries?project=shop");
    assert_eq!(
        sums["summaries"][0]["request"], "read notes.txt and change the secret word",
        "{sums}"
    );

    // Session 2: the model is shown session 1's observations, with their IDs.
    let seen_before = api.requests().len();
    run_claude(&api, &home, &repo, &m, "what did we do last time?");
    let later: Vec<Value> = api.requests().into_iter().skip(seen_before).collect();
    let id = edit["id"].as_i64().unwrap();
    let shown = later.iter().any(|r| {
        let t = r.to_string();
        t.contains("Edited notes.txt")
            && t.contains("Read notes.txt")
            && t.contains(&format!("#{id} "))
    });
    assert!(
        shown,
        "session 2's requests lack session 1's observations: {later:?}"
    );

    // Session 3: a fully private prompt; its tool events are dropped too.
    run_claude(
        &api,
        &home,
        &repo,
        &m,
        "<private>the password is zebracorn, read vault.txt</private>",
    );
    m.wait_processed();
    let raw = m.raw_bytes();
    for needle in ["zebracorn", "pineapple-vault-7731", "vault.txt"] {
        assert!(!contains(&raw, needle), "{needle} reached the database");
    }
    assert_eq!(
        m.count("SELECT count(*) FROM user_prompts"),
        2,
        "only the two public prompts"
    );
}
