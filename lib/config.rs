//! The configuration file (`config.toml`) and its environment overrides.
//!
//! Unknown keys are errors, not silently ignored: a typo like `provder = "claude"` would
//! otherwise leave a user wondering why nothing changed. Errors name the file, the line and
//! the key (or the environment variable) so they fit on one line of `journalctl`.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Prefix of environment variables that override configuration keys:
/// `CLAUDE_DAEMONS_<TABLE>_<KEY>` in upper case, e.g. `CLAUDE_DAEMONS_MESH_BROKER_URL`.
pub const ENV_PREFIX: &str = "CLAUDE_DAEMONS_";

/// The whole configuration file.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[memory]`: claude-memd.
    pub memory: MemoryConfig,
    /// `[supervisor]`: claude-supervisord.
    pub supervisor: SupervisorConfig,
    /// `[mesh]`: claude-meshd.
    pub mesh: MeshConfig,
}

/// How observations are written.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// The deterministic, network-free builder (the default).
    #[default]
    Local,
    /// A Claude observer session run by claude-supervisord.
    Claude,
}

/// `[memory]` table.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MemoryConfig {
    /// Which observation provider to use.
    pub provider: Provider,
    /// Model for the Claude provider.
    pub model: String,
    /// Seconds without work before claude-memd exits (0 = never).
    pub idle_timeout_secs: u64,
    /// Loopback TCP port of the web viewer (0 = no TCP listener when self-bound).
    pub viewer_port: u16,
    /// Longest claude-hook waits for claude-memd on a tool or prompt event, in ms.
    pub hook_timeout_ms: u64,
    /// Longest claude-hook waits for the SessionStart context, in ms.
    pub context_timeout_ms: u64,
    /// Token budget of the SessionStart context (estimated as characters / 4).
    pub context_tokens: usize,
    /// Token budget of what claude-hook adds before a Read or Edit: the project's
    /// observations naming that file, once per file per session (0 = off).
    pub file_context_tokens: usize,
    /// Token budget of the past records added to a prompt that matches them (0 = off).
    pub prompt_context_tokens: usize,
    /// Most past records added to one prompt.
    pub prompt_context_records: usize,
    /// Tools whose events are not stored (exact names).
    pub skip_tools: Vec<String>,
    /// Projects (git root paths) whose events are not stored: globs where `*` matches any
    /// run of characters and `?` one. A `.no-claude-memory` file in the root does the same.
    pub exclude_projects: Vec<String>,
    /// Attempts at turning an event into observations before it is marked failed.
    pub max_attempts: u32,
    /// Claude observer: tokens one user session's observer may spend (0 = no cap).
    pub observer_session_tokens: u64,
    /// Claude observer: tokens all observers may spend per UTC day (0 = no cap).
    pub observer_day_tokens: u64,
    /// Claude observer: USD one user session's observer may spend (0 = no cap).
    pub observer_session_usd: f64,
    /// Claude observer: USD all observers may spend per UTC day (0 = no cap).
    pub observer_day_usd: f64,
    /// Claude observer: most observer processes alive at once (the least recently used idle
    /// one is stopped to make room; it resumes on its next event).
    pub max_observers: usize,
    /// Claude observer: seconds an observer process may sit idle before it is stopped.
    pub observer_idle_reap_secs: u64,
    /// Claude observer: most queued tool events of a session sent as one message.
    pub observer_batch: usize,
    /// Claude observer: re-asks after an invalid answer before the local builder stands in.
    pub observer_parse_retries: u32,
    /// Claude observer: seconds between tries of events the local builder stood in for
    /// while the supervisor or Claude was unavailable.
    pub observer_retry_secs: u64,
    /// Claude observer: longest one observer turn may take, in ms.
    pub observer_timeout_ms: u64,
    /// Most events the hook spool (`$STATE/spool/`) holds; beyond it events are lost (and
    /// counted).
    pub spool_max_events: usize,
    /// Most megabytes (MiB) of payload the hook spool holds.
    pub spool_max_mb: u64,
    /// MiB of free space claude-memd leaves on the state directory's filesystem: below it
    /// hooks are refused (507) so that they go to the spool instead of filling the disk.
    pub disk_reserve_mb: u64,
    /// `[memory.share]`: team memory through NATS JetStream (opt-in per project).
    pub share: ShareConfig,
}

