//! claude-supervisord's API: sessions keyed by a caller-chosen key, each backed by a
//! long-lived Claude Code process.
//!
//! - `POST /v1/sessions/{key}/ask` [`AskRequest`] → [`AskResult`] (or SSE with
//!   `Accept: text/event-stream`: every stream-json line as `event: message`, then
//!   `event: result` with the [`AskResult`], or `event: error` with an [`ApiError`])
//! - `POST /v1/sessions/{key}/interrupt` → [`InterruptResult`]
//! - `GET /v1/sessions` → [`SessionList`]; `GET /v1/sessions/{key}` → [`SessionInfo`]
//! - `DELETE /v1/sessions/{key}[?forget=true]` → [`StopResult`]
//! - `PUT /v1/sessions/{key}` [`SessionOptions`] → [`SessionInfo`] (creates or changes)
//! - `POST /v1/sessions/{key}/start` → [`SessionInfo`] (prewarm: spawn the process now)
//! - `POST /v1/sessions/{key}/fork` [`ForkRequest`] → [`SessionInfo`] of the new session
//! - `GET /v1/sessions/{key}/permissions`, `POST /v1/sessions/{key}/permissions/{id}`
//!   (see [`PermissionRequest`]); an ask's SSE stream also carries `event: permission`
//! - `GET /v1/status` → [`SupervisorStatus`]; `GET /v1/events` → SSE of [`LifecycleEvent`]
//! - `GET /v1/fleet` → [`FleetView`] (with `[supervisor] broker_url`; 404 without)
//! - interactive sessions: `GET /v1/sessions/{key}/screen` → [`SessionScreen`],
//!   `GET /v1/sessions/{key}/attach` (an upgraded connection, see [`ATTACH_PROTOCOL`]),
//!   `POST /v1/sessions/{key}/stop-hook` (the session's own Stop hook calls back),
//!   `GET /v1/sessions/{key}/channel` and `POST …/channel/reply` (the supervisor's channel
//!   server, see [`CHANNEL_SERVER`])

mod channel;
mod fleet;
mod interactive;
mod options;
mod permissions;

pub use channel::*;
pub use fleet::*;
pub use interactive::*;
pub use options::*;
pub use permissions::*;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Longest prompt accepted, in bytes.
pub const MAX_PROMPT_BYTES: usize = 1 << 20;

/// Longest session key, in bytes.
pub const MAX_KEY_BYTES: usize = 200;

/// Whether `key` is a valid session key: 1–200 bytes of ASCII letters, digits and
/// `. _ - : @ +` (so it fits in a URL path segment unescaped, e.g. `agent::chat`).
pub fn valid_session_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_KEY_BYTES
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_:@+".contains(&b))
}

/// `POST /v1/sessions/{key}/ask`: a prompt, and any [`SessionOptions`] (which apply to the
/// session from now on, as `PUT /v1/sessions/{key}` would). Unknown fields are refused.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AskRequest {
    /// The user turn (may be empty when `content` holds it).
    pub prompt: String,
    /// Content blocks sent after `prompt`'s text, as the Messages API takes them: `{"type":
    /// "text", "text"}` and `{"type": "image", "source": {"type": "base64", "media_type":
    /// "image/png"|"image/jpeg"|"image/gif"|"image/webp", "data"}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Vec<Value>>,
    /// Give up on this turn after this long (counted from when it starts, after any turn
    /// queued before it); the default is `[supervisor] turn_timeout_secs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Session options; absent fields keep the session's values.
    #[serde(flatten)]
    pub options: SessionOptions,
}

