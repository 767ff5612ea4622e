//! claude-meshd's API: the send body, inbox items, peers, profile, outbox and the error names
//! of the idempotency table. Shared by the daemon, `claude-hook` and `claudectl`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Header that names a send's `client_message_id`; it wins over the body field.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Largest message body in bytes (UTF-8). Larger sends get 413 `body_too_large`.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Largest whole request accepted by `POST /v1/send`.
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;

/// Most sends in one batch (`POST /v1/send` with a JSON array).
pub const MAX_BATCH_ITEMS: usize = 1000;

/// Largest whole batch request (each item still within [`MAX_BODY_BYTES`]).
pub const MAX_BATCH_REQUEST_BYTES: usize = 2 * 1024 * 1024;

/// Largest `limit` of `GET /v1/inbox` and `GET /v1/outbox`.
pub const MAX_PAGE: usize = 1000;

/// How soon a message wants the recipient's attention. A busy (working) session receives only
/// `now` messages until it is idle again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Interrupts a working session.
    Now,
    /// Delivered when the session is next idle (the default).
    #[default]
    Next,
    /// Delivered when idle, after everything else.
    Low,
}

impl Priority {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Now => "now",
            Priority::Next => "next",
            Priority::Low => "low",
        }
    }

    /// Parse a wire name.
    pub fn parse(s: &str) -> Option<Priority> {
        match s {
            "now" => Some(Priority::Now),
            "next" => Some(Priority::Next),
            "low" => Some(Priority::Low),
            _ => None,
        }
    }
}

/// `POST /v1/send`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SendRequest {
    /// Destination: a peer key or key prefix, a name, a session id (`session:<id>` or bare),
    /// `*` (broadcast), `@group` or `#topic`.
    pub to: String,
    /// The message text.
    pub body: String,
    /// The send's id; the `Idempotency-Key` header wins; a fresh ULID when both are absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_message_id: Option<String>,
    /// `now`, `next` (default) or `low`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    /// The `client_message_id` this message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// Free-form JSON carried with the message (canonicalised with RFC 8785 for the
    /// fingerprint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Value>,
    /// The sending Claude session (a registered peer of this daemon); absent = the member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_session: Option<String>,
    /// Fields this release does not know, kept rather than rejected.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A successful `POST /v1/send` (202 queued / inflight, or 200 duplicate of a done send).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SendResponse {
    /// `queued`, `inflight` or `done`.
    pub status: String,
    /// The send's id.
    pub client_message_id: String,
    /// True when this request repeated an earlier one (no new message).
    #[serde(default)]
    pub duplicate: bool,
    /// Broker stream sequence (or, in local mode, the delivering inbox row) once done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker_message_id: Option<i64>,
    /// The sender's outbox row: its history record of the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_id: Option<i64>,
}

/// The answer to a batch send (`POST /v1/send` with a JSON array of [`SendRequest`]s), one
/// result per item in the request's order. Every item was validated before any was stored
/// (one invalid item refuses the whole batch with its `index`, nothing stored); the items
/// were then applied in order in one transaction, so they leave in that order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SendBatchResponse {
    /// One per item, in order.
    pub results: Vec<SendBatchResult>,
}

/// One item of a batch send: what a single `POST /v1/send` of it would have answered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SendBatchResult {
    /// The status a single send would have had: 202, 200 (repeat of a done send) or 409.
    pub code: u16,
    /// The answer of a 202 or 200.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent: Option<SendResponse>,
    /// The refusal of a 409 (or a 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

/// Every error answer: a stable name and a human reason, plus table-specific fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable name, e.g. `outbox_done_fingerprint_mismatch`, `unknown_destination`.
    pub error: String,
    /// What went wrong, for people.
    pub reason: String,
    /// Extra fields: `client_message_id`, `fingerprint` (first 8 bytes, hex),
    /// `broker_message_id`, `dead_reason`, `candidates`.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The sender of an inbox item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerRef {
    /// Member public key (ed25519, hex).
    pub key: String,
    /// Display name.
    pub name: String,
    /// The sending Claude session, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
}

/// One received message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InboxItem {
    /// Inbox row id (the `since` cursor).
    pub id: i64,
    /// The sender's id of the send.
    pub client_message_id: String,
    /// Broker stream sequence, when it came through a broker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker_message_id: Option<i64>,
    /// Who sent it.
    pub from: PeerRef,
    /// The destination as resolved by the sender (`*`, `@g`, `#t`, or a key/session).
    pub to: String,
    /// `dm`, `broadcast`, `group` or `topic`.
    pub kind: String,
    /// The message text (untrusted peer content).
    pub body: String,
    /// Priority.
    pub priority: Priority,
    /// The message answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// Sender's meta.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Value>,
    /// When the sender accepted it (RFC 3339).
    pub created_at: String,
    /// When it was first marked seen (by the asking session when one is given).
    pub seen_at: Option<String>,
}

