//! Who and what is shared: the portable identity of a project (the same on every clone) and
//! this member's name and key.
//!
//! A local project is its git root's path, which differs on every machine. A shared
//! project is named by its normalized `origin` remote: `git@github.com:o/r.git`,
//! `ssh://git@github.com/o/r` and `https://user@GitHub.com/o/r.git` are all
//! `github.com/o/r`. claude-memd's project is always a repository's root, so the path
//! inside the repository is empty and not written.

use claude_daemons::mesh::keys::{self, Identity};
use std::path::Path;

/// The portable identity of the repository rooted at `root`: its normalized `origin`
/// remote, or `None` when it has none (such a project cannot be shared).
pub fn portable(root: &Path) -> Option<String> {
    let config = git_dir(root)?.join("config");
    let text = std::fs::read_to_string(config).ok()?;
    normalize(&origin_url(&text)?)
}

/// The repository's git directory (`.git`, or what a `.git` file names).
fn git_dir(root: &Path) -> Option<std::path::PathBuf> {
    let dotgit = root.join(".git");
    if dotgit.is_dir() {
        return Some(dotgit);
    }
    let text = std::fs::read_to_string(&dotgit).ok()?;
    let gitdir = root.join(text.lines().find_map(|l| l.strip_prefix("gitdir:"))?.trim());
    // A linked worktree keeps its config in the common directory.
    match std::fs::read_to_string(gitdir.join("commondir")) {
        Ok(common) => Some(gitdir.join(common.trim())),
        Err(_) => Some(gitdir),
    }
}

/// The `url` of `[remote "origin"]` in a git config file.
fn origin_url(config: &str) -> Option<String> {
    let mut in_origin = false;
    for line in config.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            let section: String = line.chars().filter(|c| !c.is_whitespace()).collect();
            in_origin = section == "[remote\"origin\"]";
            continue;
        }
        if in_origin {
            if let Some((k, v)) = line.split_once('=') {
                if k.trim() == "url" {
                    return Some(v.trim().trim_matches('"').to_string());
                }
            }
        }
    }
    None
}

/// `host/path` of a remote URL: scheme, user, port and `.git` dropped, host lower-cased.
pub fn normalize(url: &str) -> Option<String> {
    let url = url.trim();
    let (host, path) = if let Some((_, rest)) = url.split_once("://") {
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let host = authority.rsplit('@').next()?;
        let host = host.split(':').next()?;
        (host.to_string(), path.to_string())
    } else if let Some((authority, path)) = url.split_once(':') {
        // scp-like `user@host:path` (a local path has no colon before a slash).
        if authority.contains('/') {
            return None;
        }
        (authority.rsplit('@').next()?.to_string(), path.to_string())
    } else {
        return None;
    };
    let path = path.trim_matches('/');
    let path = path
        .strip_suffix(".git")
        .unwrap_or(path)
        .trim_end_matches('/');
    if host.is_empty() || path.is_empty() {
        return None;
    }
    Some(format!("{}/{path}", host.to_ascii_lowercase()))
}

/// This member: its key (the mesh identity's, created if there is none yet), display
/// name and host.
pub struct Member {
    /// The ed25519 key pair.
    pub id: Identity,
    /// Shown to teammates (`[mesh] display_name`, else the user's name).
    pub name: String,
    /// The host name.
    pub host: String,
}

impl Member {
    /// Load (or create) the key in `state_dir`.
    pub fn load(state_dir: &Path, display_name: Option<&str>) -> Result<Member, String> {
        let id =
            keys::load_or_create(&state_dir.join(keys::KEY_FILE)).map_err(|e| e.to_string())?;
        let host = hostname();
        let name = display_name
            .map(str::to_string)
            .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
            .unwrap_or_else(|| host.clone());
        Ok(Member { id, name, host })
    }
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `len` bytes into our buffer.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_forms_normalize_alike() {
        for u in [
            "git@github.com:o/r.git",
            "https://github.com/o/r",
            "https://user@GitHub.com/o/r.git",
            "ssh://git@github.com:22/o/r.git",
            "https://github.com/o/r/",
        ] {
            assert_eq!(normalize(u).as_deref(), Some("github.com/o/r"), "{u}");
        }
        assert_eq!(normalize("/srv/git/r.git"), None);
        assert_eq!(normalize("./r"), None);
        assert_eq!(normalize("https://github.com/"), None);
    }

    #[test]
    fn origin_of_a_clone_and_none_without() {
        let t = tempfile::tempdir().unwrap();
        let repo = t.path().join("r");
        std::fs::create_dir_all(repo.join(".git")).unwrap();
        assert_eq!(portable(&repo), None);
        std::fs::write(
            repo.join(".git/config"),
            "[core]\n\tbare = false\n[remote \"upstream\"]\n\turl = https://x.org/a/b\n[remote \"origin\"]\n\turl = git@gitlab.com:team/app.git\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n",
        )
        .unwrap();
        assert_eq!(portable(&repo).as_deref(), Some("gitlab.com/team/app"));
    }
}
