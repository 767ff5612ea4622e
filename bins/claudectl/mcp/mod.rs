//! `claudectl mcp`: a Model Context Protocol server on stdin/stdout for Claude Code, with
//! memory tools (claude-memd) and mesh tools (claude-meshd).
//!
//! Hand-written JSON-RPC rather than the `rmcp` SDK: a stdio server with eight tools needs
//! `initialize`, `tools/list`, `tools/call` and `ping`, while rmcp's `server` feature brings
//! proc macros, schemars and an async transport into a CLI whose daemon clients are
//! blocking. Lines are bounded; every bad line gets a JSON-RPC error and the server goes on.

mod channel;
pub use channel::CHANNEL_ENV;
mod daemon_client;
mod jsonrpc;
mod permission;
mod session;
pub mod sup_channel;
mod tools;

use anyhow::Result;
use claude_daemons::claude::{
    PermissionRequest, CHANNEL_CAPABILITY, CHANNEL_PERMISSION_CAPABILITY, PERMISSION_REQUEST,
};
use claude_daemons::config::Config;
use claude_daemons::paths::Paths;
use jsonrpc::{Incoming, Response};
use serde_json::{json, Value};
use std::io::{BufRead, Read};
use std::process::ExitCode;

/// The name Claude Code shows the tools under: `mcp__claude-daemons__search`, ….
pub const SERVER_NAME: &str = "claude-daemons";

/// Newest protocol revision we speak; an older one the client asks for is echoed back.
const PROTOCOL_VERSION: &str = "2025-06-18";
const KNOWN_VERSIONS: &[&str] = &["2024-11-05", "2025-03-26", "2025-06-18"];

/// Longest request line: tool arguments are small (a 64 KiB message body at most).
const MAX_LINE: usize = 1 << 20;

/// Run the server until stdin closes.
pub fn serve() -> Result<ExitCode> {
    let out: channel::Out = std::sync::Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let paths = Paths::from_env();
    // A broken config must not take the tools down: without it, nothing is relayed.
    let approvers = match Config::load(&paths.config_file) {
        Ok(c) => c.mesh.approvers,
        Err(e) => {
            eprintln!("claudectl mcp: {e}; permission requests are not relayed");
            Vec::new()
        }
    };
    let mut server = Server {
        tools: tools::Tools::new(paths),
        out: out.clone(),
        pushing: false,
        relay: permission::Relay::new(approvers),
    };
    serve_lines(&out, |line| server.handle(line))
}

/// Answer JSON-RPC lines from stdin until it closes: `handle` gives each line's answer
/// (`None` for notifications), written to `out`.
pub fn serve_lines(
    out: &channel::Out,
    mut handle: impl FnMut(&str) -> Option<Response>,
) -> Result<ExitCode> {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut input)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(ExitCode::SUCCESS);
        }
        let answer = if line.len() > MAX_LINE && line.last() != Some(&b'\n') {
            // Skip the rest of the oversized line so the next one parses.
            let mut rest = Vec::new();
            input.read_until(b'\n', &mut rest)?;
            Some(Response::err(
                Value::Null,
                jsonrpc::INVALID_REQUEST,
                format!("request line longer than {MAX_LINE} bytes"),
            ))
        } else {
            let text = String::from_utf8_lossy(&line);
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            handle(text)
        };
        if let Some(answer) = answer {
            channel::write_line(out, &serde_json::to_string(&answer)?)?;
        }
    }
}

/// The protocol revision to answer `initialize` with: the client's, when we know it.
pub fn protocol_version(params: &Value) -> &'static str {
    let asked = params["protocolVersion"].as_str().unwrap_or_default();
    KNOWN_VERSIONS
        .iter()
        .find(|v| **v == asked)
        .copied()
        .unwrap_or(PROTOCOL_VERSION)
}

struct Server {
    tools: tools::Tools,
    /// stdout, shared with the channel's pushes.
    out: channel::Out,
    /// Whether the channel's push thread runs.
    pushing: bool,
    /// Permission requests relayed to the approvers.
    relay: permission::Relay,
}

impl Server {
    /// The answer to one line; `None` for notifications.
    fn handle(&mut self, line: &str) -> Option<Response> {
        let req = match jsonrpc::parse(line) {
            Incoming::Request(r) => r,
            Incoming::Bad(answer) => return Some(answer),
        };
        if req.id.is_none() && req.method == "notifications/initialized" && !self.pushing {
            // Started by `claudectl launch`: this server is the session's channel.
            if channel::enabled() {
                self.pushing = true;
                channel::start(Paths::from_env(), self.out.clone(), self.relay.clone());
            }
        }
        if req.id.is_none() && req.method == PERMISSION_REQUEST {
            self.relay_permission(req.params.unwrap_or(Value::Null));
            return None;
        }
        let id = req.id?;
        let params = req.params.unwrap_or(Value::Null);
        Some(match req.method.as_str() {
            "initialize" => {
                Response::ok(
                    id,
                    json!({
                        "protocolVersion": protocol_version(&params),
                        // The channel capabilities (reference/claude-code-contract.md): with
                        // them, a session started by `claudectl launch` gets messages pushed
                        // while idle. `server/discover` stays unanswered (method not found)
                        // so the connection keeps the notification path.
                        "capabilities": {
                            "tools": {"listChanged": false},
                            "experimental": {
                                CHANNEL_CAPABILITY: {},
                                CHANNEL_PERMISSION_CAPABILITY: {},
                            },
                        },
                        "serverInfo": {"name": SERVER_NAME, "version": env!("CARGO_PKG_VERSION")},
                        "instructions": "Memory of past Claude Code work (search → timeline / \
                            get_observations, save_memory) and messages between sessions \
                            (list_peers, send_message, read_inbox, set_status).",
                    }),
                )
            }
            "ping" => Response::ok(id, json!({})),
            "tools/list" => Response::ok(id, tools::list()),
            "tools/call" => self.call(id, &params),
            other => Response::err(
                id,
                jsonrpc::METHOD_NOT_FOUND,
                format!("method not found: {other}"),
            ),
        })
    }

    /// Send a permission request of our session to the approvers (errors go to stderr,
    /// which Claude Code keeps in its MCP log: a notification has no answer).
    fn relay_permission(&mut self, params: Value) {
        let req: PermissionRequest = match serde_json::from_value(params) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("claudectl mcp: bad permission_request: {e}");
                return;
            }
        };
        let Some(session) = self.tools.session().id().map(str::to_string) else {
            eprintln!(
                "claudectl mcp: permission request {} not relayed: session unknown",
                req.request_id
            );
            return;
        };
        let client = claude_daemons::http::UnixClient::new(
            self.tools
                .paths
                .socket(claude_daemons::paths::Daemon::Meshd),
        );
        for e in self.relay.relay(&client, &session, &req) {
            eprintln!("claudectl mcp: permission request {}: {e}", req.request_id);
        }
    }

    fn call(&mut self, id: Value, params: &Value) -> Response {
        let Some(name) = params["name"].as_str() else {
            return Response::err(id, jsonrpc::INVALID_PARAMS, "tools/call needs a name");
        };
        let args = params.get("arguments").cloned().unwrap_or(Value::Null);
        let (text, is_error) = match self.tools.call(name, args) {
            None => {
                return Response::err(id, jsonrpc::INVALID_PARAMS, format!("unknown tool: {name}"))
            }
            Some(Ok(text)) => (text, false),
            Some(Err(e)) => (e.0, true),
        };
        Response::ok(
            id,
            json!({"content": [{"type": "text", "text": text}], "isError": is_error}),
        )
    }
}
