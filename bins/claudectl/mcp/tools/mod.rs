//! The MCP tools: their definitions (name, description, JSON schema) and the call dispatch.

mod forget;
mod memory;
mod mesh;
mod permission;

use super::daemon_client::{DaemonClient, ToolError};
use super::session::{self, Session};
use claude_daemons::api::mesh::Peer;
use claude_daemons::paths::{Daemon, Paths};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

/// What the tools share: where the daemons are and which session we serve.
pub struct Tools {
    pub paths: Paths,
    session: Option<Session>,
}

/// One tool's definition, as `tools/list` shows it.
pub struct ToolDef {
    pub name: &'static str,
    pub description: &'static str,
    pub schema: fn() -> Value,
}

/// Every tool, memory first.
pub const TOOLS: &[ToolDef] = &[
    memory::SEARCH,
    memory::TIMELINE,
    memory::GET_OBSERVATIONS,
    memory::SAVE_MEMORY,
    forget::FORGET,
    mesh::SEND_MESSAGE,
    mesh::READ_INBOX,
    mesh::LIST_PEERS,
    mesh::SET_STATUS,
    permission::ANSWER_PERMISSION,
];

/// The `tools/list` result.
pub fn list() -> Value {
    let tools: Vec<Value> = TOOLS
        .iter()
        .map(|t| json!({"name": t.name, "description": t.description, "inputSchema": (t.schema)()}))
        .collect();
    json!({ "tools": tools })
}

impl Tools {
    pub fn new(paths: Paths) -> Tools {
        Tools {
            paths,
            session: session::from_env(),
        }
    }

    /// Run a tool. `None`: no such tool (a protocol error, not a tool error).
    pub fn call(&mut self, name: &str, args: Value) -> Option<Result<String, ToolError>> {
        Some(match name {
            "search" => memory::search(self, args),
            "timeline" => memory::timeline(self, args),
            "get_observations" => memory::get_observations(self, args),
            "save_memory" => memory::save_memory(self, args),
            "forget" => forget::forget(self, args),
            "send_message" => mesh::send_message(self, args),
            "read_inbox" => mesh::read_inbox(self, args),
            "list_peers" => mesh::list_peers(self, args),
            "set_status" => mesh::set_status(self, args),
            "answer_permission" => permission::answer_permission(self, args),
            _ => return None,
        })
    }

    pub fn memd(&self) -> DaemonClient {
        DaemonClient::new(Daemon::Memd, &self.paths)
    }

    pub fn meshd(&self) -> DaemonClient {
        DaemonClient::new(Daemon::Meshd, &self.paths)
    }

    /// The session we serve; looked up again until found, because claude-hook registers the
    /// peer at SessionStart, which may come after Claude Code started this server.
    pub fn session(&mut self) -> Session {
        if let Some(s @ Session::Known { .. }) = &self.session {
            return s.clone();
        }
        let found = match self.meshd().get::<Vec<Peer>>("/v1/peers?all=true") {
            Ok(peers) => session::match_peer(&peers, session::parent_pid()),
            Err(e) => Session::Unknown(format!("cannot ask claude-meshd: {}", e.0)),
        };
        self.session = Some(found.clone());
        found
    }
}

/// Tool arguments as a typed struct; a mismatch is a tool error the model can correct.
pub fn args<T: DeserializeOwned>(tool: &str, args: Value) -> Result<T, ToolError> {
    let args = if args.is_null() { json!({}) } else { args };
    serde_json::from_value(args)
        .map_err(|e| ToolError::new(format!("{tool}: invalid arguments: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_has_an_object_schema_and_a_dispatch() {
        let mut t = Tools::new(Paths::resolve(|_| Some("/nonexistent".into())));
        for def in TOOLS {
            let schema = (def.schema)();
            assert_eq!(schema["type"], "object", "{}", def.name);
            assert!(!def.description.is_empty());
            // Daemons are absent here: every tool answers with an error naming one.
            let sample = match def.name {
                "search" => json!({"query": "x"}),
                "get_observations" | "forget" => json!({"ids": [1]}),
                "save_memory" => json!({"text": "t"}),
                "send_message" => json!({"to": "*", "body": "b"}),
                "set_status" => json!({"status": "idle"}),
                "answer_permission" => json!({"request_id": "abcde", "behavior": "allow"}),
                _ => json!({}),
            };
            let err = t
                .call(def.name, sample)
                .expect("dispatched")
                .expect_err("no daemon");
            assert!(
                err.0.contains("claude-meshd") || err.0.contains("claude-memd"),
                "{}: {}",
                def.name,
                err.0
            );
        }
        assert!(t.call("nope", json!({})).is_none());
    }
}