impl<'de> Deserialize<'de> for AskRequest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        // By hand: `flatten` would let misspelt option names through unnoticed.
        let mut m = serde_json::Map::<String, Value>::deserialize(d)?;
        let content = match m.remove("content") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                Vec::<Value>::deserialize(v)
                    .map_err(|e| D::Error::custom(format!("content: {e}")))?,
            ),
        };
        let prompt = match (m.remove("prompt"), &content) {
            (Some(p), _) => {
                String::deserialize(p).map_err(|e| D::Error::custom(format!("prompt: {e}")))?
            }
            (None, Some(_)) => String::new(),
            (None, None) => return Err(D::Error::missing_field("prompt")),
        };
        let timeout_ms = match m.remove("timeout_ms") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                u64::deserialize(v).map_err(|e| D::Error::custom(format!("timeout_ms: {e}")))?,
            ),
        };
        let options = SessionOptions::deserialize(Value::Object(m)).map_err(D::Error::custom)?;
        Ok(AskRequest {
            prompt,
            content,
            timeout_ms,
            options,
        })
    }
}

/// The end of a turn, as Claude Code reported it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AskResult {
    /// The session key.
    pub key: String,
    /// The Claude session uuid.
    pub session_id: String,
    /// Final text.
    pub result: Option<String>,
    /// Whether the turn failed (e.g. interrupted: `subtype` `error_during_execution`).
    pub is_error: bool,
    /// `success`, `error_during_execution`, `error_max_turns`, …
    pub subtype: String,
    /// Cost of the Claude session so far (USD), as the CLI counts it.
    pub total_cost_usd: Option<f64>,
    /// Wall time of the turn inside Claude Code.
    pub duration_ms: Option<u64>,
    /// Model round trips in the turn.
    pub num_turns: Option<u64>,
    /// Token usage.
    pub usage: Option<Value>,
    /// Whether this turn paid for starting the process.
    pub cold: bool,
    /// Milliseconds from accepting the ask to the result, queueing and spawn included.
    pub elapsed_ms: u64,
    /// In a fleet (`[supervisor] broker_url`): the host the session ran on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// An error answer: `{"error": code, "message": text}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    /// Stable code: `bad_request`, `too_large`, `not_found`, `conflict`, `queue_full`, `session_failed`,
    /// `child_exited`, `spawn_failed`, `turn_timeout`, `stopped`, `shutting_down`, `internal`.
    pub error: String,
    /// For people.
    pub message: String,
}

/// `POST /v1/sessions/{key}/interrupt`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InterruptResult {
    /// Whether a turn was in flight and the interrupt was sent.
    pub interrupted: bool,
}

/// `DELETE /v1/sessions/{key}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StopResult {
    /// Whether a process was running and was stopped.
    pub stopped: bool,
    /// Whether the key → Claude session mapping was dropped (`?forget=true`).
    pub forgotten: bool,
}

/// One session: the persisted mapping plus the live process, if any.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// The caller's key.
    pub key: String,
    /// The Claude session uuid.
    pub session_id: String,
    /// The kind of child: `stream-json` (headless) or `interactive`.
    pub kind: String,
    /// Workspace.
    pub cwd: String,
    /// Model, if set.
    pub model: Option<String>,
    /// Permission mode, if set.
    pub permission_mode: Option<String>,
    /// Allowed tools.
    pub allowed_tools: Vec<String>,
    /// Whether the child runs isolated (no tools, MCP servers or settings).
    #[serde(default)]
    pub isolated: bool,
    /// Every option of the session (the fields above included).
    #[serde(default)]
    pub options: SessionOptions,
    /// Turns completed.
    pub turns: u64,
    /// Cost of the Claude session so far (USD).
    pub total_cost_usd: f64,
    /// When the mapping was created (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
    /// `idle` (no process), `starting`, `ready`, `busy`, `backoff`, `failed`, `stopping`.
    pub state: String,
    /// The process, while one runs.
    pub pid: Option<u32>,
    /// Turns waiting behind the one in flight.
    pub queued: usize,
    /// Crashes counted by the crash-loop breaker's window.
    pub recent_crashes: usize,
    /// Why the session failed (with the child's stderr tail), while `failed`.
    pub failure: Option<String>,
    /// How prompts go into its running interactive process: `channel` or `typing` (none
    /// before it is ready, and for headless sessions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
}

