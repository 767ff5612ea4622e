//! What a session's process is started as: its arguments (headless or interactive), the
//! environment it keeps, what runs in the child between fork and exec, and where Claude
//! Code keeps its transcript.

use crate::settings::{ChildKind, Settings};
use claude_daemons::api::supervisor::CHANNEL_SERVER;
use claude_daemons::claude::DEV_CHANNELS_FLAG;
use claude_daemons::config::InteractiveInput;
use std::path::{Path, PathBuf};

/// Variables a child must not inherit: `CLAUDECODE` makes Claude Code refuse to start
/// ("nested"), the others belong to the supervisor's own service manager.
const CLEANED: &[&str] = &["CLAUDECODE", "NOTIFY_SOCKET"];
const CLEANED_PREFIXES: &[&str] = &["LISTEN_", "WATCHDOG_"];

/// Everything needed to start a session's process.
#[derive(Clone, Debug)]
pub struct Spec {
    pub kind: ChildKind,
    pub bin: String,
    pub session_id: String,
    /// A fork's origin: its first start resumes that session with `--fork-session`.
    pub fork_of: Option<String>,
    pub settings: Settings,
    /// The session key (interactive children call back with it from their Stop hook).
    pub key: String,
    /// Interactive children: `--settings` (the Stop hook) and `--debug-file` live here.
    pub state_dir: PathBuf,
    /// The supervisor's socket, for the Stop hook's and the channel server's call backs.
    pub socket: PathBuf,
    /// How an interactive child's prompts go in (`[supervisor] interactive_input`).
    pub input: InteractiveInput,
}

/// What an environment allow-list always lets through: what Claude Code needs to run.
const ENV_BASE: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "TZ",
    "TMPDIR",
    "TERM",
    "CLAUDE_CONFIG_DIR",
    "XDG_CONFIG_HOME",
    "XDG_CACHE_HOME",
    "XDG_DATA_HOME",
    "XDG_STATE_HOME",
    "XDG_RUNTIME_DIR",
    "DISABLE_TELEMETRY",
    "DISABLE_AUTOUPDATER",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "NO_PROXY",
];
const ENV_BASE_PREFIXES: &[&str] = &["LC_", "ANTHROPIC_"];

impl Spec {
    /// Arguments: `--resume` once the transcript exists, `--session-id` before (resuming a
    /// fork's origin with `--fork-session` when there is one).
    pub fn args(&self, resume: bool) -> Vec<String> {
        let mut a: Vec<String> = [
            "-p",
            "--input-format",
            "stream-json",
            "--output-format",
            "stream-json",
            "--verbose",
            "--include-partial-messages",
        ]
        .map(String::from)
        .into();
        self.session_args(resume, &mut a);
        // Permission prompts come to us as `can_use_tool` control requests; without this
        // the CLI in -p mode denies whatever would prompt.
        a.extend(["--permission-prompt-tool".into(), "stdio".into()]);
        self.option_args(true, &mut a);
        a
    }

    /// Arguments of an interactive child (no `-p`): its Stop hook in `--settings`, its own
    /// `--debug-file`, and unless prompts are only typed, the supervisor's channel server
    /// (a second `--mcp-config`: the CLI adds up repeated ones) loaded as a development
    /// channel. `--max-turns` and `--max-budget-usd` exist only with `-p`.
    pub fn interactive_args(&self, resume: bool) -> Vec<String> {
        let mut a = Vec::new();
        self.session_args(resume, &mut a);
        a.extend([
            "--settings".into(),
            self.settings_file().display().to_string(),
            "--debug-file".into(),
            self.debug_file().display().to_string(),
        ]);
        if self.input != InteractiveInput::Typing {
            a.extend([
                "--mcp-config".into(),
                self.channel_file().display().to_string(),
                DEV_CHANNELS_FLAG.into(),
                format!("server:{CHANNEL_SERVER}"),
            ]);
        }
        self.option_args(false, &mut a);
        a
    }

