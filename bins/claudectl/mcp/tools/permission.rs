//! `answer_permission`: an approver's answer to a permission request another session
//! relayed (`[mesh] approvers`), sent back to that session's channel.

use super::{args, ToolDef, Tools};
use crate::mcp::daemon_client::ToolError;
use claude_daemons::http::UnixClient;
use claude_daemons::paths::Daemon;
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

pub const ANSWER_PERMISSION: ToolDef = ToolDef {
    name: "answer_permission",
    description: "Allow or deny a permission request another Claude Code session relayed to \
        you (a message whose meta has permission_request; its request_id). The answer goes \
        back to that session, whose tool then runs or not.",
    schema: || {
        json!({
            "type": "object",
            "properties": {
                "request_id": {"type": "string", "minLength": 1},
                "behavior": {"type": "string", "enum": ["allow", "deny"]}
            },
            "required": ["request_id", "behavior"],
            "additionalProperties": false
        })
    },
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerArgs {
    request_id: String,
    behavior: Behavior,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Behavior {
    Allow,
    Deny,
}

pub fn answer_permission(t: &mut Tools, a: Value) -> Result<String, ToolError> {
    let a: AnswerArgs = args("answer_permission", a)?;
    let session = t.session();
    let client = UnixClient::new(t.paths.socket(Daemon::Meshd)).timeout(Duration::from_secs(10));
    let behavior = match a.behavior {
        Behavior::Allow => "allow",
        Behavior::Deny => "deny",
    };
    crate::permission_answer::answer(&client, &a.request_id, behavior, session.id())
        .map_err(|e| ToolError::new(format!("answer_permission (claude-meshd): {e}")))
}