/// `GET /v1/sessions`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionList {
    /// Every known session, by key.
    pub sessions: Vec<SessionInfo>,
}

/// What happened to a child or session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A process was started.
    Spawned,
    /// It answered its handshake.
    Ready,
    /// It exited (expectedly or not).
    Exited,
    /// A restart after a crash was scheduled (`delay_ms`).
    RestartScheduled,
    /// Stopped after sitting idle.
    Reaped,
    /// Stopped to make room under `max_processes`.
    Evicted,
    /// The crash-loop breaker tripped; asks fail until the session is reset.
    Failed,
    /// Stopped on request or at shutdown.
    Stopped,
    /// A turn in flight was interrupted.
    Interrupted,
    /// A turn ran out of time.
    TurnTimeout,
    /// The child wrote a line that was skipped (not JSON, too long, malformed).
    BadOutput,
    /// Claude Code asked for permission and no rule decided: waiting for an answer.
    PermissionRequested,
    /// A permission prompt was answered (by a person, a rule or the timeout).
    PermissionDecided,
}

impl EventKind {
    /// The name used on the wire (`restart_scheduled`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Spawned => "spawned",
            EventKind::Ready => "ready",
            EventKind::Exited => "exited",
            EventKind::RestartScheduled => "restart_scheduled",
            EventKind::Reaped => "reaped",
            EventKind::Evicted => "evicted",
            EventKind::Failed => "failed",
            EventKind::Stopped => "stopped",
            EventKind::Interrupted => "interrupted",
            EventKind::TurnTimeout => "turn_timeout",
            EventKind::BadOutput => "bad_output",
            EventKind::PermissionRequested => "permission_requested",
            EventKind::PermissionDecided => "permission_decided",
        }
    }
}

/// One lifecycle event (`GET /v1/events`, and the ring in `GET /v1/status`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LifecycleEvent {
    /// Increasing number (the SSE `id`).
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// What happened.
    pub kind: EventKind,
    /// The session key.
    pub key: String,
    /// The process concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Details: exit status, delay, stderr tail, reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The permission prompt, for `permission_requested` and `permission_decided`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission: Option<Box<PermissionRequest>>,
}

/// A live child in [`SupervisorStatus`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChildInfo {
    /// Session key.
    pub key: String,
    /// Process id.
    pub pid: u32,
    /// Session state (`starting`, `ready`, `busy`, `stopping`).
    pub state: String,
    /// Milliseconds since it was spawned.
    pub age_ms: u64,
}

/// `GET /v1/status`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SupervisorStatus {
    /// Stable identity of this supervisor's state directory (a uuid kept in the database).
    pub daemon_id: String,
    /// Program version.
    pub version: String,
    /// Process id.
    pub pid: u32,
    /// `serving` or `draining`.
    pub state: String,
    /// The Claude Code binary used.
    pub claude_bin: String,
    /// Most processes alive at once.
    pub max_processes: usize,
    /// Live children.
    pub children: Vec<ChildInfo>,
    /// Recent lifecycle events, oldest first.
    pub recent_events: Vec<LifecycleEvent>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert!(valid_session_key("agent::chat"));
        assert!(valid_session_key("memd-observer:1234-abcd"));
        assert!(!valid_session_key(""));
        assert!(!valid_session_key("a/b"));
        assert!(!valid_session_key("a b"));
        assert!(!valid_session_key(&"k".repeat(201)));
    }

    #[test]
    fn event_names_match_the_wire() {
        for k in [
            EventKind::RestartScheduled,
            EventKind::BadOutput,
            EventKind::Ready,
        ] {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
    }

    #[test]
    fn ask_body_refuses_unknown_fields() {
        let ok: AskRequest = serde_json::from_str(r#"{"prompt":"hi","timeout_ms":5}"#).unwrap();
        assert_eq!(ok.timeout_ms, Some(5));
        assert!(serde_json::from_str::<AskRequest>(r#"{"prompt":"hi","promt":1}"#).is_err());
    }
}