    /// The `--mcp-config` of an interactive child's channel server: `claudectl sup channel`
    /// with the socket, key and session id it connects back with.
    pub fn channel_config(&self) -> serde_json::Value {
        let claudectl = sibling_program("claudectl");
        serde_json::json!({"mcpServers": {CHANNEL_SERVER: {
            "type": "stdio",
            "command": claudectl.display().to_string(),
            "args": ["sup", "channel", "--socket", self.socket.display().to_string(),
                     "--key", self.key, "--session-id", self.session_id],
        }}})
    }

    /// Where [`Spec::channel_config`] is written.
    pub fn channel_file(&self) -> PathBuf {
        self.state_dir.join("channel.json")
    }

    /// `--settings` file of an interactive child.
    pub fn settings_file(&self) -> PathBuf {
        self.state_dir.join("settings.json")
    }

    /// `--debug-file` of an interactive child.
    pub fn debug_file(&self) -> PathBuf {
        self.state_dir.join("debug.log")
    }

    fn session_args(&self, resume: bool, a: &mut Vec<String>) {
        match (&self.fork_of, resume) {
            (Some(origin), false) => a.extend([
                "--resume".into(),
                origin.clone(),
                "--fork-session".into(),
                "--session-id".into(),
                self.session_id.clone(),
            ]),
            _ => a.extend([
                if resume { "--resume" } else { "--session-id" }.into(),
                self.session_id.clone(),
            ]),
        }
    }

    fn option_args(&self, print_mode: bool, a: &mut Vec<String>) {
        let s = &self.settings;
        if let Some(m) = &s.model {
            a.extend(["--model".into(), m.clone()]);
        }
        if let Some(p) = &s.permission_mode {
            a.extend(["--permission-mode".into(), p.clone()]);
        }
        if !s.allowed_tools.is_empty() {
            a.extend(["--allowedTools".into(), s.allowed_tools.join(",")]);
        }
        let e = &s.extra;
        if !e.disallowed_tools.is_empty() {
            a.extend(["--disallowedTools".into(), e.disallowed_tools.join(",")]);
        }
        let mut flag = |name: &str, v: Option<String>| {
            if let Some(v) = v {
                a.extend([name.into(), v]);
            }
        };
        flag("--system-prompt", e.system_prompt.clone());
        flag("--append-system-prompt", e.append_system_prompt.clone());
        flag(
            "--mcp-config",
            e.mcp_config.as_ref().map(|m| match m {
                serde_json::Value::String(path) => path.clone(),
                inline => inline.to_string(),
            }),
        );
        flag("--fallback-model", e.fallback_model.clone());
        if print_mode {
            flag("--max-turns", e.max_turns.map(|n| n.to_string()));
            flag("--max-budget-usd", e.max_budget_usd.map(|n| n.to_string()));
        }
        for d in &e.add_dirs {
            a.extend(["--add-dir".into(), d.clone()]);
        }
        if s.isolated {
            // Empty values are the CLI's way to say "none".
            a.extend(
                [
                    "--tools",
                    "",
                    "--strict-mcp-config",
                    "--setting-sources",
                    "",
                ]
                .map(String::from),
            );
        }
    }

    /// The variables of our environment the child must not see (the cleaned ones, and
    /// those outside the session's allow-list).
    pub fn env_removed(&self) -> Vec<String> {
        let allowed = self.settings.extra.env.as_ref();
        std::env::vars_os()
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .filter(|k| {
                let cleaned = CLEANED.contains(&k.as_str())
                    || CLEANED_PREFIXES.iter().any(|p| k.starts_with(p));
                let kept = allowed.is_none_or(|list| {
                    list.iter().any(|n| n == k)
                        || ENV_BASE.contains(&k.as_str())
                        || ENV_BASE_PREFIXES.iter().any(|p| k.starts_with(p))
                });
                cleaned || !kept
            })
            .collect()
    }
}

