//! Issue 19 with the real client: member A's Claude Code (pinned npm package, mock Messages
//! API, claude-hook registered) reads and edits a file in clone 1 of a repository; member
//! B's Claude Code in clone 2 (another path, the same origin) is shown A's observation in its
//! SessionStart context, marked as a teammate's (asserted on the request body the model
//! received). A's fully private session and a secret in the file A read reach neither B's
//! database nor the broker's files.

#[path = "support/memd.rs"]
mod memd;
#[path = "support/memory_claude.rs"]
mod memory_claude;
#[path = "support/mock_anthropic.rs"]
mod mock_anthropic;
#[path = "support/nats.rs"]
mod nats;
#[path = "support/repo.rs"]
mod repo;

use memd::{clone_at, contains, Memd};
use memory_claude::{hook_settings, run_claude, tool_results};
use mock_anthropic::{MockApi, Reply};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const SECRET: &str = "ghp_Zqumpm08hsE8JNpjJOQGa2rb19FlY0mG1ylv";

fn config(url: &str, name: &str) -> String {
    format!(
        "[mesh]\ndisplay_name = \"{name}\"\n[memory.share]\nbroker_url = \"{url}\"\nteam = \"acme\"\nteam_secret = \"correct horse battery\"\n"
    )
}

#[test]
fn a_teammates_claude_code_session_reaches_mine() {
    let tmp = tempfile::tempdir().unwrap();
    let broker = nats::Nats::start(tmp.path());
    let a = Memd::start_with_config(&config(&broker.url(), "ann"));
    let b = Memd::start_with_config(&config(&broker.url(), "bob"));
    let (home_a, home_b) = (a.dir.path().join("home"), b.dir.path().join("home"));
    hook_settings(&home_a);
    hook_settings(&home_b);
    let clone1 = a.dir.path().join("src/shop");
    let clone2 = b.dir.path().join("work/shop-clone");
    clone_at(&clone1, "git@github.com:acme/shop.git");
    clone_at(&clone2, "https://github.com/acme/shop.git");
    for (m, dir) in [(&a, &clone1), (&b, &clone2)] {
        let body = json!({"project": dir, "enabled": true}).to_string();
        let (s, r) = m.post("/v1/share", body.as_bytes());
        assert_eq!(s, 200, "{r}");
    }
    std::fs::write(
        clone1.join("notes.txt"),
        format!("the secret word is marmalade\nGITHUB_TOKEN={SECRET}\n"),
    )
    .unwrap();
    std::fs::write(clone1.join("vault.txt"), "pineapple-vault-7731\n").unwrap();

    let notes = clone1.join("notes.txt").display().to_string();
    let vault = clone1.join("vault.txt").display().to_string();
    let api = MockApi::start(move |req| {
        let text = req.to_string();
        let private = text.contains("zebracorn");
        let mine = text.contains("change the secret word");
        match (private, mine, tool_results(req)) {
            (true, _, 0) => Reply::Tool {
                name: "Read".into(),
                input: json!({"file_path": vault}),
            },
            (false, true, 0) => Reply::Tool {
                name: "Read".into(),
                input: json!({"file_path": notes}),
            },
            (false, true, 1) => Reply::Tool {
                name: "Edit".into(),
                input: json!({"file_path": notes, "old_string": "marmalade", "new_string": "apricot"}),
            },
            _ => Reply::Text("all done".into()),
        }
    });
    run_claude(
        &api,
        &home_a,
        &clone1,
        &a,
        "read notes.txt and change the secret word",
    );
    run_claude(
        &api,
        &home_a,
        &clone1,
        &a,
        "<private>the password is zebracorn, read vault.txt</private>",
    );
    a.wait_processed();
    assert!(
        a.count("SELECT count(*) FROM observations WHERE title = 'Edited notes.txt'") == 1,
        "A's session was observed: {}",
        a.log()
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while b.count("SELECT count(*) FROM observations WHERE title = 'Edited notes.txt'") == 0 {
        assert!(Instant::now() < deadline, "A's observation never reached B");
        std::thread::sleep(Duration::from_millis(50));
    }

    // B's own session in its clone: the model is shown A's work, marked as ann's.
    let seen_before = api.requests().len();
    run_claude(&api, &home_b, &clone2, &b, "what did the team do here?");
    let later: Vec<Value> = api.requests().into_iter().skip(seen_before).collect();
    let shown = later.iter().any(|r| {
        let t = r.to_string();
        t.contains("Edited notes.txt") && t.contains("(teammate ann@")
    });
    assert!(shown, "B's session was not shown A's work: {later:?}");

    let raw = b.raw_bytes();
    for needle in ["zebracorn", "pineapple-vault-7731", "vault.txt", SECRET] {
        assert!(!contains(&raw, needle), "{needle} reached B's database");
        assert!(
            !broker.store_contains(needle.as_bytes()),
            "{needle} reached the broker"
        );
    }
    assert!(
        !broker.store_contains(b"notes.txt"),
        "only ciphertext on the broker"
    );
}
