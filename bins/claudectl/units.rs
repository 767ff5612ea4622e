//! The systemd user units, as shipped in `units/systemd/` (compiled in, so the installed
//! `claudectl` carries the units of its own release), rendered for where the binaries live.

use anyhow::{Context, Result};
use claude_daemons::config::Config;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where distribution packages put user units.
pub const PACKAGED_DIR: &str = "/usr/lib/systemd/user";

/// The socket units `install` enables.
pub const SOCKETS: [&str; 3] = [
    "claude-memd.socket",
    "claude-supervisord.socket",
    "claude-meshd.socket",
];

const UNITS: [(&str, &str); 6] = [
    (
        "claude-memd.socket",
        include_str!("../../units/systemd/claude-memd.socket"),
    ),
    (
        "claude-memd.service",
        include_str!("../../units/systemd/claude-memd.service"),
    ),
    (
        "claude-supervisord.socket",
        include_str!("../../units/systemd/claude-supervisord.socket"),
    ),
    (
        "claude-supervisord.service",
        include_str!("../../units/systemd/claude-supervisord.service"),
    ),
    (
        "claude-meshd.socket",
        include_str!("../../units/systemd/claude-meshd.socket"),
    ),
    (
        "claude-meshd.service",
        include_str!("../../units/systemd/claude-meshd.service"),
    ),
];

/// The user's unit directory (`$XDG_CONFIG_HOME/systemd/user`).
pub fn user_dir(home: &Path) -> PathBuf {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".config"))
        .join("systemd/user")
}

/// Whether the distribution's package installed the units for binaries in `bindir`.
pub fn packaged_for(bindir: &Path) -> bool {
    bindir == Path::new("/usr/bin") && Path::new(PACKAGED_DIR).join(SOCKETS[0]).exists()
}

/// The units with `ExecStart` pointing into `bindir` and memd's viewer listener following
/// `[memory] viewer_port` (0: no TCP listener).
pub fn render(bindir: &Path, config: &Config) -> Vec<(&'static str, String)> {
    let viewer = format!("ListenStream=127.0.0.1:{}", config.memory.viewer_port);
    UNITS
        .iter()
        .map(|(name, text)| {
            let text = text.replace(
                "ExecStart=/usr/bin/",
                &format!("ExecStart={}/", bindir.display()),
            );
            let text = match config.memory.viewer_port {
                0 => text.replace("ListenStream=127.0.0.1:37777\n", ""),
                _ => text.replace("ListenStream=127.0.0.1:37777", &viewer),
            };
            (*name, text)
        })
        .collect()
}

/// Write the units into `dir`; returns how many files changed.
pub fn write(dir: &Path, units: &[(&'static str, String)]) -> Result<usize> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut changed = 0;
    for (name, text) in units {
        let path = dir.join(name);
        if std::fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
            continue;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        changed += 1;
    }
    Ok(changed)
}

/// Remove our unit files from `dir`; returns how many were there.
pub fn remove(dir: &Path) -> Result<usize> {
    let mut removed = 0;
    for (name, _) in UNITS {
        match std::fs::remove_file(dir.join(name)) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot remove {}", dir.join(name).display()))
            }
        }
    }
    Ok(removed)
}

/// `systemctl --user ARGS`, failing with its stderr.
pub fn systemctl(args: &[&str]) -> Result<()> {
    let out = Command::new("systemctl")
        .arg("--user")
        .args(args)
        .output()
        .context("cannot run systemctl")?;
    if !out.status.success() {
        anyhow::bail!(
            "systemctl --user {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Whether a systemd user manager answers for this user, and if not, why.
pub fn user_manager() -> Result<(), String> {
    match Command::new("systemctl")
        .args(["--user", "show-environment"])
        .output()
    {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        Err(e) => Err(format!("cannot run systemctl: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_paths_and_viewer_port() {
        let mut config = Config::default();
        let units = render(Path::new("/home/u/.cargo/bin"), &config);
        let memd = &units
            .iter()
            .find(|(n, _)| *n == "claude-memd.service")
            .unwrap()
            .1;
        assert!(
            memd.contains("ExecStart=/home/u/.cargo/bin/claude-memd\n"),
            "{memd}"
        );
        let sock = &units
            .iter()
            .find(|(n, _)| *n == "claude-memd.socket")
            .unwrap()
            .1;
        assert!(sock.contains("ListenStream=127.0.0.1:37777"));
        config.memory.viewer_port = 0;
        let units = render(Path::new("/usr/bin"), &config);
        let sock = &units
            .iter()
            .find(|(n, _)| *n == "claude-memd.socket")
            .unwrap()
            .1;
        assert!(!sock.contains("127.0.0.1"), "{sock}");
        assert!(sock.contains("ListenStream=%t/claude/memd.sock"));
        config.memory.viewer_port = 40000;
        let sock = render(Path::new("/usr/bin"), &config)[0].1.clone();
        assert!(sock.contains("ListenStream=127.0.0.1:40000"));
    }
}
