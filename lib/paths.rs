//! Where sockets, state and configuration live, as DESIGN.md fixes them.
//!
//! Every path can be overridden by an environment variable so that tests (and people running
//! several instances) can put a daemon anywhere: `CLAUDE_DAEMONS_RUNTIME_DIR`,
//! `CLAUDE_DAEMONS_STATE_DIR`, `CLAUDE_DAEMONS_CONFIG`.

use std::path::{Path, PathBuf};

/// Longest Unix socket path the kernel accepts, excluding the terminating NUL
/// (`sizeof(sun_path) - 1`: 108 on Linux, 104 on macOS and the BSDs).
#[cfg(target_os = "linux")]
pub const MAX_SOCKET_PATH: usize = 107;
/// Longest Unix socket path the kernel accepts, excluding the terminating NUL.
#[cfg(not(target_os = "linux"))]
pub const MAX_SOCKET_PATH: usize = 103;

/// The three daemons, with the names that units, sockets and databases use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Daemon {
    /// `claude-memd`: persistent memory.
    Memd,
    /// `claude-supervisord`: the pool of long-lived Claude Code processes.
    Supervisord,
    /// `claude-meshd`: messaging between sessions.
    Meshd,
}

impl Daemon {
    /// All daemons, in the order `claudectl status` shows them.
    pub const ALL: [Daemon; 3] = [Daemon::Memd, Daemon::Supervisord, Daemon::Meshd];

    /// The program (and systemd unit) name, e.g. `claude-memd`.
    pub fn program(self) -> &'static str {
        match self {
            Daemon::Memd => "claude-memd",
            Daemon::Supervisord => "claude-supervisord",
            Daemon::Meshd => "claude-meshd",
        }
    }

    /// The short name: socket file stem, systemd `FileDescriptorName=`, launchd socket key.
    pub fn short(self) -> &'static str {
        match self {
            Daemon::Memd => "memd",
            Daemon::Supervisord => "supervisord",
            Daemon::Meshd => "meshd",
        }
    }

    /// File name of the daemon's Unix socket inside the runtime directory.
    pub fn socket_file(self) -> String {
        format!("{}.sock", self.short())
    }

    /// File name of the daemon's SQLite database inside the state directory.
    pub fn db_file(self) -> &'static str {
        match self {
            Daemon::Memd => "memory.db",
            Daemon::Supervisord => "supervisor.db",
            Daemon::Meshd => "mesh.db",
        }
    }

    /// Look a daemon up by program or short name.
    pub fn from_name(name: &str) -> Option<Daemon> {
        Daemon::ALL
            .into_iter()
            .find(|d| d.program() == name || d.short() == name)
    }
}

/// The name of the embedding model's directory under `$STATE/models/` (and the first part
/// of the model id stored with every vector).
pub const EMBEDDING_MODEL: &str = "all-MiniLM-L6-v2";

/// Resolved locations for one user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paths {
    /// Directory holding the sockets (`$XDG_RUNTIME_DIR/claude`).
    pub runtime_dir: PathBuf,
    /// Directory holding databases and keys (`$XDG_STATE_HOME/claude-daemons`).
    pub state_dir: PathBuf,
    /// The configuration file (`$XDG_CONFIG_HOME/claude-daemons/config.toml`).
    pub config_file: PathBuf,
}

