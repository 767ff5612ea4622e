//! Claude Code channels (`reference/claude-code-contract.md`, "Channels, verified on
//! 2.1.329"): an MCP server that declares `experimental["claude/channel"]` may push a turn
//! into an idle interactive session with `notifications/claude/channel`. Claude Code shows
//! it to the model as `<channel source="SERVER" k="v">content</channel>`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The capability key under `capabilities.experimental`.
pub const CHANNEL_CAPABILITY: &str = "claude/channel";

/// The permission-relay capability key under `capabilities.experimental`.
pub const CHANNEL_PERMISSION_CAPABILITY: &str = "claude/channel/permission";

/// The notification method that pushes a turn.
pub const CHANNEL_NOTIFICATION: &str = "notifications/claude/channel";

/// The flag that loads a development channel: `--dangerously-load-development-channels
/// server:NAME` (never together with `--channels server:NAME`, which is then refused as not
/// on the approved allowlist).
pub const DEV_CHANNELS_FLAG: &str = "--dangerously-load-development-channels";

/// What Claude Code's `--debug-file` says, after `MCP server "NAME": `, once it listens to
/// a channel server's notifications (the handler is in place from then on).
pub const CHANNEL_REGISTERED_LOG: &str = "Channel notifications registered";

/// What it says, followed by the reason, when it does not (feature flag off, not on the
/// allowlist, …).
pub const CHANNEL_SKIPPED_LOG: &str = "Channel notifications skipped: ";

/// What a `--debug-file` line says about channel server `name`: `Some(Ok(()))` registered,
/// `Some(Err(reason))` skipped, `None` neither.
pub fn channel_log_verdict(line: &str, name: &str) -> Option<Result<(), String>> {
    let server = format!("\"{name}\"");
    if !line.contains(&server) {
        return None;
    }
    if line.contains(CHANNEL_REGISTERED_LOG) {
        return Some(Ok(()));
    }
    let (_, reason) = line.split_once(CHANNEL_SKIPPED_LOG)?;
    Some(Err(reason.trim().to_string()))
}

/// The params of [`CHANNEL_NOTIFICATION`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChannelNotification {
    /// The text of the new user turn.
    pub content: String,
    /// Attributes of the `<channel>` tag: string values only, keys matching
    /// `^[a-zA-Z_][a-zA-Z0-9_]*$` (others are dropped by [`ChannelNotification::new`]).
    pub meta: BTreeMap<String, String>,
}

impl ChannelNotification {
    /// A notification, keeping only the meta keys Claude Code accepts.
    pub fn new(content: String, meta: BTreeMap<String, String>) -> ChannelNotification {
        let meta = meta
            .into_iter()
            .filter(|(k, _)| valid_meta_key(k))
            .collect();
        ChannelNotification { content, meta }
    }

    /// The whole JSON-RPC notification line (without the newline).
    pub fn to_line(&self) -> String {
        serde_json::json!({
            "jsonrpc": "2.0",
            "method": CHANNEL_NOTIFICATION,
            "params": self,
        })
        .to_string()
    }
}

/// What Claude Code sends a channel server that declared [`CHANNEL_PERMISSION_CAPABILITY`]
/// when a tool needs the user's permission (the method's params).
pub const PERMISSION_REQUEST: &str = "notifications/claude/channel/permission_request";

/// The server's answer to a [`PERMISSION_REQUEST`].
pub const PERMISSION_ANSWER: &str = "notifications/claude/channel/permission";

/// The params of [`PERMISSION_REQUEST`]: `{request_id, tool_name, description,
/// input_preview}` (contract, verified on 2.1.329). Unknown fields are ignored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionRequest {
    /// Claude Code's id of the request, echoed in the answer.
    pub request_id: String,
    /// The tool asking.
    pub tool_name: String,
    /// What it wants to do.
    #[serde(default)]
    pub description: String,
    /// A preview of its input.
    #[serde(default)]
    pub input_preview: String,
}

/// `allow` or `deny`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PermissionBehavior {
    /// Run the tool.
    Allow,
    /// Do not.
    Deny,
}

/// The params of [`PERMISSION_ANSWER`]: `{request_id, behavior}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionAnswer {
    /// The request answered.
    pub request_id: String,
    /// The answer.
    pub behavior: PermissionBehavior,
}

impl PermissionAnswer {
    /// The whole JSON-RPC notification line (without the newline).
    pub fn to_line(&self) -> String {
        serde_json::json!({
            "jsonrpc": "2.0",
            "method": PERMISSION_ANSWER,
            "params": self,
        })
        .to_string()
    }
}

/// Whether `k` may be a meta key: `^[a-zA-Z_][a-zA-Z0-9_]*$`.
pub fn valid_meta_key(k: &str) -> bool {
    let mut b = k.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_keys_follow_the_contract() {
        assert!(valid_meta_key("from_name"));
        assert!(valid_meta_key("_x1"));
        assert!(!valid_meta_key("1x"));
        assert!(!valid_meta_key("reply-to"));
        assert!(!valid_meta_key(""));
        let n = ChannelNotification::new(
            "hi".into(),
            [("from".into(), "a".into()), ("bad-key".into(), "b".into())].into(),
        );
        assert_eq!(n.meta.len(), 1);
        let line: serde_json::Value = serde_json::from_str(&n.to_line()).unwrap();
        assert_eq!(line["method"], CHANNEL_NOTIFICATION);
        assert_eq!(line["params"]["meta"]["from"], "a");
    }

    #[test]
    fn the_debug_log_says_registered_or_why_not() {
        let reg = r#"2026-12-03T15:00:00.000Z [DEBUG] MCP server "sup": Channel notifications registered"#;
        assert_eq!(channel_log_verdict(reg, "sup"), Some(Ok(())));
        assert_eq!(channel_log_verdict(reg, "other"), None);
        let skip = r#"[DEBUG] MCP server "sup": Channel notifications skipped: channels feature is not currently available"#;
        assert_eq!(
            channel_log_verdict(skip, "sup"),
            Some(Err("channels feature is not currently available".into()))
        );
        assert_eq!(
            channel_log_verdict(r#"MCP server "sup": connected"#, "sup"),
            None
        );
    }
}
