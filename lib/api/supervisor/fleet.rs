//! `GET /v1/fleet`: the supervisors sharing a broker, and where each session lives.

use serde::{Deserialize, Serialize};

/// The fleet as this host sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FleetView {
    /// The fleet's name (`[supervisor] fleet`).
    pub fleet: String,
    /// This host's name in it.
    pub host: String,
    /// Whether this host is connected to the broker now.
    pub connected: bool,
    /// The hosts that answered discovery (`$SRV.STATS.claude-supervisor`) within 500 ms.
    pub hosts: Vec<FleetHost>,
    /// Every placed session key.
    pub sessions: Vec<FleetSession>,
    /// Why the sessions could not be listed, if they could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One supervisor's capacity and load (also the `data` of its service stats).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FleetHost {
    /// The fleet it belongs to.
    pub fleet: String,
    /// Its name.
    pub host: String,
    /// Its claude-supervisord version.
    pub version: String,
    /// `[supervisor] max_processes` there.
    pub max_processes: usize,
    /// Claude processes alive there.
    pub children: usize,
    /// Sessions with a turn in flight or queued there.
    pub busy: usize,
    /// Session keys it holds.
    pub sessions: usize,
    /// Process slots neither taken nor promised to a session just placed there.
    pub free: usize,
}

/// Where one session key lives.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FleetSession {
    /// The session key.
    pub key: String,
    /// The host holding it.
    pub host: String,
    /// Milliseconds left of the holder's lease (0: expired; the next ask may move it).
    pub lease_ms: u64,
    /// Whether the lease still runs.
    pub live: bool,
    /// Revision of the placement entry (every renewal and move raises it).
    pub revision: u64,
    /// Object name of the transcript last stored, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript: Option<String>,
}
