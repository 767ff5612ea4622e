//! The tests' temporary directories, and the switch that keeps them for a post-mortem:
//! with `CLAUDE_DAEMONS_TEST_KEEP=1` a harness's directory (the daemon's config, state,
//! databases, sockets and log) stays in place when the test ends and its path is printed on
//! stderr, which `cargo test` shows for a failing test or with `-- --nocapture`.

use tempfile::TempDir;

/// The variable that keeps the directories.
pub const KEEP_ENV: &str = "CLAUDE_DAEMONS_TEST_KEEP";

/// `dir`, left in place after the test when `CLAUDE_DAEMONS_TEST_KEEP` is set (and not `0`).
pub fn kept(mut dir: TempDir) -> TempDir {
    let keep = std::env::var_os(KEEP_ENV).is_some_and(|v| !v.is_empty() && v != "0");
    if keep {
        dir.disable_cleanup(true);
        eprintln!("{KEEP_ENV}: keeping {}", dir.path().display());
    }
    dir
}
