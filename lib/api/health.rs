//! `GET /v1/health` and `GET /v1/version`, served by every daemon.

use serde::{Deserialize, Serialize};

/// The API generation served under `/v1/`.
pub const API_VERSION: &str = "v1";

/// Whether the daemon can do its job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// Everything answers.
    Ok,
    /// Serving, but a check failed (`reason` says which).
    Degraded,
}

/// `GET /v1/health`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// ok or degraded.
    pub status: HealthStatus,
    /// Why degraded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Program name, e.g. `claude-memd`.
    pub program: String,
    /// Release version.
    pub version: String,
    /// Process id.
    pub pid: u32,
    /// Milliseconds since the process started.
    pub uptime_ms: u64,
    /// `systemd`, `launchd` or `self-bound`.
    pub activation: String,
    /// The Unix socket the daemon serves on.
    pub socket: Option<String>,
    /// Every listener, Unix and TCP.
    pub listeners: Vec<String>,
    /// The database file.
    pub db: Option<String>,
    /// Open connections, streams, background work and children keeping the daemon awake
    /// (this request included).
    pub busy: usize,
    /// Idle timeout in seconds; `None` means the daemon never exits on its own.
    pub idle_timeout_secs: Option<u64>,
    /// Daemon-specific figures (queue depth, children, broker state, …).
    #[serde(flatten)]
    pub details: serde_json::Map<String, serde_json::Value>,
}

/// `GET /v1/version`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// Program name.
    pub program: String,
    /// Release version.
    pub version: String,
    /// API generation (`v1`).
    pub api: String,
}
