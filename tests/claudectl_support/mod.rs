//! What the claudectl tests share: running the real claudectl against real daemons, and
//! looking at claude-memd's database.
#![allow(dead_code)] // each test file uses a different part

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `claudectl ARGS` against the daemons whose runtime dir is `runtime`, output piped.
pub fn command(runtime: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_claudectl"));
    cmd.args(args)
        .env("CLAUDE_DAEMONS_RUNTIME_DIR", runtime)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// `claudectl ARGS` run to completion, bounded to 120 s.
pub fn ctl(runtime: &Path, args: &[&str]) -> Output {
    let mut child = command(runtime, args).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("claudectl {args:?} did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

/// Run, expect `code`, return (stdout, stderr).
pub fn run(runtime: &Path, args: &[&str], code: i32) -> (String, String) {
    let out = ctl(runtime, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "claudectl {args:?}\nstdout: {stdout}\nstderr: {stderr}"
    );
    (stdout, stderr)
}

/// Run with `--json`, expect success and nothing on stderr (no bar), parse stdout.
pub fn json(runtime: &Path, args: &[&str]) -> serde_json::Value {
    let mut a = args.to_vec();
    a.push("--json");
    let (stdout, stderr) = run(runtime, &a, 0);
    assert_eq!(stderr, "", "--json writes nothing else: {a:?}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{a:?}: not JSON ({e}): {stdout}"))
}

/// Row counts of memd's record tables and their FTS indexes, after checking the indexes'
/// integrity.
pub fn counts(db: &rusqlite::Connection) -> [i64; 5] {
    for fts in ["observations_fts", "summaries_fts", "prompts_fts"] {
        db.execute(
            &format!("INSERT INTO {fts}({fts}) VALUES ('integrity-check')"),
            [],
        )
        .unwrap_or_else(|e| panic!("{fts} out of sync with its table: {e}"));
    }
    db.query_row(
        "SELECT (SELECT count(*) FROM observations), (SELECT count(*) FROM session_summaries),
                (SELECT count(*) FROM user_prompts), (SELECT count(*) FROM events),
                (SELECT count(*) FROM sessions)",
        [],
        |r| Ok([r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?]),
    )
    .unwrap()
}