/// `GET /v1/inbox`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InboxPage {
    /// Items with `id > since`, oldest first.
    pub items: Vec<InboxItem>,
    /// Pass as `since` to continue.
    pub next_cursor: i64,
}

/// `POST /v1/peers`: a Claude session registers (or refreshes) itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeerRegistration {
    /// Claude Code session id.
    pub session_id: String,
    /// Display name (defaults to the daemon's display name and the session id prefix).
    #[serde(default)]
    pub name: Option<String>,
    /// Working directory.
    #[serde(default)]
    pub cwd: Option<String>,
    /// Host name.
    #[serde(default)]
    pub hostname: Option<String>,
    /// Process id of the session.
    #[serde(default)]
    pub pid: Option<u32>,
    /// Groups joined (`@name` or `name`).
    #[serde(default)]
    pub groups: Vec<String>,
    /// Topics subscribed (`#name` or `name`).
    #[serde(default)]
    pub topics: Vec<String>,
    /// Unknown fields, kept.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Busy state of a session, set by hooks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeerStatus {
    /// Waiting for the user.
    #[default]
    Idle,
    /// Running a turn (UserPromptSubmit until Stop).
    Working,
    /// Do not disturb: only `now` messages.
    Dnd,
}

/// A session's profile (`/v1/profile`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// One line on what the session does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// idle, working or dnd.
    #[serde(default)]
    pub status: PeerStatus,
    /// Whether other peers list it.
    #[serde(default = "yes")]
    pub visible: bool,
    /// Title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Longer description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bio: Option<String>,
    /// What it can do.
    #[serde(default)]
    pub capabilities: Vec<String>,
}

fn yes() -> bool {
    true
}

/// `POST /v1/profile`: change some fields of a session's profile.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProfileUpdate {
    /// The session.
    pub session_id: String,
    /// New summary.
    #[serde(default)]
    pub summary: Option<String>,
    /// New status.
    #[serde(default)]
    pub status: Option<PeerStatus>,
    /// New visibility.
    #[serde(default)]
    pub visible: Option<bool>,
    /// New title.
    #[serde(default)]
    pub title: Option<String>,
    /// New bio.
    #[serde(default)]
    pub bio: Option<String>,
    /// New capabilities.
    #[serde(default)]
    pub capabilities: Option<Vec<String>>,
}

/// A peer as listed by `GET /v1/peers`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Peer {
    /// Member key (hex).
    pub key: String,
    /// Session id.
    pub session_id: String,
    /// Display name.
    pub name: String,
    /// Host name.
    #[serde(default)]
    pub hostname: Option<String>,
    /// Working directory.
    #[serde(default)]
    pub cwd: Option<String>,
    /// Process id.
    #[serde(default)]
    pub pid: Option<u32>,
    /// Groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Topics.
    #[serde(default)]
    pub topics: Vec<String>,
    /// Profile.
    pub profile: Profile,
    /// Whether the peer is served by this daemon.
    pub local: bool,
    /// Whether it is online (local: registered and not left; remote: fresh heartbeat).
    pub online: bool,
    /// Last heartbeat or registration (RFC 3339).
    pub last_seen_at: String,
    /// Whether a channel (`claudectl mcp` started through `claudectl launch`) is connected
    /// to this session and pushes messages into it while it is idle (local sessions).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub channel: bool,
}

/// A member (one person's daemon) as listed by `GET /v1/members`: known from its own
/// presence record whether or not it runs Claude sessions, and addressable by its display
/// name or key while offline (messages wait in its broker consumer).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// Member key (hex).
    pub key: String,
    /// Display name (`[mesh] display_name`).
    pub name: String,
    /// Host name.
    #[serde(default)]
    pub hostname: Option<String>,
    /// Whether this daemon is that member.
    pub local: bool,
    /// Whether its daemon is running (remote: fresh heartbeat).
    pub online: bool,
    /// Last heartbeat (RFC 3339).
    pub last_seen_at: String,
    /// Its sessions (online ones, or all with `?all=true`).
    #[serde(default)]
    pub sessions: Vec<Peer>,
    /// Whether its daemon takes grouped envelopes (many DMs under one signature); senders
    /// group messages only for members that announce it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub grouped: bool,
}

