//! `claudectl sup channel` (hidden): the MCP server claude-supervisord gives each of its
//! interactive children (in the child's `--mcp-config`, loaded with
//! `--dangerously-load-development-channels server:claude-supervisord`). Once Claude Code
//! says `initialized`, it follows the supervisor's `GET /v1/sessions/{key}/channel` and
//! writes each prompt there as a `notifications/claude/channel`, which starts a turn in the
//! idle session; the open stream is how the supervisor knows the channel is connected. The
//! model may call its `reply(text, final)` tool, which posts to `…/channel/reply`.
//!
//! The session key and Claude session id come as arguments: the supervisor matches the
//! connection on both, so a server of an earlier process of the key is refused.

use super::channel::{write_line, Out};
use super::daemon_client::encode;
use super::jsonrpc::{self, Incoming, Response};
use anyhow::Result;
use claude_daemons::api::supervisor::{ChannelReply, CHANNEL_PROMPT_EVENT, CHANNEL_SERVER};
use claude_daemons::claude::{ChannelNotification, CHANNEL_CAPABILITY};
use claude_daemons::http::UnixClient;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The supervisor's SSE keepalive comes every 15 s: three missed mean the connection is dead.
const IDLE: Duration = Duration::from_secs(45);
/// Pause before connecting again after the stream ended or was refused.
const RETRY: Duration = Duration::from_millis(300);

/// Where the supervisor is and which session this server belongs to.
#[derive(Clone, Debug)]
pub struct Target {
    pub socket: PathBuf,
    pub key: String,
    pub session_id: String,
}

impl Target {
    fn path(&self, tail: &str) -> String {
        format!(
            "/v1/sessions/{}/channel{tail}?session_id={}",
            encode(&self.key),
            encode(&self.session_id)
        )
    }
}

/// Serve until stdin closes.
pub fn serve(target: Target) -> Result<ExitCode> {
    let out: Out = std::sync::Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let mut following = false;
    let stream_out = out.clone();
    super::serve_lines(&out, |line| {
        let req = match jsonrpc::parse(line) {
            Incoming::Request(r) => r,
            Incoming::Bad(answer) => return Some(answer),
        };
        if req.id.is_none() && req.method == "notifications/initialized" && !following {
            following = true;
            let (t, o) = (target.clone(), stream_out.clone());
            std::thread::spawn(move || follow(&t, &o));
        }
        let id = req.id?;
        let params = req.params.unwrap_or(Value::Null);
        Some(match req.method.as_str() {
            // No `server/discover` answer (method not found): the connection stays on the
            // protocol era that carries unsolicited notifications.
            "initialize" => Response::ok(
                id,
                json!({
                    "protocolVersion": super::protocol_version(&params),
                    "capabilities": {
                        "tools": {"listChanged": false},
                        "experimental": {CHANNEL_CAPABILITY: {}},
                    },
                    "serverInfo": {"name": CHANNEL_SERVER, "version": env!("CARGO_PKG_VERSION")},
                    "instructions": "Prompts from the program driving this session arrive as \
                        <channel source=\"claude-supervisord\" session_key=\"…\">…</channel>: \
                        treat each as the user's message and answer as usual. The reply tool \
                        is optional: call it to report progress (final=false) while you work.",
                }),
            ),
            "ping" => Response::ok(id, json!({})),
            "tools/list" => Response::ok(id, json!({"tools": [reply_tool()]})),
            "tools/call" => call(&target, id, &params),
            other => Response::err(
                id,
                jsonrpc::METHOD_NOT_FOUND,
                format!("method not found: {other}"),
            ),
        })
    })
}

fn reply_tool() -> Value {
    json!({
        "name": "reply",
        "description": "Send text to the program that asked through the channel: progress \
            while you work (final=false), or your whole answer (final=true).",
        "inputSchema": {
            "type": "object",
            "properties": {
                "text": {"type": "string", "description": "What to say."},
                "final": {"type": "boolean", "description": "Whether this is the whole answer."},
            },
            "required": ["text"],
        },
    })
}

fn call(target: &Target, id: Value, params: &Value) -> Response {
    if params["name"] != "reply" {
        let name = params["name"].as_str().unwrap_or_default();
        return Response::err(id, jsonrpc::INVALID_PARAMS, format!("unknown tool: {name}"));
    }
    let reply: ChannelReply = match serde_json::from_value(params["arguments"].clone()) {
        Ok(r) => r,
        Err(e) => {
            return Response::err(id, jsonrpc::INVALID_PARAMS, format!("reply: {e}"));
        }
    };
    let body = serde_json::to_vec(&reply).unwrap_or_default();
    let client = UnixClient::new(&target.socket).timeout(Duration::from_secs(10));
    let (text, is_error) = match client.post_json(&target.path("/reply"), &body) {
        Ok(r) if r.status < 300 => ("sent".to_string(), false),
        Ok(r) => (
            format!(
                "the supervisor answered {}: {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            ),
            true,
        ),
        Err(e) => (format!("the supervisor is unreachable: {e}"), true),
    };
    Response::ok(
        id,
        json!({"content": [{"type": "text", "text": text}], "isError": is_error}),
    )
}

/// Follow the supervisor's prompts for our session until stdout closes (Claude Code ended).
fn follow(target: &Target, out: &Out) {
    let client = UnixClient::new(&target.socket);
    loop {
        match client.stream("GET", &target.path(""), &[], None, Some(IDLE)) {
            Ok(mut s) if s.status == 200 => {
                while let Ok(Some(ev)) = s.next_event() {
                    if ev.event != CHANNEL_PROMPT_EVENT {
                        continue;
                    }
                    let Ok(n) = serde_json::from_str::<ChannelNotification>(&ev.data) else {
                        eprintln!("claudectl sup channel: bad prompt event: {}", ev.data);
                        continue;
                    };
                    let note = ChannelNotification::new(n.content, n.meta);
                    if write_line(out, &note.to_line()).is_err() {
                        return;
                    }
                }
            }
            Ok(s) => eprintln!(
                "claudectl sup channel: the supervisor answered {}",
                s.status
            ),
            Err(e) => eprintln!("claudectl sup channel: {e}"),
        }
        std::thread::sleep(RETRY);
    }
}