/// `[memory.share]` table: team memory. Nothing is shared until a project is enabled
/// (`claudectl mem share enable`); unset keys fall back to `[mesh]`'s.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ShareConfig {
    /// `nats://host:port` of the team's broker (default: `[mesh] broker_url`).
    pub broker_url: Option<String>,
    /// The team's name: the stream is `MEMORY_<team>` (default: `[mesh] mesh`).
    pub team: Option<String>,
    /// The team's shared secret: records are encrypted with a key derived from it
    /// (default: `[mesh] mesh_secret`).
    pub team_secret: Option<String>,
    /// Whether prompts are shared too (observations and summaries always are).
    pub prompts: bool,
    /// Days the broker keeps a record (the stream's max age): how long a teammate may be
    /// away and still catch up.
    pub max_age_days: u64,
    /// MiB the team's stream may hold; the oldest records go first beyond it.
    pub max_mb: u64,
}

impl Default for ShareConfig {
    fn default() -> Self {
        ShareConfig {
            broker_url: None,
            team: None,
            team_secret: None,
            prompts: false,
            max_age_days: 90,
            max_mb: 1024,
        }
    }
}

impl Config {
    /// The team memory settings with `[mesh]`'s filled in: `(broker_url, team, secret)`,
    /// or `None` when any of them is missing (sharing is then off).
    pub fn share_target(&self) -> Option<(String, String, String)> {
        let s = &self.memory.share;
        let url = s
            .broker_url
            .clone()
            .or_else(|| self.mesh.broker_url.clone())?;
        let team = s.team.clone().unwrap_or_else(|| self.mesh.mesh.clone());
        let secret = s
            .team_secret
            .clone()
            .or_else(|| self.mesh.mesh_secret.clone())?;
        Some((url, team, secret))
    }
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            provider: Provider::Local,
            model: "haiku".into(),
            idle_timeout_secs: 300,
            viewer_port: 37777,
            hook_timeout_ms: 300,
            context_timeout_ms: 2000,
            context_tokens: 2000,
            file_context_tokens: 300,
            prompt_context_tokens: 400,
            prompt_context_records: 3,
            skip_tools: [
                "TodoWrite",
                "ListMcpResourcesTool",
                "SlashCommand",
                "Skill",
                "AskUserQuestion",
                "ExitPlanMode",
            ]
            .map(String::from)
            .to_vec(),
            exclude_projects: Vec::new(),
            max_attempts: 3,
            observer_session_tokens: 500_000,
            observer_day_tokens: 5_000_000,
            observer_session_usd: 0.5,
            observer_day_usd: 5.0,
            max_observers: 4,
            observer_idle_reap_secs: 300,
            observer_batch: 16,
            observer_parse_retries: 2,
            observer_retry_secs: 60,
            observer_timeout_ms: 120_000,
            spool_max_events: 10_000,
            spool_max_mb: 256,
            disk_reserve_mb: 32,
            share: ShareConfig::default(),
        }
    }
}

pub use supervisor::{AttachedAsks, InteractiveInput, SupervisorConfig, WhenFull};

/// What claude-meshd does when the host fingerprint changed.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum HostPolicy {
    /// Refuse to start (exit 4) until `claudectl mesh accept-host`.
    #[default]
    Refuse,
    /// Start, with a warning in the journal.
    Warn,
    /// Start silently.
    Allow,
}

