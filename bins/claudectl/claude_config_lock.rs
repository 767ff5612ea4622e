//! Claude Code's own lock on `.claude.json`, taken while `claudectl` rewrites the file.
//!
//! A running Claude Code rewrites `.claude.json` often (startup counters, per-project state).
//! It does so under a lock — the `proper-lockfile` protocol: the directory `<file>.lock` is
//! created with `mkdir` (atomic), its holder refreshes its mtime while it works, and a lock
//! whose mtime is older than 10 s is stale and may be taken over — and it re-reads the file
//! under that lock before writing. So if `claudectl` holds the same lock while it reads,
//! changes and replaces the file, neither side can lose the other's change. (Seen in Claude
//! Code 2.1.329: `saveConfigWithLock`, `lockfilePath: "<config>.lock"`.)

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// proper-lockfile's default: a holder refreshes the mtime every `STALE / 2`.
const STALE: Duration = Duration::from_secs(10);

/// A held lock; released (the directory removed) on drop.
#[derive(Debug)]
pub struct ClaudeConfigLock {
    dir: PathBuf,
}

impl ClaudeConfigLock {
    /// Take the lock on `file`, waiting up to `wait` for a live holder to finish and taking
    /// over a stale one, as Claude Code itself does.
    pub fn acquire(file: &Path, wait: Duration) -> Result<ClaudeConfigLock> {
        let mut name = file.as_os_str().to_owned();
        name.push(".lock");
        let dir = PathBuf::from(name);
        let deadline = Instant::now() + wait;
        let mut pause = Duration::from_millis(5);
        loop {
            match std::fs::create_dir(&dir) {
                Ok(()) => return Ok(ClaudeConfigLock { dir }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot create {}", dir.display()))
                }
            }
            if is_stale(&dir) {
                // Whoever held it died mid-write; Claude Code would take it over too.
                let _ = std::fs::remove_dir(&dir);
                continue;
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} is held by a running Claude Code; nothing was changed — try again",
                    dir.display()
                );
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }
}

fn is_stale(dir: &Path) -> bool {
    let Ok(modified) = std::fs::metadata(dir).and_then(|m| m.modified()) else {
        // Gone already: the next mkdir decides.
        return false;
    };
    SystemTime::now()
        .duration_since(modified)
        .is_ok_and(|age| age > STALE)
}

impl Drop for ClaudeConfigLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_holder_is_waited_for_and_a_stale_one_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(".claude.json");
        let lock_dir = dir.path().join(".claude.json.lock");

        let held = ClaudeConfigLock::acquire(&file, Duration::ZERO).unwrap();
        assert!(lock_dir.is_dir());
        let refused = ClaudeConfigLock::acquire(&file, Duration::from_millis(50)).unwrap_err();
        assert!(refused
            .to_string()
            .contains("held by a running Claude Code"));

        // Released by its holder while we wait: we get it.
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            drop(held);
        });
        let second = ClaudeConfigLock::acquire(&file, Duration::from_secs(5)).unwrap();
        releaser.join().unwrap();
        drop(second);
        assert!(!lock_dir.exists(), "released on drop");

        // A holder that died 20 s ago without refreshing: taken over at once.
        std::fs::create_dir(&lock_dir).unwrap();
        let old = SystemTime::now() - Duration::from_secs(20);
        std::fs::File::open(&lock_dir)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let started = Instant::now();
        let taken = ClaudeConfigLock::acquire(&file, Duration::ZERO).unwrap();
        assert!(started.elapsed() < Duration::from_secs(1));
        drop(taken);
    }
}
