//! Rewriting a file that belongs to the user (Claude Code's `settings.json`, `.claude.json`):
//! a timestamped backup of what was there, then an atomic replace. Everything written is
//! private (0600), the file itself included: these files can hold API keys and account
//! state, and only their owner (who runs Claude Code) needs to read them.

use anyhow::{Context, Result};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Replace `path` with `text`, first copying `original` (its current text, if it exists) to
/// `<path>.claude-daemons-<unix time>.bak`; returns the backup's path.
pub fn replace_with_backup(
    path: &Path,
    original: Option<&str>,
    text: &str,
) -> Result<Option<PathBuf>> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let backup = match original {
        Some(old) => {
            let stamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default();
            let backup = path.with_extension(format!("json.claude-daemons-{stamp}.bak"));
            write_private(&backup, old)?;
            Some(backup)
        }
        None => None,
    };
    let tmp = path.with_extension("json.claude-daemons.tmp");
    write_private(&tmp, text)?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(backup)
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}
