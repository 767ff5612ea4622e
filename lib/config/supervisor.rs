//! `[supervisor]`: claude-supervisord's pool, its API and, with a broker, its fleet.

use serde::{Deserialize, Serialize};

/// `[supervisor]` table.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SupervisorConfig {
    /// The Claude Code binary (a name on PATH or a path).
    pub claude_bin: String,
    /// Most Claude processes alive at once.
    pub max_processes: usize,
    /// Seconds a session's process may sit idle before it is reaped (0 = never).
    pub idle_reap_secs: u64,
    /// Seconds without children or requests before claude-supervisord exits (0 = never;
    /// always never with `broker_url`).
    pub idle_timeout_secs: u64,
    /// Turns a session may hold waiting behind the one in flight (more are refused, 429).
    pub queue_limit: usize,
    /// Default limit of one turn, in seconds (an ask's `timeout_ms` overrides it).
    pub turn_timeout_secs: u64,
    /// Seconds a new process has to answer its handshake before it counts as a crash.
    pub spawn_timeout_secs: u64,
    /// First restart delay after a crash, in milliseconds; doubles per crash.
    pub restart_base_ms: u64,
    /// Longest restart delay, in milliseconds.
    pub restart_max_ms: u64,
    /// Crashes within `crash_window_secs` that mark a session failed (crash-loop breaker).
    pub crash_limit: usize,
    /// Window of the crash-loop breaker, in seconds.
    pub crash_window_secs: u64,
    /// Each of the two waits of a graceful stop (after closing stdin, after SIGTERM), in
    /// milliseconds.
    pub stop_grace_ms: u64,
    /// Seconds a permission prompt waits for an answer before it is denied (Claude reads
    /// that nobody answered).
    pub permission_timeout_secs: u64,
    /// Loopback TCP port for the API (the OpenAI-compatible `/v1/chat/completions` among
    /// it), bearer token in `$STATE/api-token`; 0 = none.
    pub tcp_port: u16,
    /// `nats://host:port` or `tls://host:port` of the fleet's broker; absent means this
    /// machine's pool only.
    pub broker_url: Option<String>,
    /// Name of the fleet (subject and bucket namespace on the broker).
    pub fleet: String,
    /// This host's name in the fleet; defaults to the host name.
    pub host: Option<String>,
    /// Broker credentials: a token…
    pub broker_token: Option<String>,
    /// …or an NKey seed (`SU…`)…
    pub broker_nkey_seed: Option<String>,
    /// …or a `.creds` file (JWT and seed), path.
    pub broker_creds_file: Option<String>,
    /// PEM file of the CA that signed a `tls://` broker's certificate (default: the
    /// system's roots).
    pub broker_ca_file: Option<String>,
    /// Seconds a host holds a session key without renewing it; after that another host
    /// may take the session over.
    pub lease_secs: u64,
    /// A new session when no host of the fleet has a free process slot: `refuse` (429) or
    /// `wait` for one (up to the turn's timeout).
    pub when_full: WhenFull,
    /// Workspace paths of other hosts and what they are here (`"/home/ann/src" =
    /// "/srv/src"`): a session taken over from another host keeps its conversation in the
    /// mapped directory. In the environment: comma-separated `FROM=TO` pairs.
    #[serde(deserialize_with = "path_map")]
    pub workspace_map: std::collections::BTreeMap<String, String>,
    /// What an ask does while a person types in the interactive session
    /// (`claudectl sup attach`): wait until they detach, or be refused (409).
    pub attached_asks: AttachedAsks,
    /// How prompts go into an interactive session: through the supervisor's channel when
    /// Claude Code loads it, else typed (`auto`); always the channel (`channel`: a child
    /// that does not load it fails to start); always typed (`typing`: no channel flags).
    pub interactive_input: InteractiveInput,
}

/// A table of paths, or (from the environment) comma-separated `FROM=TO` pairs.
fn path_map<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<std::collections::BTreeMap<String, String>, D::Error> {
    use serde::de::Error;
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Map {
        Table(std::collections::BTreeMap<String, String>),
        Pairs(String),
    }
    match Map::deserialize(d)? {
        Map::Table(t) => Ok(t),
        Map::Pairs(s) => s
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((from, to)) => Ok((from.trim().to_string(), to.trim().to_string())),
                None => Err(D::Error::custom(format!(
                    "{p:?} is not FROM=TO (pairs are separated by commas)"
                ))),
            })
            .collect(),
    }
}

/// What a fleet does with a new session when every host is full.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum WhenFull {
    /// Answer 429 (`fleet_full`) at once.
    #[default]
    Refuse,
    /// Try again until a host has room or the turn's timeout passes.
    Wait,
}

/// What an ask does while a person is attached to an interactive session as its typist.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AttachedAsks {
    /// Wait (within the ask's timeout) until the person detaches.
    #[default]
    Wait,
    /// Answer 409 `conflict` at once.
    Refuse,
}

/// How prompts go into an interactive session (`[supervisor] interactive_input`).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum InteractiveInput {
    /// The channel when Claude Code registers it at start, else typing.
    #[default]
    Auto,
    /// The channel only: a child that does not register it fails to start.
    Channel,
    /// Typing only (bracketed paste, then Enter); the channel is not offered.
    Typing,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        SupervisorConfig {
            claude_bin: "claude".into(),
            max_processes: 16,
            idle_reap_secs: 3600,
            idle_timeout_secs: 300,
            queue_limit: 16,
            turn_timeout_secs: 300,
            spawn_timeout_secs: 30,
            restart_base_ms: 1000,
            restart_max_ms: 60_000,
            crash_limit: 5,
            crash_window_secs: 60,
            stop_grace_ms: 5000,
            permission_timeout_secs: 300,
            tcp_port: 0,
            broker_url: None,
            fleet: "default".into(),
            host: None,
            broker_token: None,
            broker_nkey_seed: None,
            broker_creds_file: None,
            broker_ca_file: None,
            lease_secs: 15,
            when_full: WhenFull::Refuse,
            workspace_map: std::collections::BTreeMap::new(),
            attached_asks: AttachedAsks::Wait,
            interactive_input: InteractiveInput::Auto,
        }
    }
}
