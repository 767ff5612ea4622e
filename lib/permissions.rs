//! Keeping a user's memory, messages and keys private from other local users.
//!
//! systemd units set `UMask=0077`, but the programs also run from launchd, `claudectl run`,
//! `--foreground` and a shell, each with the caller's umask (usually 022). So every program
//! sets its own umask ([`restrict_umask`]) before it creates anything, creates its
//! directories 0700, and tightens one of its own directories that an older version or the
//! user left open ([`private_dir`]).

use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

/// The umask every program runs with: nothing for group or others.
pub const UMASK: u32 = 0o077;

/// The umask the process started with (`u32::MAX` until [`restrict_umask`] ran).
static ORIGINAL_UMASK: AtomicU32 = AtomicU32::new(u32::MAX);

/// Set the process umask to [`UMASK`], so that every file and directory created from now
/// on (SQLite databases and their WAL, logs, records) is private to the user.
pub fn restrict_umask() {
    // SAFETY: umask(2) has no preconditions and cannot fail.
    let old = unsafe { libc::umask(UMASK as libc::mode_t) };
    let _ =
        ORIGINAL_UMASK.compare_exchange(u32::MAX, old as u32, Ordering::Relaxed, Ordering::Relaxed);
}

/// Give a child process (Claude Code, which writes the user's project files) the umask this
/// process started with. Meant for `pre_exec`: umask(2) is async-signal-safe.
pub fn restore_umask_for_child() {
    let original = ORIGINAL_UMASK.load(Ordering::Relaxed);
    if original != u32::MAX {
        // SAFETY: umask(2) has no preconditions and cannot fail.
        unsafe { libc::umask(original as libc::mode_t) };
    }
}

/// What [`private_dir`] or [`private_file`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// The directory did not exist and was created 0700.
    Created,
    /// It existed with permissions for group or others; they were removed.
    Tightened {
        /// The permission bits it had.
        from: u32,
        /// The permission bits it has now.
        to: u32,
    },
    /// It existed and was already private (or does not exist, for a file).
    Unchanged,
}

impl Change {
    /// A sentence for a log line about `what` at `path`, or `None` when nothing changed.
    pub fn describe(self, what: &str, path: &Path) -> Option<String> {
        match self {
            Change::Created => Some(format!("created {what} {} (mode 700)", path.display())),
            Change::Tightened { from, to } => Some(format!(
                "{what} {} was mode {from:o}, readable by other users; changed it to {to:o}",
                path.display()
            )),
            Change::Unchanged => None,
        }
    }
}

/// Create `dir` (and missing parents) with mode 0700, or remove group and other permissions
/// from an existing one. A directory owned by another user is an error: it is not ours to
/// change, and whoever owns it can read what we would write there.
pub fn private_dir(dir: &Path) -> io::Result<Change> {
    let existed = dir.exists();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    if !existed {
        // DirBuilder's mode is filtered by the umask; with ours that is still 0700.
        return Ok(Change::Created);
    }
    tighten(dir, 0o700)
}

/// Remove group and other permissions from the file at `path` if it exists and is ours
/// (`Unchanged` when it does not exist). Symbolic links are not followed.
pub fn private_file(path: &Path) -> io::Result<Change> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_file() => tighten(path, 0o600),
        Ok(_) => Ok(Change::Unchanged),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Change::Unchanged),
        Err(e) => Err(e),
    }
}

fn tighten(path: &Path, private: u32) -> io::Result<Change> {
    let meta = std::fs::metadata(path)?;
    if meta.uid() != crate::paths::current_uid() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("owned by uid {}, not by us", meta.uid()),
        ));
    }
    let from = meta.permissions().mode() & 0o7777;
    if from & 0o077 == 0 {
        return Ok(Change::Unchanged);
    }
    let to = from & private;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(to))?;
    Ok(Change::Tightened { from, to })
}

/// The permission bits of `path` when group or others have any access to it; `None` when
/// it is private or does not exist.
pub fn loose_mode(path: &Path) -> Option<u32> {
    let mode = std::fs::symlink_metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then_some(mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn creates_tightens_and_leaves_private_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        assert_eq!(private_dir(&dir).unwrap(), Change::Created);
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(private_dir(&dir).unwrap(), Change::Unchanged);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(loose_mode(&dir), Some(0o755));
        let change = private_dir(&dir).unwrap();
        assert_eq!(
            change,
            Change::Tightened {
                from: 0o755,
                to: 0o700
            }
        );
        assert!(change
            .describe("state directory", &dir)
            .unwrap()
            .contains("755"));
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(loose_mode(&dir), None);

        let file = dir.join("memory.db");
        assert_eq!(private_file(&file).unwrap(), Change::Unchanged, "absent");
        std::fs::write(&file, "x").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(
            private_file(&file).unwrap(),
            Change::Tightened {
                from: 0o644,
                to: 0o600
            }
        );
        assert_eq!(mode(&file), 0o600);
    }
}
