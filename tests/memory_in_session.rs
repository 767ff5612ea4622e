//! Memory during a session, with the real Claude Code against the mock Messages API and a
//! real claude-memd: before a Read, the file's history from an earlier session arrives as
//! PreToolUse `additionalContext` (once per file per session); a prompt about an earlier
//! topic brings the matching record; a `<private>` prompt brings none. Asserted on the
//! request bodies the model received.

#[path = "support/memd.rs"]
mod memd;
#[path = "support/memory_claude.rs"]
mod memory_claude;
#[path = "support/mock_anthropic.rs"]
mod mock_anthropic;
#[path = "support/repo.rs"]
mod repo;

use memd::{git_init, hook_bin, Memd};
use memory_claude::tool_results;
use mock_anthropic::{MockApi, Reply};
use serde_json::{json, Value};
use std::path::Path;

const FILE_HEADING: &str = "Memory: earlier work on auth.py";
const PROMPT_HEADING: &str = "Memory: earlier work that matches this prompt";

/// The hooks as `claudectl install` registers them: PreToolUse only for Read and Edit.
fn settings(home: &Path) {
    let cmd = json!([{"type": "command", "command": hook_bin(), "timeout": 10}]);
    let all = json!([{"hooks": cmd}]);
    let s = json!({"hooks": {
        "SessionStart": [{"matcher": "startup|resume|clear|compact", "hooks": cmd}],
        "UserPromptSubmit": all,
        "PreToolUse": [{"matcher": "Read|Edit", "hooks": cmd}],
        "PostToolUse": [{"matcher": "*", "hooks": cmd}],
        "Stop": all,
        "SessionEnd": all,
    }});
    std::fs::create_dir_all(home.join(".claude")).unwrap();
    std::fs::write(home.join(".claude/settings.json"), s.to_string()).unwrap();
}

fn run_claude(api: &MockApi, home: &Path, repo: &Path, m: &Memd, prompt: &str) -> Vec<Value> {
    let before = api.requests().len();
    memory_claude::run_claude(api, home, repo, m, prompt);
    api.requests().into_iter().skip(before).collect()
}

/// The requests of the conversation whose first prompt holds `marker`.
fn count(req: &Value, needle: &str) -> usize {
    req.to_string().matches(needle).count()
}

#[test]
fn a_files_history_before_its_read_and_matching_records_with_a_prompt() {
    // No SessionStart timeline, so what arrives comes from the in-session hooks alone.
    let m = Memd::start_with_config("[memory]\ncontext_tokens = 0\n");
    let base = m.dir.path().to_path_buf();
    let home = base.join("home");
    let repo = base.join("shop");
    git_init(&repo);
    std::fs::write(repo.join("auth.py"), "expires = 3600\n").unwrap();
    settings(&home);
    let auth = repo.join("auth.py").display().to_string();
    let api = MockApi::start(move |req| {
        let text = req.to_string();
        let n = tool_results(req);
        if text.contains("alpha-session") {
            match n {
                0 => Reply::Tool {
                    name: "Read".into(),
                    input: json!({"file_path": auth}),
                },
                1 => Reply::Tool {
                    name: "Edit".into(),
                    input: json!({"file_path": auth, "old_string": "expires = 3600",
                                  "new_string": "expires = 3600\nrefresh_at = expires - 60"}),
                },
                _ => Reply::Text("done".into()),
            }
        } else if text.contains("bravo-session") && n < 2 {
            Reply::Tool {
                name: "Read".into(),
                input: json!({"file_path": auth}),
            }
        } else {
            Reply::Text("done".into())
        }
    });

    run_claude(
        &api,
        &home,
        &repo,
        &m,
        "alpha-session: make the token refresh early",
    );
    assert!(std::fs::read_to_string(repo.join("auth.py"))
        .unwrap()
        .contains("refresh_at"));
    m.wait_processed();

    // Session 2 reads the file twice: its history arrives with the first Read only.
    let reqs = run_claude(&api, &home, &repo, &m, "bravo-session: open it twice");
    let by_results = |n: usize| {
        reqs.iter()
            .find(|r| tool_results(r) == n)
            .unwrap_or_else(|| panic!("no request with {n} tool results: {reqs:?}"))
    };
    assert_eq!(count(by_results(0), "refresh_at"), 0, "{:?}", by_results(0));
    let after_first = by_results(1);
    assert_eq!(count(after_first, FILE_HEADING), 1, "{after_first}");
    assert!(
        after_first
            .to_string()
            .contains("+`refresh_at = expires - 60`"),
        "session 1's change is not in the request after the Read: {after_first}"
    );
    let after_second = by_results(2);
    assert_eq!(
        count(after_second, FILE_HEADING),
        1,
        "the second Read adds nothing"
    );
    assert_eq!(count(after_second, PROMPT_HEADING), 0, "{after_second}");

    // A prompt about the earlier topic brings the matching record.
    let reqs = run_claude(
        &api,
        &home,
        &repo,
        &m,
        "charlie-session: why does the refresh happen before expiry?",
    );
    let first = reqs[0].to_string();
    assert!(
        first.contains(PROMPT_HEADING) && first.contains("refresh_at = expires - 60"),
        "{first}"
    );

    // A private prompt brings none.
    let reqs = run_claude(
        &api,
        &home,
        &repo,
        &m,
        "delta-session: <private>the refresh before expiry</private> and the refresh_at line",
    );
    assert!(!reqs.is_empty());
    for r in &reqs {
        assert_eq!(count(r, PROMPT_HEADING), 0, "{r}");
    }
}
