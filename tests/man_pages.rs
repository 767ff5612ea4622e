//! The section-1 man pages in `man/` are generated from the programs' clap definitions and
//! checked in; this test fails when they drift from the code, and when groff warns about
//! any page. The hand-written claude-daemons.toml(5) must name every configuration key and
//! its environment variable, and claude-daemons(7) every route. Regenerate with `CLAUDE_DAEMONS_UPDATE_MAN=1 cargo test --test man_pages`.

#[path = "../bins/claudectl/cli.rs"]
#[allow(dead_code)]
mod claudectl_cli;
#[path = "../bins/claude-hook/cli.rs"]
#[allow(dead_code)]
mod hook_cli;
#[path = "../bins/claude-memd/cli.rs"]
#[allow(dead_code)]
mod memd_cli;
#[path = "../bins/claude-meshd/cli.rs"]
#[allow(dead_code)]
mod meshd_cli;
#[path = "../bins/claude-supervisord/cli.rs"]
#[allow(dead_code)]
mod supervisord_cli;

#[path = "support/repo.rs"]
mod repo;

use clap::CommandFactory;
use std::path::PathBuf;

fn man_dir() -> PathBuf {
    repo::root().join("man")
}

/// Every generated page: (file name, contents).
fn generated() -> Vec<(String, Vec<u8>)> {
    let dir = tempfile::tempdir().unwrap();
    let commands = [
        claudectl_cli::Cli::command(),
        memd_cli::Cli::command(),
        supervisord_cli::Cli::command(),
        meshd_cli::Cli::command(),
        hook_cli::Cli::command(),
    ];
    for cmd in commands {
        clap_mangen::generate_to(cmd, dir.path()).unwrap();
    }
    let mut pages: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    pages.sort();
    pages
}

#[test]
fn section_1_pages_match_the_code() {
    let pages = generated();
    for program in [
        "claudectl",
        "claude-memd",
        "claude-supervisord",
        "claude-meshd",
        "claude-hook",
    ] {
        assert!(
            pages.iter().any(|(n, _)| *n == format!("{program}.1")),
            "no page for {program}"
        );
    }
    if std::env::var_os("CLAUDE_DAEMONS_UPDATE_MAN").is_some() {
        std::fs::create_dir_all(man_dir()).unwrap();
        for (name, text) in &pages {
            std::fs::write(man_dir().join(name), text).unwrap();
        }
    }
    let mut stale = Vec::new();
    for (name, text) in &pages {
        let checked_in = std::fs::read(man_dir().join(name)).unwrap_or_default();
        if &checked_in != text {
            stale.push(name.clone());
        }
    }
    let extra: Vec<String> = std::fs::read_dir(man_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".1") && !pages.iter().any(|(p, _)| p == n))
        .collect();
    assert!(
        stale.is_empty() && extra.is_empty(),
        "man pages drifted from the code: {stale:?} differ, {extra:?} have no program; \
         run CLAUDE_DAEMONS_UPDATE_MAN=1 cargo test --test man_pages and commit man/"
    );
}

#[test]
fn every_page_renders_without_warnings() {
    let mut pages: Vec<PathBuf> = std::fs::read_dir(man_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == "1" || e == "5" || e == "7")
        })
        .collect();
    pages.sort();
    assert!(!pages.is_empty());
    for page in pages {
        let out = std::process::Command::new("groff")
            .args(["-ww", "-man", "-Tutf8", "-z"])
            .arg(&page)
            .output()
            .expect("groff is missing: run scripts/test, which installs what the tests need");
        let warnings = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && warnings.is_empty(),
            "{}: {warnings}",
            page.display()
        );
    }
}

/// Every `[table] key` of the configuration, from the defaults serialized to JSON (options
/// serialize as null, so unset keys are listed too).
fn config_keys() -> Vec<(String, String)> {
    let tree = serde_json::to_value(claude_daemons::config::Config::default()).unwrap();
    let mut keys = Vec::new();
    for (table, fields) in tree.as_object().unwrap() {
        for key in fields.as_object().unwrap().keys() {
            keys.push((table.clone(), key.clone()));
        }
    }
    assert!(keys.len() > 20, "too few config keys: {keys:?}");
    keys
}

/// Text of a hand-written page with roff escapes for `-` and `_` undone, for searching.
fn page_text(name: &str) -> String {
    std::fs::read_to_string(man_dir().join(name))
        .unwrap_or_else(|e| panic!("man/{name}: {e}"))
        .replace("\\-", "-")
        .replace("\\(ul", "_")
}

