//! The supervisor's own channel into an interactive session (`[supervisor]
//! interactive_input`): Claude Code runs `claudectl sup channel` as an MCP server named
//! [`CHANNEL_SERVER`], loaded as a development channel; that server connects back to the
//! supervisor's socket and turns each prompt into a `notifications/claude/channel`.
//!
//! - `GET /v1/sessions/{key}/channel?session_id=ID` → SSE: one `event:` [`CHANNEL_PROMPT_EVENT`]
//!   per prompt, its data the notification's params (`{content, meta}`, the session key in
//!   `meta.`[`CHANNEL_META_KEY`]). The open stream is the channel's connection: the
//!   supervisor types instead once it closes.
//! - `POST /v1/sessions/{key}/channel/reply?session_id=ID` [`ChannelReply`] → 204: the
//!   model called the server's `reply` tool.
//!
//! Both answer 404 when the key has no interactive process and 409 when `session_id` is not
//! its session's (a leftover server of an earlier process).

use serde::{Deserialize, Serialize};

/// The channel server's name in the child's `--mcp-config` (`server:NAME` for
/// `--dangerously-load-development-channels`); the model sees
/// `<channel source="claude-supervisord" session_key="…">`.
pub const CHANNEL_SERVER: &str = "claude-supervisord";

/// The `meta` key of a prompt that carries the session key.
pub const CHANNEL_META_KEY: &str = "session_key";

/// The SSE event name of a prompt on the channel stream.
pub const CHANNEL_PROMPT_EVENT: &str = "prompt";

/// The arguments of the channel server's `reply` tool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelReply {
    /// What the model says to the caller.
    pub text: String,
    /// Whether this is its whole answer (otherwise progress).
    #[serde(default, rename = "final")]
    pub is_final: bool,
}

/// The query of both channel routes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelQuery {
    /// The Claude session the server was started for.
    pub session_id: String,
}