impl Paths {
    /// Resolve the paths from the process environment.
    pub fn from_env() -> Paths {
        Paths::resolve(|k| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
    }

    /// Resolve the paths from a lookup function (the environment, or a map in tests).
    pub fn resolve(var: impl Fn(&str) -> Option<PathBuf>) -> Paths {
        let home = var("HOME").unwrap_or_else(|| PathBuf::from("/"));
        let runtime_dir = var("CLAUDE_DAEMONS_RUNTIME_DIR").unwrap_or_else(|| {
            match var("XDG_RUNTIME_DIR") {
                Some(dir) if cfg!(target_os = "linux") => dir.join("claude"),
                // macOS has no XDG_RUNTIME_DIR and its $TMPDIR is long; socket paths are
                // limited to 104 bytes, so use a short per-user directory.
                _ => PathBuf::from(format!("/tmp/claude-daemons-{}", current_uid())),
            }
        });
        let state_dir = var("CLAUDE_DAEMONS_STATE_DIR").unwrap_or_else(|| {
            var("XDG_STATE_HOME")
                .unwrap_or_else(|| home.join(".local/state"))
                .join("claude-daemons")
        });
        let config_file = var("CLAUDE_DAEMONS_CONFIG").unwrap_or_else(|| {
            var("XDG_CONFIG_HOME")
                .unwrap_or_else(|| home.join(".config"))
                .join("claude-daemons/config.toml")
        });
        Paths {
            runtime_dir,
            state_dir,
            config_file,
        }
    }

    /// The Unix socket of a daemon.
    pub fn socket(&self, daemon: Daemon) -> PathBuf {
        self.runtime_dir.join(daemon.socket_file())
    }

    /// The SQLite database of a daemon.
    pub fn db(&self, daemon: Daemon) -> PathBuf {
        self.state_dir.join(daemon.db_file())
    }

    /// The embedding model claude-memd's semantic recall loads (`config.json`,
    /// `tokenizer.json`, `model.safetensors`), put there by `claudectl mem model install`.
    pub fn embedding_model(&self) -> PathBuf {
        self.state_dir.join("models").join(EMBEDDING_MODEL)
    }
}

/// Whether `path` fits in a `sockaddr_un`.
pub fn socket_path_fits(path: &Path) -> bool {
    path.as_os_str().len() <= MAX_SOCKET_PATH
}

/// The effective uid of this process.
pub fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resolve(vars: &[(&str, &str)]) -> Paths {
        let map: HashMap<String, PathBuf> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), PathBuf::from(v)))
            .collect();
        Paths::resolve(|k| map.get(k).cloned())
    }

    #[test]
    fn xdg_defaults() {
        let p = resolve(&[("HOME", "/home/u"), ("XDG_RUNTIME_DIR", "/run/user/1000")]);
        if cfg!(target_os = "linux") {
            assert_eq!(p.runtime_dir, PathBuf::from("/run/user/1000/claude"));
        }
        assert_eq!(
            p.state_dir,
            PathBuf::from("/home/u/.local/state/claude-daemons")
        );
        assert_eq!(
            p.config_file,
            PathBuf::from("/home/u/.config/claude-daemons/config.toml")
        );
        assert_eq!(
            p.socket(Daemon::Memd),
            PathBuf::from("/run/user/1000/claude/memd.sock")
        );
        assert_eq!(
            p.db(Daemon::Meshd),
            PathBuf::from("/home/u/.local/state/claude-daemons/mesh.db")
        );
    }

    #[test]
    fn overrides_win() {
        let p = resolve(&[
            ("HOME", "/home/u"),
            ("XDG_RUNTIME_DIR", "/run/user/1000"),
            ("XDG_STATE_HOME", "/xdg/state"),
            ("CLAUDE_DAEMONS_RUNTIME_DIR", "/r"),
            ("CLAUDE_DAEMONS_STATE_DIR", "/s"),
            ("CLAUDE_DAEMONS_CONFIG", "/c.toml"),
        ]);
        assert_eq!(p.runtime_dir, PathBuf::from("/r"));
        assert_eq!(p.state_dir, PathBuf::from("/s"));
        assert_eq!(p.config_file, PathBuf::from("/c.toml"));
        let q = resolve(&[("HOME", "/home/u"), ("XDG_STATE_HOME", "/xdg/state")]);
        assert_eq!(q.state_dir, PathBuf::from("/xdg/state/claude-daemons"));
    }

    #[test]
    fn socket_length_limit() {
        assert!(socket_path_fits(Path::new(
            "/run/user/1000/claude/memd.sock"
        )));
        let long = format!("/{}", "x".repeat(MAX_SOCKET_PATH));
        assert!(!socket_path_fits(Path::new(&long)));
    }

    #[test]
    fn daemon_names() {
        for d in Daemon::ALL {
            assert_eq!(Daemon::from_name(d.program()), Some(d));
            assert_eq!(Daemon::from_name(d.short()), Some(d));
        }
        assert_eq!(Daemon::Supervisord.socket_file(), "supervisord.sock");
        assert_eq!(Daemon::from_name("nope"), None);
    }
}
