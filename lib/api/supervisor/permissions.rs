//! Permission prompts relayed from Claude Code (`can_use_tool`) to whoever drives a session.
//!
//! - `GET /v1/sessions/{key}/permissions[?all=true]` → [`PermissionList`] (pending ones, or
//!   every one kept with its decision)
//! - `POST /v1/sessions/{key}/permissions/{id}` [`PermissionDecision`] → [`PermissionRequest`]
//! - announced on the ask's SSE stream as `event: permission` and on `GET /v1/events` as
//!   `permission_requested` / `permission_decided` lifecycle events carrying the request.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Allow or deny.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Behavior {
    /// Let the tool run.
    Allow,
    /// Refuse it; the model is told why.
    Deny,
}

impl Behavior {
    /// `allow` or `deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Behavior::Allow => "allow",
            Behavior::Deny => "deny",
        }
    }
}

/// One permission prompt and, once made, its decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PermissionRequest {
    /// Our id (a ULID).
    pub id: String,
    /// The session key.
    pub key: String,
    /// The tool Claude wants to use (`Bash`, `Edit`, `mcp__server__tool`, …).
    pub tool_name: String,
    /// Its input, as the model wrote it.
    pub input: Value,
    /// What Claude Code says the call does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The path that made it ask, when a file or directory is outside the workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_path: Option<String>,
    /// Claude Code's `permission_suggestions` (rules or modes that would allow it).
    #[serde(default)]
    pub suggestions: Value,
    /// The tool call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_use_id: Option<String>,
    /// `pending`, `allowed` or `denied`.
    pub state: String,
    /// Who or what decided: `api` (or `api:<by>`), `rule:allow <rule>`, `rule:deny <rule>`,
    /// `timeout`, `session_ended`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// The message given with a denial (what Claude sees).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When Claude Code asked (RFC 3339).
    pub created_at: String,
    /// When it was decided (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<String>,
}

/// `GET /v1/sessions/{key}/permissions`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PermissionList {
    /// Oldest first.
    pub permissions: Vec<PermissionRequest>,
}

/// `POST /v1/sessions/{key}/permissions/{id}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionDecision {
    /// Allow or deny.
    pub behavior: Behavior,
    /// Run the tool with this input instead (allow only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_input: Option<Value>,
    /// Why (deny: Claude sees it in the tool result).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Also add a session rule so the same call is decided alike without asking: Claude
    /// Code's suggested rule when it made one, else the tool's name.
    #[serde(default)]
    pub remember: bool,
    /// Who decides (kept with the decision), e.g. a user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}