/// `[mesh]` table.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MeshConfig {
    /// `nats://host:port`; absent means local mode (this machine only).
    pub broker_url: Option<String>,
    /// Name of the mesh (subject namespace on the broker).
    pub mesh: String,
    /// Name other peers see; defaults to the host name.
    pub display_name: Option<String>,
    /// Policy when the host fingerprint changed.
    pub host_policy: HostPolicy,
    /// Seconds without work before claude-meshd exits (0 = never: it holds the broker
    /// connection and presence).
    pub idle_timeout_secs: u64,
    /// Shared secret of the mesh: group, topic and broadcast messages are encrypted with a
    /// key derived from it. Required in broker mode (claude-meshd refuses to start without).
    pub mesh_secret: Option<String>,
    /// Allow-list of member keys (hex ed25519 public keys): when not empty, keys outside it
    /// neither appear as peers nor get their messages stored, and sends to them are refused.
    pub members: Vec<String>,
    /// Seconds between presence heartbeats and broker pings; a peer is gone after three.
    pub heartbeat_secs: u64,
    /// Loopback TCP port for the API with a bearer token (0 = Unix socket only).
    pub tcp_port: u16,
    /// Longest claude-hook waits for claude-meshd (session status, unread messages), in ms.
    pub hook_timeout_ms: u64,
    /// Seconds a message pushed into a session's channel waits for the session's transcript
    /// to show it; a hook after that delivers it unless the transcript does.
    pub push_confirm_secs: u64,
    /// Who answers the permission requests of sessions started by `claudectl launch`: member
    /// or session names, member keys, `@group`s. Empty: requests are not relayed.
    pub approvers: Vec<String>,
}

impl Default for MeshConfig {
    fn default() -> Self {
        MeshConfig {
            broker_url: None,
            mesh: "default".into(),
            display_name: None,
            host_policy: HostPolicy::Refuse,
            idle_timeout_secs: 0,
            mesh_secret: None,
            members: Vec::new(),
            heartbeat_secs: 10,
            tcp_port: 0,
            hook_timeout_ms: 300,
            push_confirm_secs: 30,
            approvers: Vec::new(),
        }
    }
}

/// A configuration that could not be used. The message is one line, naming where.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Syntax or type error in the file.
    #[error("{path}:{line}:{column}: {key}{message}")]
    File {
        /// The config file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// `key: ` prefix naming the offending key, or empty for syntax errors.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A value of the right type but outside what the daemons can use.
    #[error("{path}: [{table}] {key}: {message} (set in the file or by {var})")]
    Range {
        /// The config file.
        path: PathBuf,
        /// `memory`, `supervisor` or `mesh`.
        table: &'static str,
        /// The key.
        key: &'static str,
        /// The environment variable that overrides it.
        var: String,
        /// The allowed range, and the value found.
        message: String,
    },
    /// An environment override names no key, or holds a value of the wrong type.
    #[error("environment {var}: {message}")]
    Env {
        /// The variable.
        var: String,
        /// What is wrong.
        message: String,
    },
}

