//! The launchd agents, as shipped in `units/launchd/` (compiled in, like the systemd units),
//! rendered for this user and loaded with `launchctl bootstrap gui/<uid>`.
//!
//! launchd expands neither `~` nor environment variables, so the plists carry placeholders
//! that are filled in here: the binaries' directory, the uid (the runtime directory
//! `/tmp/claude-daemons-<uid>`, short because macOS limits socket paths to 104 bytes), the
//! home directory (logs). Rendering is plain text work and is tested on every platform;
//! only `launchctl` itself needs macOS.

use anyhow::{bail, Context, Result};
use claude_daemons::config::Config;
use claude_daemons::paths::current_uid;
use std::path::{Path, PathBuf};
use std::process::Command;

const AGENTS: [(&str, &str); 3] = [
    (
        "dev.claude-daemons.memd",
        include_str!("../../units/launchd/dev.claude-daemons.memd.plist"),
    ),
    (
        "dev.claude-daemons.supervisord",
        include_str!("../../units/launchd/dev.claude-daemons.supervisord.plist"),
    ),
    (
        "dev.claude-daemons.meshd",
        include_str!("../../units/launchd/dev.claude-daemons.meshd.plist"),
    ),
];

/// The directory the shipped plists point their `ProgramArguments` into.
const SHIPPED_BINDIR: &str = "<string>/usr/local/bin/";
/// memd's viewer listener in the shipped plist, removed when `viewer_port` is 0.
const VIEWER: &str = "\t\t\t<!-- The web viewer, loopback only. -->
\t\t\t<dict>
\t\t\t\t<key>SockFamily</key>
\t\t\t\t<string>IPv4</string>
\t\t\t\t<key>SockNodeName</key>
\t\t\t\t<string>127.0.0.1</string>
\t\t\t\t<key>SockServiceName</key>
\t\t\t\t<string>37777</string>
\t\t\t</dict>
";

/// A rendered agent: its label and the plist text.
pub struct Agent {
    /// `dev.claude-daemons.<short>`.
    pub label: &'static str,
    /// The plist, placeholders filled in.
    pub text: String,
}

impl Agent {
    /// `<label>.plist`.
    pub fn file_name(&self) -> String {
        format!("{}.plist", self.label)
    }
}

/// `~/Library/LaunchAgents`.
pub fn agents_dir(home: &Path) -> PathBuf {
    home.join("Library/LaunchAgents")
}

/// Text for a plist `<string>`: `&`, `<` and `>` escaped.
fn xml_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The agents with their programs in `bindir`, this user's uid and home, and memd's viewer
/// listener following `[memory] viewer_port` (0: none).
pub fn render(bindir: &Path, uid: u32, home: &Path, config: &Config) -> Vec<Agent> {
    let bindir = xml_text(&bindir.display().to_string());
    let home = xml_text(&home.display().to_string());
    AGENTS
        .iter()
        .map(|(label, text)| {
            let text = text
                .replace(SHIPPED_BINDIR, &format!("<string>{bindir}/"))
                .replace("@UID@", &uid.to_string())
                .replace("@HOME@", &home);
            let text = match config.memory.viewer_port {
                0 => text.replace(VIEWER, ""),
                port => text.replace(
                    "<string>37777</string>",
                    &format!("<string>{port}</string>"),
                ),
            };
            Agent { label, text }
        })
        .collect()
}

/// Write the agents into `dir`; returns the labels whose file changed.
pub fn write(dir: &Path, agents: &[Agent]) -> Result<Vec<&'static str>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut changed = Vec::new();
    for agent in agents {
        let path = dir.join(agent.file_name());
        if std::fs::read_to_string(&path).ok().as_deref() == Some(agent.text.as_str()) {
            continue;
        }
        std::fs::write(&path, &agent.text)
            .with_context(|| format!("cannot write {}", path.display()))?;
        changed.push(agent.label);
    }
    Ok(changed)
}

/// Remove our plists from `dir`; returns how many were there.
pub fn remove(dir: &Path) -> Result<usize> {
    let mut removed = 0;
    for (label, _) in AGENTS {
        let path = dir.join(format!("{label}.plist"));
        match std::fs::remove_file(&path) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot remove {}", path.display())),
        }
    }
    Ok(removed)
}

/// The labels of every agent, for unloading.
pub fn labels() -> impl Iterator<Item = &'static str> {
    AGENTS.iter().map(|(label, _)| *label)
}

