//! Team memory (`/v1/share`): which projects claude-memd shares with the team, and how the
//! sharing goes.

use serde::{Deserialize, Serialize};

/// `POST /v1/share` body: share a project or stop sharing it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareRequest {
    /// A directory inside the project (its git root is the project).
    pub project: String,
    /// `true`: share it; `false`: stop.
    pub enabled: bool,
}

/// One shared project.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SharedProject {
    /// The local project key (git root).
    pub project: String,
    /// Its portable identity: the normalized `origin` remote (`github.com/o/r`).
    pub portable: String,
    /// When sharing was switched on (RFC 3339 UTC).
    pub enabled_at: String,
    /// Records of it waiting to be published.
    pub pending: i64,
    /// Teammates' records of it stored here.
    pub team_records: i64,
}

/// `GET /v1/share` and `POST /v1/share` answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShareStatus {
    /// Whether a broker, team and secret are configured (else nothing is sent or received).
    pub configured: bool,
    /// The connection and counters (team, member key, connected, published, received, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker: Option<serde_json::Value>,
    /// The shared projects (the one asked about, with `?project=`).
    pub projects: Vec<SharedProject>,
}