/// A program installed beside our own executable (the packages install them together),
/// else the one of that name on PATH.
pub fn sibling_program(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join(name)))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// Between fork and exec: the user's umask and open-file limit, and death with the
/// supervisor (`parent` is our pid). Only async-signal-safe calls.
pub fn prepare_child(parent: u32) -> std::io::Result<()> {
    // The daemon's own umask (077) and raised open-file limit are for its state and
    // sockets; Claude Code writes the user's project files and may select(2).
    claude_daemons::permissions::restore_umask_for_child();
    claude_daemons::daemon::limits::restore_for_child()?;
    #[cfg(target_os = "linux")]
    // SAFETY: plain syscalls.
    unsafe {
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // The supervisor died before prctl: nobody would ever signal us.
        if libc::getppid() as u32 != parent {
            libc::_exit(1);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = parent;
    Ok(())
}

/// Where Claude Code keeps its transcripts: `$CLAUDE_CONFIG_DIR/projects` or
/// `~/.claude/projects` (the child inherits our HOME and `CLAUDE_CONFIG_DIR`).
pub fn projects_dir() -> Option<PathBuf> {
    std::env::var_os("CLAUDE_CONFIG_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".claude")))
        .map(|c| c.join("projects"))
}

/// The directory of `cwd`'s transcripts under [`projects_dir`]: every non-alphanumeric
/// character becomes `-`.
pub fn project_slug(cwd: &str) -> String {
    cwd.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// The transcript of `session_id` run in `cwd`, if it exists:
/// `<projects>/<slug of cwd>/<uuid>.jsonl`.
pub fn transcript_path(cwd: &str, session_id: &str) -> Option<PathBuf> {
    let projects = projects_dir()?;
    let file = format!("{session_id}.jsonl");
    let direct = projects.join(project_slug(cwd)).join(&file);
    if direct.is_file() {
        return Some(direct);
    }
    // Long or unusual paths are shortened by the CLI; the uuid alone is unique.
    std::fs::read_dir(&projects)
        .ok()?
        .flatten()
        .map(|d| d.path().join(&file))
        .find(|p| p.is_file())
}

/// Whether the transcript of `session_id` run in `cwd` exists (then the child resumes it).
pub fn transcript_exists(cwd: &str, session_id: &str) -> bool {
    transcript_path(cwd, session_id).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn args_pick_session_id_then_resume() {
        let spec = Spec {
            kind: ChildKind::StreamJson,
            bin: "claude".into(),
            session_id: "u1".into(),
            fork_of: None,
            key: "k".into(),
            state_dir: PathBuf::from("/state/u1"),
            socket: PathBuf::from("/run/s.sock"),
            input: InteractiveInput::Auto,
            settings: Settings {
                cwd: "/w".into(),
                model: Some("haiku".into()),
                allowed_tools: vec!["Read".into(), "Bash".into()],
                ..Settings::default()
            },
        };
        let new = spec.args(false).join(" ");
        assert!(new.contains("--session-id u1"), "{new}");
        assert!(new.contains("--model haiku"), "{new}");
        assert!(new.contains("--allowedTools Read,Bash"), "{new}");
        assert!(!new.contains("--permission-mode"), "{new}");
        assert!(spec.args(true).join(" ").contains("--resume u1"));
        assert!(!new.contains("--strict-mcp-config"), "{new}");
        assert!(new.contains("--permission-prompt-tool stdio"), "{new}");
    }

    #[test]
    fn options_become_flags_and_a_fork_resumes_its_origin() {
        let mut spec = Spec {
            kind: ChildKind::StreamJson,
            bin: "claude".into(),
            session_id: "new".into(),
            fork_of: Some("old".into()),
            settings: Settings::default(),
            key: "k".into(),
            state_dir: PathBuf::from("/state/u1"),
            socket: PathBuf::from("/run/s.sock"),
            input: InteractiveInput::Auto,
        };
        let e = &mut spec.settings.extra;
        e.system_prompt = Some("be brief".into());
        e.mcp_config = Some(serde_json::json!({"mcpServers": {}}));
        e.max_turns = Some(3);
        e.max_budget_usd = Some(0.5);
        e.add_dirs = vec!["/a".into(), "/b".into()];
        e.disallowed_tools = vec!["WebFetch".into()];
        let args = spec.args(false);
        let line = args.join(" ");
        assert!(
            line.contains("--resume old --fork-session --session-id new"),
            "{line}"
        );
        for f in [
            "--system-prompt be brief",
            "--mcp-config {\"mcpServers\":{}}",
            "--max-turns 3",
            "--max-budget-usd 0.5",
            "--add-dir /a --add-dir /b",
            "--disallowedTools WebFetch",
        ] {
            assert!(line.contains(f), "{f} in {line}");
        }
        assert!(spec
            .args(true)
            .join(" ")
            .contains("--resume new --permission"));
    }

    #[test]
    fn an_isolated_child_gets_no_tools_mcp_servers_or_settings() {
        let mut spec = Spec {
            kind: ChildKind::StreamJson,
            bin: "claude".into(),
            session_id: "u1".into(),
            fork_of: None,
            settings: Settings::default(),
            key: "k".into(),
            state_dir: PathBuf::from("/state/u1"),
            socket: PathBuf::from("/run/s.sock"),
            input: InteractiveInput::Auto,
        };
        spec.settings.isolated = true;
        let args = spec.args(false);
        let after = |flag: &str| {
            args.iter()
                .position(|a| a == flag)
                .map(|i| args[i + 1].as_str())
        };
        assert_eq!(after("--tools"), Some(""));
        assert_eq!(after("--setting-sources"), Some(""));
        assert!(args.iter().any(|a| a == "--strict-mcp-config"));
    }

    #[test]
    fn an_interactive_child_has_no_print_flags_and_gets_its_hook_settings() {
        let mut spec = Spec {
            kind: ChildKind::Interactive,
            bin: "claude".into(),
            session_id: "u1".into(),
            fork_of: None,
            settings: Settings::default(),
            key: "k".into(),
            state_dir: PathBuf::from("/state/u1"),
            socket: PathBuf::from("/run/s.sock"),
            input: InteractiveInput::Auto,
        };
        spec.settings.extra.max_turns = Some(3);
        spec.settings.model = Some("haiku".into());
        let line = spec.interactive_args(false).join(" ");
        assert!(line.starts_with("--session-id u1 "), "{line}");
        assert!(
            line.contains("--settings /state/u1/settings.json"),
            "{line}"
        );
        assert!(line.contains("--debug-file /state/u1/debug.log"), "{line}");
        assert!(line.contains("--model haiku"), "{line}");
        for f in [
            "-p",
            "--max-turns",
            "--permission-prompt-tool",
            "stream-json",
        ] {
            assert!(!spec.interactive_args(true).iter().any(|a| a == f), "{f}");
        }
        assert!(spec
            .interactive_args(true)
            .join(" ")
            .starts_with("--resume u1"));
        // The channel: our server as a development channel, unless prompts are typed.
        assert!(
            line.contains("--mcp-config /state/u1/channel.json --dangerously-load-development-channels server:claude-supervisord"),
            "{line}"
        );
        let server = &spec.channel_config()["mcpServers"]["claude-supervisord"];
        assert_eq!(
            server["args"],
            serde_json::json!([
                "sup",
                "channel",
                "--socket",
                "/run/s.sock",
                "--key",
                "k",
                "--session-id",
                "u1"
            ])
        );
        spec.input = InteractiveInput::Typing;
        let line = spec.interactive_args(false).join(" ");
        assert!(!line.contains("channel"), "{line}");
    }
}