impl Config {
    /// Load `path` (a missing file means all defaults), then apply the process environment.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_with_env(path, std::env::vars())
    }

    /// Load `path`, then apply overrides from `env` (testable without touching the process).
    pub fn load_with_env(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let config = match std::fs::read_to_string(path) {
            Ok(text) => Config::parse(path, &text)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Config::default(),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.into(),
                    source,
                })
            }
        };
        let range_error = |(table, key, message): ranges::OutOfRange| ConfigError::Range {
            path: path.into(),
            table,
            key,
            var: format!(
                "{ENV_PREFIX}{}_{}",
                table.to_uppercase().replace(".", "_"),
                key.to_uppercase()
            ),
            message,
        };
        // Before the overrides too: the file may hold what they cannot carry (`nan`). The
        // rest only after them, so that a variable can correct a value of the file.
        config.check_budgets().map_err(range_error)?;
        let config = config.with_env(env)?;
        config.check_ranges().map_err(range_error)?;
        Ok(config)
    }

    /// Parse the text of a config file; `path` is only used in error messages.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let de = toml::Deserializer::new(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            let (line, column) = inner
                .span()
                .map(|s| line_col(text, s.start))
                .unwrap_or((1, 1));
            ConfigError::File {
                path: path.into(),
                line,
                column,
                key: if key == "." || key.is_empty() {
                    String::new()
                } else {
                    format!("{key}: ")
                },
                message: inner.message().trim().to_string(),
            }
        })
    }

    /// Apply `CLAUDE_DAEMONS_<TABLE>_<KEY>` overrides. Variables for other purposes
    /// (`CLAUDE_DAEMONS_STATE_DIR`, …) are left alone; a variable naming a table of ours
    /// but no key of it is an error, so typos surface.
    pub fn with_env(
        self,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut tree = serde_json::to_value(&self).expect("config serializes");
        let mut touched = Vec::new();
        for (var, raw) in env {
            let Some(rest) = var.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let Some((table, key)) = ["MEMORY", "SUPERVISOR", "MESH"]
                .iter()
                .find_map(|t| Some((*t, rest.strip_prefix(t)?.strip_prefix('_')?)))
            else {
                continue;
            };
            let (table, key) = (table.to_lowercase(), key.to_lowercase());
            let slot = tree
                .get_mut(&table)
                .and_then(|t| nested_slot(t, &key))
                .ok_or_else(|| ConfigError::Env {
                    var: var.clone(),
                    message: format!("[{table}] has no key `{key}`"),
                })?;
            *slot = match slot {
                serde_json::Value::Number(n) if n.is_f64() => raw
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map(serde_json::Value::Number)
                    .ok_or_else(|| ConfigError::Env {
                        var: var.clone(),
                        message: format!("expected a number, got {raw:?}"),
                    })?,
                serde_json::Value::Number(_) => {
                    raw.trim()
                        .parse::<u64>()
                        .map(Into::into)
                        .map_err(|_| ConfigError::Env {
                            var: var.clone(),
                            message: format!("expected a whole number, got {raw:?}"),
                        })?
                }
                serde_json::Value::Bool(_) => match raw.trim() {
                    "1" | "true" | "yes" => true.into(),
                    "0" | "false" | "no" => false.into(),
                    _ => {
                        return Err(ConfigError::Env {
                            var,
                            message: format!("expected true or false, got {raw:?}"),
                        })
                    }
                },
                // Lists: comma-separated, an empty value is an empty list.
                serde_json::Value::Array(_) => raw
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| serde_json::Value::String(s.into()))
                    .collect(),
                // Strings and unset optional strings; an empty value unsets an option.
                serde_json::Value::Null if raw.is_empty() => serde_json::Value::Null,
                _ => raw.clone().into(),
            };
            touched.push(var);
        }
        serde_path_to_error::deserialize(tree).map_err(|e| {
            let key = e.path().to_string();
            let var = touched
                .iter()
                .find(|v| v.eq_ignore_ascii_case(&format!("{ENV_PREFIX}{}", key.replace('.', "_"))))
                .cloned()
                .unwrap_or_else(|| format!("{ENV_PREFIX}*"));
            ConfigError::Env {
                var,
                message: format!("{key}: {}", e.into_inner()),
            }
        })
    }
}

impl Config {
    /// The configured idle timeout of `daemon` in seconds (0 = never). A supervisor in a
    /// fleet never exits on its own: other hosts send it asks, and its leases would lapse.
    pub fn idle_timeout_secs(&self, daemon: crate::paths::Daemon) -> u64 {
        match daemon {
            crate::paths::Daemon::Memd => self.memory.idle_timeout_secs,
            crate::paths::Daemon::Supervisord if self.supervisor.broker_url.is_some() => 0,
            crate::paths::Daemon::Supervisord => self.supervisor.idle_timeout_secs,
            crate::paths::Daemon::Meshd => self.mesh.idle_timeout_secs,
        }
    }
}

mod ranges;
mod supervisor;

/// The value of `key` in `table`, or in one of its sub-tables (`share_broker_url` is
/// `[memory.share] broker_url`).
fn nested_slot<'a>(
    table: &'a mut serde_json::Value,
    key: &str,
) -> Option<&'a mut serde_json::Value> {
    let obj = table.as_object_mut()?;
    if obj.contains_key(key) {
        return obj.get_mut(key);
    }
    let (sub, rest) = obj
        .iter()
        .filter(|(k, v)| v.is_object() && key.starts_with(&format!("{k}_")))
        .map(|(k, _)| (k.clone(), key[k.len() + 1..].to_string()))
        .next()?;
    obj.get_mut(&sub)?.as_object_mut()?.get_mut(&rest)
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

#[cfg(test)]
mod tests;
