//! What hosts of a fleet say to each other on the broker: subjects and message bodies.
//!
//! Every host serves `csup.<fleet>.place` (queue group: one host answers) and, for itself,
//! `csup.<fleet>.h.<host>.{place,ask,interrupt}`. An ask names a reply subject of the
//! asker's (a fresh inbox per request) on which the owner publishes the turn's [`Event`]s
//! in order, ending with `result` or `error`.

use crate::turn::TurnError;
use claude_daemons::api::supervisor::{ApiError, AskResult, PermissionRequest};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The service name every supervisord of every fleet registers under.
pub const SERVICE: &str = "claude-supervisor";

/// The subject prefix of fleet `fleet`.
pub fn fleet_prefix(fleet: &str) -> String {
    format!("csup.{fleet}")
}

/// The subject prefix of one host.
pub fn host_prefix(fleet: &str, host: &str) -> String {
    format!("csup.{fleet}.h.{host}")
}

/// `place`: claim a session key on the host that answers, if it has room.
#[derive(Debug, Serialize, Deserialize)]
pub struct PlaceCall {
    pub key: String,
}

/// The answer to `place`: the host the key lives on now, or why not here.
#[derive(Debug, Serialize, Deserialize)]
pub struct PlaceReply {
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub declined: Option<String>,
}

/// `ask`: run a turn of `key` and publish its events on `reply`.
#[derive(Debug, Serialize, Deserialize)]
pub struct AskCall {
    pub key: String,
    /// The ask's body as the local API took it.
    pub ask: Value,
    pub stream: bool,
    pub reply: String,
}

/// The answer to `ask`, `interrupt` and `http`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallReply {
    /// The turn is queued on `host`; events follow on the reply subject.
    Accepted {
        host: String,
    },
    Interrupted {
        interrupted: bool,
    },
    /// The answer of this host's API to a forwarded request.
    Http {
        status: u16,
        body: String,
    },
    Refused(ApiError),
}

/// `http`: a request about a session this host holds, answered by its own API.
#[derive(Debug, Serialize, Deserialize)]
pub struct HttpCall {
    pub method: String,
    /// Path and query.
    pub path: String,
    pub body: String,
}

/// `interrupt`: the turn in flight of `key`.
#[derive(Debug, Serialize, Deserialize)]
pub struct InterruptCall {
    pub key: String,
}

/// One event of a turn, on the asker's reply subject.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// A stream-json line of the child.
    Line(String),
    Permission(Box<PermissionRequest>),
    Result(Box<AskResult>),
    Error(ApiError),
    /// Nothing new, the turn goes on (the asker gives up on a host that stays silent).
    Alive,
}

/// Every error code of the API, so that one that travelled as text keeps its status.
const CODES: &[&str] = &[
    "bad_request",
    "too_large",
    "not_found",
    "conflict",
    "queue_full",
    "fleet_full",
    "fleet_unavailable",
    "session_failed",
    "child_exited",
    "spawn_failed",
    "child_output",
    "turn_timeout",
    "stopped",
    "shutting_down",
    "internal",
];

/// A [`TurnError`] from an [`ApiError`] received from another host.
pub fn turn_error(e: ApiError) -> TurnError {
    let code = CODES
        .iter()
        .find(|c| **c == e.error)
        .copied()
        .unwrap_or("internal");
    TurnError::new(code, e.message)
}

/// An [`ApiError`] to send.
pub fn api_error(e: &TurnError) -> ApiError {
    ApiError {
        error: e.code.into(),
        message: e.message.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_survive_the_trip() {
        for code in CODES {
            let e = turn_error(api_error(&TurnError::new(code, "m")));
            assert_eq!(e.code, *code);
        }
        let e = turn_error(ApiError {
            error: "from_a_newer_host".into(),
            message: "m".into(),
        });
        assert_eq!(e.code, "internal");
        let ev: Event =
            serde_json::from_str(&serde_json::to_string(&Event::Alive).unwrap()).unwrap();
        assert!(matches!(ev, Event::Alive));
    }
}