/// One outbox row (`GET /v1/outbox`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutboxItem {
    /// Row id (the history id).
    pub id: i64,
    /// The send's id.
    pub client_message_id: String,
    /// pending, inflight, done, dead or aborted.
    pub state: String,
    /// The destination as given.
    pub to: String,
    /// Resolved destination kind.
    pub kind: String,
    /// Priority.
    pub priority: Priority,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// The last error (the dead reason for dead rows).
    pub last_error: Option<String>,
    /// Broker stream sequence once done.
    pub broker_message_id: Option<i64>,
    /// First 8 bytes of the request fingerprint, hex.
    pub fingerprint: String,
    /// Accepted at.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Done at.
    pub done_at: Option<String>,
    /// Aborted at (requeue or operator).
    pub aborted_at: Option<String>,
    /// Who aborted it.
    pub aborted_by: Option<String>,
    /// The row that replaced it.
    pub superseded_by: Option<String>,
}

/// `POST /v1/outbox/requeue`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequeueRequest {
    /// The outbox row id or its client_message_id.
    pub id: String,
    /// The new row's id (default: a fresh ULID). Ids are never reused.
    #[serde(default)]
    pub new_client_message_id: Option<String>,
}

/// Answer to a requeue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequeueResponse {
    /// The retired row's id.
    pub aborted: String,
    /// The new pending row's id.
    pub client_message_id: String,
    /// The new row.
    pub id: i64,
}

/// `POST /v1/sessions/{id}/status`: hook-driven status (UserPromptSubmit → working,
/// Stop → idle).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusUpdate {
    /// The new status.
    pub status: PeerStatus,
}

/// `GET /v1/sessions/{id}/context`: unread messages for a hook's `additionalContext`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionContext {
    /// Text for `additionalContext`, empty when nothing is unread. Peer content is fenced and
    /// marked untrusted.
    pub additional_context: String,
    /// The items included (now marked seen for this session).
    pub items: Vec<InboxItem>,
    /// Unread items held back because the session is busy and they are not `now`.
    pub held: usize,
}

/// Body of `POST /v1/sessions/{id}/context` (claude-hook sends `{}` or the transcript).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ContextRequest {
    /// The session's transcript (the hook input's `transcript_path`): a message pushed into
    /// the session's channel counts as delivered once its fence shows there. Without it, a
    /// push counts as delivered as soon as it was written.
    #[serde(default)]
    pub transcript_path: Option<String>,
}

/// `POST /v1/sessions/{id}/push`: a channel server (`claudectl mcp`) claims one message to
/// push into its session. A claim is provisional: a second claim gets nothing, and the
/// hook does not repeat it once the session's transcript shows it (or, with no transcript
/// to check, at once); a push the transcript does not show within `[mesh]
/// push_confirm_secs` is delivered by the next hook.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PushRequest {
    /// The inbox item.
    pub id: i64,
}

/// Answer to a push claim.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PushClaim {
    /// Whether this caller got it (false: already seen by the session, or not for it).
    pub claimed: bool,
    /// The channel notification's content: the body fenced as untrusted peer content, as
    /// in the hook's context.
    #[serde(default)]
    pub content: String,
    /// The channel notification's `meta` (strings only): `from`, `from_name`, `priority`,
    /// `id`, and `reply_to` when set.
    #[serde(default)]
    pub meta: std::collections::BTreeMap<String, String>,
}

/// The `meta` key of a message relaying a session's permission request to an approver;
/// its value is a [`RelayedPermission`].
pub const PERMISSION_REQUEST_META: &str = "permission_request";

/// The `meta` key of an approver's answer; its value is a [`RelayedAnswer`].
pub const PERMISSION_ANSWER_META: &str = "permission_answer";

/// A permission request of a session started by `claudectl launch`, as relayed to its
/// `[mesh] approvers` (the message's `meta.permission_request`): Claude Code's
/// `permission_request` fields and the asking session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayedPermission {
    /// Claude Code's id of the request.
    pub request_id: String,
    /// The tool asking.
    pub tool_name: String,
    /// What it wants to do.
    #[serde(default)]
    pub description: String,
    /// A preview of its input.
    #[serde(default)]
    pub input_preview: String,
    /// The asking session (the answer goes to `session:<this>`).
    pub session: String,
}

/// An approver's answer (the message's `meta.permission_answer`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayedAnswer {
    /// The request answered.
    pub request_id: String,
    /// `allow` or `deny`.
    pub behavior: String,
}