#[test]
fn config_page_names_every_key_and_its_variable() {
    let page = page_text("claude-daemons.toml.5");
    let mut missing = Vec::new();
    for (table, key) in config_keys() {
        // Each key has its own tagged paragraph: `.TP` then `.B key`.
        if !page.contains(&format!(".B {key}\n")) {
            missing.push(format!("[{table}] {key}"));
        }
        let var = format!("CLAUDE_DAEMONS_{}_{}", table, key).to_uppercase();
        if !page.contains(&var) {
            missing.push(var);
        }
    }
    for table in ["[memory]", "[supervisor]", "[mesh]"] {
        if !page.contains(table) {
            missing.push(table.to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "man/claude-daemons.toml.5 does not document: {missing:?}"
    );
}

#[test]
fn overview_page_names_every_route_and_exit_code() {
    let page = page_text("claude-daemons.7");
    let routes = [
        // every daemon
        "GET /v1/health",
        "GET /v1/version",
        // claude-memd
        "POST /v1/hook",
        "POST /v1/hooks/{event}",
        "GET /v1/share",
        "POST /v1/share",
        "POST /v1/recall/file",
        "GET /v1/search",
        "GET /v1/timeline",
        "GET /v1/observations/{id}",
        "PATCH /v1/observations/{id}",
        "DELETE /v1/observations/{id}",
        "POST /v1/forget",
        "GET /v1/export",
        "POST /v1/import/memory",
        "DELETE /v1/summaries/{id}",
        "DELETE /v1/prompts/{id}",
        "POST /v1/viewer/login",
        "GET /assets/{name}",
        "GET /v1/context",
        "POST /v1/prune",
        "GET /health",
        "GET /stream",
        "GET /api/prompts",
        "GET /api/observations",
        "GET /api/summaries",
        "GET /api/stats",
        "GET /api/settings",
        "POST /api/settings",
        "POST /sessions/{id}/init",
        "POST /sessions/{id}/observations",
        "POST /sessions/{id}/summarize",
        "GET /sessions/{id}/status",
        "DELETE /sessions/{id}",
        // claude-supervisord
        "GET /v1/sessions",
        "GET /v1/sessions/{key}",
        "DELETE /v1/sessions/{key}",
        "POST /v1/sessions/{key}/ask",
        "POST /v1/sessions/{key}/interrupt",
        "PUT /v1/sessions/{key}",
        "POST /v1/sessions/{key}/start",
        "POST /v1/sessions/{key}/fork",
        "GET /v1/sessions/{key}/permissions",
        "POST /v1/sessions/{key}/permissions/{id}",
        "POST /v1/chat/completions",
        "GET /v1/models",
        "GET /v1/status",
        "GET /v1/events",
        // claude-meshd
        "POST /v1/peers",
        "GET /v1/peers",
        "DELETE /v1/peers/{session}",
        "POST /v1/send",
        "GET /v1/inbox",
        "GET /v1/profile",
        "POST /v1/profile",
        "GET /v1/outbox",
        "POST /v1/outbox/requeue",
        "POST /v1/sessions/{session}/status",
        "POST /v1/sessions/{session}/context",
    ];
    let missing: Vec<&str> = routes
        .iter()
        .filter(|r| !page.contains(*r))
        .copied()
        .collect();
    assert!(
        missing.is_empty(),
        "man/claude-daemons.7 lacks routes {missing:?}"
    );
    for code in ["0", "1", "4", "65", "71", "72", "73", "75", "78"] {
        assert!(
            page.contains(&format!(".TP\n.B {code}\n")),
            "man/claude-daemons.7 does not explain exit status {code}"
        );
    }
}

/// The checked-in shell completions (packaged by every distribution file) against what
/// `claudectl completions SHELL` prints; regenerated by the same variable as the pages.
#[test]
fn completions_match_the_code() {
    let dir = repo::root().join("completions");
    let mut stale = Vec::new();
    for (shell, file) in [
        ("bash", "claudectl.bash"),
        ("zsh", "_claudectl"),
        ("fish", "claudectl.fish"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_claudectl"))
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "claudectl completions {shell}: {out:?}"
        );
        assert!(!out.stdout.is_empty(), "no {shell} completion");
        if std::env::var_os("CLAUDE_DAEMONS_UPDATE_MAN").is_some() {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(file), &out.stdout).unwrap();
        }
        if std::fs::read(dir.join(file)).unwrap_or_default() != out.stdout {
            stale.push(file);
        }
    }
    assert!(
        stale.is_empty(),
        "completions/{stale:?} drifted from claudectl; run \
         CLAUDE_DAEMONS_UPDATE_MAN=1 cargo test --test man_pages and commit completions/"
    );
}

/// claude-hook's command line: `--help` and `--version` answer, and words it does not know
/// never fail a hook call (exit 0, nothing printed), since Claude Code would show the
/// failure in the session.
#[test]
fn claude_hook_answers_help_and_never_fails_on_unknown_arguments() {
    use std::io::Write;
    let hook = env!("CARGO_BIN_EXE_claude-hook");
    let out = std::process::Command::new(hook)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("claude-daemons(7)"));
    let out = std::process::Command::new(hook)
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("claude-hook {}", env!("CARGO_PKG_VERSION"))
    );

    let runtime = tempfile::Builder::new()
        .prefix("cd-hook.")
        .tempdir()
        .unwrap();
    let mut child = std::process::Command::new(hook)
        .arg("--no-such-flag")
        .env("CLAUDE_DAEMONS_RUNTIME_DIR", runtime.path())
        .env("CLAUDE_DAEMONS_STATE_DIR", runtime.path())
        .env("CLAUDE_DAEMONS_CONFIG", runtime.path().join("none.toml"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let payload = br#"{"session_id":"s1","hook_event_name":"Stop","cwd":"/tmp","transcript_path":"/tmp/t.jsonl"}"#;
    child.stdin.take().unwrap().write_all(payload).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
}
