//! Project identity: the git root's path, so two repositories with the same folder name stay
//! apart and every worktree of one repository is the same project. The display name is the
//! root's basename. Found by reading `.git` from the file system (no `git` process on the
//! hot path); a directory outside any repository is its own project.

use std::path::{Path, PathBuf};

/// A marker file in a project's root that turns memory off for it.
pub const OPT_OUT_MARKER: &str = ".no-claude-memory";

/// Which project a working directory belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Project {
    /// The main repository's root (or the directory itself outside git).
    pub root: PathBuf,
    /// The root's basename.
    pub name: String,
}

impl Project {
    /// The project of `cwd`.
    pub fn of(cwd: &Path) -> Project {
        let cwd = std::fs::canonicalize(cwd).unwrap_or_else(|_| cwd.to_path_buf());
        let root = git_root(&cwd).unwrap_or_else(|| cwd.clone());
        let name = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| root.display().to_string());
        Project { root, name }
    }

    /// The root as text (the `project` column).
    pub fn key(&self) -> String {
        self.root.display().to_string()
    }

    /// Whether the opt-out marker is in the root or in the working directory's tree below it.
    pub fn opted_out(&self, cwd: &Path) -> bool {
        if self.root.join(OPT_OUT_MARKER).exists() {
            return true;
        }
        cwd.ancestors()
            .take_while(|d| d.starts_with(&self.root))
            .any(|d| d.join(OPT_OUT_MARKER).exists())
    }
}

/// The main repository root above `dir`: the nearest ancestor holding `.git`; for a linked
/// worktree (`.git` is a file naming `…/.git/worktrees/<name>`, which has a `commondir`), the
/// repository that owns it.
fn git_root(dir: &Path) -> Option<PathBuf> {
    for d in dir.ancestors() {
        let dotgit = d.join(".git");
        let Ok(meta) = std::fs::metadata(&dotgit) else {
            continue;
        };
        if meta.is_dir() {
            return Some(d.to_path_buf());
        }
        return Some(linked_root(d, &dotgit).unwrap_or_else(|| d.to_path_buf()));
    }
    None
}

fn linked_root(dir: &Path, dotgit_file: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(dotgit_file).ok()?;
    let gitdir = text.lines().find_map(|l| l.strip_prefix("gitdir:"))?.trim();
    let gitdir = dir.join(gitdir);
    // Submodules have no `commondir`: they are projects of their own.
    let common = std::fs::read_to_string(gitdir.join("commondir")).ok()?;
    let common = std::fs::canonicalize(gitdir.join(common.trim())).ok()?;
    if common.file_name()? == ".git" {
        Some(common.parent()?.to_path_buf())
    } else {
        // A bare repository's worktree: the repository directory itself.
        Some(common)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn mkrepo(dir: &Path) {
        fs::create_dir_all(dir.join(".git/worktrees/feature")).unwrap();
    }

    #[test]
    fn subdirectory_belongs_to_the_git_root() {
        let t = tempfile::tempdir().unwrap();
        let repo = t.path().join("app");
        mkrepo(&repo);
        fs::create_dir_all(repo.join("src/deep")).unwrap();
        let p = Project::of(&repo.join("src/deep"));
        assert_eq!(p.root, fs::canonicalize(&repo).unwrap());
        assert_eq!(p.name, "app");
    }

    #[test]
    fn same_named_repositories_stay_apart() {
        let t = tempfile::tempdir().unwrap();
        let a = t.path().join("work/app");
        let b = t.path().join("oss/app");
        mkrepo(&a);
        mkrepo(&b);
        let (pa, pb) = (Project::of(&a), Project::of(&b));
        assert_eq!(pa.name, pb.name);
        assert_ne!(pa.key(), pb.key());
    }

    #[test]
    fn worktree_is_grouped_under_its_main_repository() {
        let t = tempfile::tempdir().unwrap();
        let main = t.path().join("app");
        mkrepo(&main);
        let gitdir = main.join(".git/worktrees/feature");
        fs::write(gitdir.join("commondir"), "../..\n").unwrap();
        let wt = t.path().join("app-feature");
        fs::create_dir_all(wt.join("src")).unwrap();
        fs::write(wt.join(".git"), format!("gitdir: {}\n", gitdir.display())).unwrap();
        let p = Project::of(&wt.join("src"));
        assert_eq!(p.root, fs::canonicalize(&main).unwrap());
        assert_eq!(p.name, "app");
    }

    #[test]
    fn submodule_and_plain_directories_are_their_own_projects() {
        let t = tempfile::tempdir().unwrap();
        let main = t.path().join("app");
        mkrepo(&main);
        fs::create_dir_all(main.join(".git/modules/lib")).unwrap();
        let sub = main.join("vendor/lib");
        fs::create_dir_all(&sub).unwrap();
        fs::write(sub.join(".git"), "gitdir: ../../.git/modules/lib\n").unwrap();
        assert_eq!(Project::of(&sub).root, fs::canonicalize(&sub).unwrap());
        let plain = t.path().join("scratch");
        fs::create_dir_all(&plain).unwrap();
        assert_eq!(Project::of(&plain).name, "scratch");
    }

    #[test]
    fn marker_file_opts_out() {
        let t = tempfile::tempdir().unwrap();
        let repo = t.path().join("app");
        mkrepo(&repo);
        fs::create_dir_all(repo.join("src")).unwrap();
        let p = Project::of(&repo);
        assert!(!p.opted_out(&repo.join("src")));
        fs::write(repo.join(OPT_OUT_MARKER), "").unwrap();
        assert!(p.opted_out(&fs::canonicalize(repo.join("src")).unwrap()));
    }
}
