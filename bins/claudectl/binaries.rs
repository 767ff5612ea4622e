//! Where claudectl finds the other programs (`claude-memd`, `claude-meshd`, `claude-hook`, …):
//! `--bindir` when given, else next to claudectl itself (an install puts them side by side),
//! else `PATH`.

use std::path::{Path, PathBuf};

/// The program `name`: in `bindir`, else next to claudectl, else the bare name (for `PATH`).
pub fn find(bindir: Option<&Path>, name: &str) -> PathBuf {
    if let Some(dir) = bindir {
        return dir.join(name);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join(name)))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// A program that is not where [`require`] looked.
#[derive(Debug, thiserror::Error)]
#[error(
    "{name} not found: {looked}; install it, or name the directory holding it with --bindir DIR"
)]
pub struct Missing {
    name: String,
    looked: String,
}

/// Like [`find`], but the file must exist (a bare name is looked up in `PATH`), so that a
/// command can say what is missing before it starts anything.
pub fn require(bindir: Option<&Path>, name: &str) -> Result<PathBuf, Missing> {
    let found = find(bindir, name);
    let missing = |looked: String| Missing {
        name: name.into(),
        looked,
    };
    if found.components().count() > 1 {
        return match found.is_file() {
            true => Ok(found),
            false => Err(missing(format!("no file {}", found.display()))),
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| missing("not next to claudectl nor in PATH".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bindir_without_the_program_is_named() {
        let e = require(Some(Path::new("/nonexistent-bindir")), "claude-memd").unwrap_err();
        let text = e.to_string();
        assert!(text.contains("/nonexistent-bindir/claude-memd"), "{text}");
        assert!(text.contains("--bindir"), "{text}");
        assert_eq!(
            require(Some(Path::new("/bin")), "sh").unwrap(),
            Path::new("/bin/sh")
        );
    }
}