/// The launchd domain of this user's login session.
pub fn domain() -> String {
    format!("gui/{}", current_uid())
}

/// Whether launchd has the job loaded.
pub fn is_loaded(label: &str) -> bool {
    Command::new("launchctl")
        .args(["print", &format!("{}/{label}", domain())])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Load (or, when `reload`, unload and load again so a changed plist takes effect) the
/// agent whose plist is at `path`.
pub fn bootstrap(label: &str, path: &Path, reload: bool) -> Result<()> {
    if is_loaded(label) {
        if !reload {
            return Ok(());
        }
        bootout(label)?;
        // bootout returns before launchd has torn the job down; a bootstrap meanwhile
        // fails ("Bootstrap failed: 5").
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while is_loaded(label) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    launchctl(&["bootstrap", &domain(), &path.display().to_string()])
}

/// Unload the agent if it is loaded (its socket closes; the plist stays).
pub fn bootout(label: &str) -> Result<()> {
    if !is_loaded(label) {
        return Ok(());
    }
    launchctl(&["bootout", &format!("{}/{label}", domain())])
}

fn launchctl(args: &[&str]) -> Result<()> {
    let out = Command::new("launchctl")
        .args(args)
        .output()
        .context("cannot run launchctl")?;
    if !out.status.success() {
        bail!(
            "launchctl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plist as JSON through Python's plistlib, the format launchd reads.
    fn parse(text: &str) -> serde_json::Value {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.plist");
        std::fs::write(&path, text).unwrap();
        let out = Command::new("python3")
            .args([
                "-c",
                "import json,plistlib,sys; json.dump(plistlib.load(open(sys.argv[1],'rb')),sys.stdout)",
            ])
            .arg(&path)
            .output()
            .expect("python3 is needed to parse plists");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    #[test]
    fn renders_programs_runtime_dir_logs_and_viewer_port() {
        let mut config = Config::default();
        let home = Path::new("/Users/a&b");
        let agents = render(Path::new("/opt/homebrew/bin"), 501, home, &config);
        assert_eq!(agents.len(), 3);
        for agent in &agents {
            assert!(
                !agent.text.contains('@'),
                "placeholder left: {}",
                agent.text
            );
            let plist = parse(&agent.text);
            let short = agent.label.trim_start_matches("dev.claude-daemons.");
            assert_eq!(plist["Label"], agent.label);
            assert_eq!(
                plist["ProgramArguments"][0],
                format!("/opt/homebrew/bin/claude-{short}")
            );
            assert_eq!(
                plist["StandardErrorPath"],
                format!("/Users/a&b/Library/Logs/claude-{short}.log")
            );
            let sockets = &plist["Sockets"][short];
            let unix = if sockets.is_array() {
                &sockets[0]
            } else {
                sockets
            };
            assert_eq!(
                unix["SockPathName"],
                format!("/tmp/claude-daemons-501/{short}.sock")
            );
        }
        let memd = parse(&agents[0].text);
        assert_eq!(memd["Sockets"]["memd"][1]["SockServiceName"], "37777");

        config.memory.viewer_port = 40000;
        let memd = parse(&render(Path::new("/b"), 501, home, &config)[0].text);
        assert_eq!(memd["Sockets"]["memd"][1]["SockServiceName"], "40000");

        config.memory.viewer_port = 0;
        let memd = parse(&render(Path::new("/b"), 501, home, &config)[0].text);
        let listeners = memd["Sockets"]["memd"].as_array().unwrap();
        assert_eq!(listeners.len(), 1, "no TCP listener: {memd}");
        assert_eq!(listeners[0]["SockFamily"], "Unix");
    }

    #[test]
    fn write_reports_changes_and_remove_takes_only_ours() {
        let dir = tempfile::tempdir().unwrap();
        let agents = render(Path::new("/b"), 501, Path::new("/h"), &Config::default());
        assert_eq!(write(dir.path(), &agents).unwrap().len(), 3);
        assert!(write(dir.path(), &agents).unwrap().is_empty(), "idempotent");
        std::fs::write(dir.path().join("com.other.plist"), "x").unwrap();
        assert_eq!(remove(dir.path()).unwrap(), 3);
        assert!(dir.path().join("com.other.plist").exists());
        assert_eq!(remove(dir.path()).unwrap(), 0);
    }
}
