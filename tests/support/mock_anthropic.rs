//! A scripted mock of the Anthropic Messages API on loopback, and the real Claude Code CLI
//! pointed at it (`reference/claude-code-contract.md`). The CLI is the pinned npm package in
//! `tests/claude-code/` (`npm ci` there; scripts/test does it) or `CLAUDE_DAEMONS_TEST_CLAUDE`.
//! A missing CLI fails the test: it never skips.
//!
//! The script is a function from the request body to a [`Reply`]; every request body is
//! recorded so a test can assert what the model was shown.
#![allow(dead_code)] // each test file uses a different part

use super::repo;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

/// What the mock answers to one request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Assistant text; ends the turn.
    Text(String),
    /// One tool call (the CLI runs the tool and asks again with its result).
    Tool {
        /// Tool name, e.g. `Read`.
        name: String,
        /// Tool input.
        input: Value,
    },
    /// An API error with this HTTP status.
    Error(u16),
}

type Script = dyn Fn(&Value) -> Reply + Send + Sync;

struct Shared {
    script: Box<Script>,
    requests: Mutex<Vec<Value>>,
    counter: Mutex<u64>,
}

/// A running mock; stops when dropped (with the test process).
pub struct MockApi {
    port: u16,
    shared: Arc<Shared>,
}

impl MockApi {
    /// Serve `script` on a free loopback port.
    pub fn start(script: impl Fn(&Value) -> Reply + Send + Sync + 'static) -> MockApi {
        let shared = Arc::new(Shared {
            script: Box::new(script),
            requests: Mutex::new(Vec::new()),
            counter: Mutex::new(0),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = Router::new()
            .route("/v1/messages", post(messages))
            .fallback(|| async { StatusCode::NOT_FOUND })
            .with_state(shared.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let l = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(l, app).await.unwrap();
            });
        });
        MockApi { port, shared }
    }

    /// `ANTHROPIC_BASE_URL` for the CLI.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request body received so far.
    pub fn requests(&self) -> Vec<Value> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Requests whose JSON text contains `needle`.
    pub fn requests_containing(&self, needle: &str) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| r.to_string().contains(needle))
            .collect()
    }
}

/// The last user message of a request.
fn last_user_message(req: &Value) -> Option<&Value> {
    req["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
}

/// The text of the last user message of a request (string or text blocks joined).
pub fn last_user_text(req: &Value) -> String {
    match last_user_message(req).map(|m| &m["content"]) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .filter_map(|b| b["text"].as_str().or_else(|| b["content"].as_str()))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// The newest prompt of a request: the last text block of the last user message (Claude
/// Code puts reminders in earlier blocks).
pub fn newest_prompt(req: &Value) -> String {
    match last_user_message(req).map(|m| &m["content"]) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .rev()
            .find_map(|b| b["text"].as_str())
            .unwrap_or("")
            .to_string(),
        _ => String::new(),
    }
}

/// Whether the last user message carries a tool result.
pub fn has_tool_result(req: &Value) -> bool {
    req["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["content"].as_array())
        .is_some_and(|blocks| blocks.iter().any(|b| b["type"] == "tool_result"))
}

async fn messages(State(s): State<Arc<Shared>>, Json(body): Json<Value>) -> Response {
    s.requests.lock().unwrap().push(body.clone());
    let n = {
        let mut c = s.counter.lock().unwrap();
        *c += 1;
        *c
    };
    let reply = (s.script)(&body);
    let model = body["model"].as_str().unwrap_or("claude-mock").to_string();
    let (block, stop) = match &reply {
        Reply::Error(code) => {
            let status = StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let err = json!({"type": "error", "error": {"type": "api_error", "message": "scripted error"}});
            return (status, Json(err)).into_response();
        }
        Reply::Text(t) => (json!({"type": "text", "text": t}), "end_turn"),
        Reply::Tool { name, input } => (
            json!({"type": "tool_use", "id": format!("toolu_mock{n}"), "name": name, "input": input}),
            "tool_use",
        ),
    };
    let usage = json!({"input_tokens": 100, "output_tokens": 20, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0});
    let message = json!({
        "id": format!("msg_mock{n}"), "type": "message", "role": "assistant", "model": model,
        "content": [], "stop_reason": null, "stop_sequence": null, "usage": usage,
    });
    if body["stream"] != json!(true) {
        let mut full = message;
        full["content"] = json!([block]);
        full["stop_reason"] = json!(stop);
        return Json(full).into_response();
    }
    let mut events = vec![(
        "message_start",
        json!({"type": "message_start", "message": message}),
    )];
    match &reply {
        Reply::Text(t) => {
            events.push(("content_block_start", json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})));
            events.push(("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}})));
        }
        Reply::Tool { name, input } => {
            events.push(("content_block_start", json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": format!("toolu_mock{n}"), "name": name, "input": {}}})));
            events.push(("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": input.to_string()}})));
        }
        Reply::Error(_) => unreachable!(),
    }
    events.push((
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    ));
    events.push(("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": 20}})));
    events.push(("message_stop", json!({"type": "message_stop"})));
    let text: String = events
        .into_iter()
        .map(|(name, data)| format!("event: {name}\ndata: {data}\n\n"))
        .collect();
    (
        [
            ("content-type", "text/event-stream"),
            ("cache-control", "no-cache"),
        ],
        text,
    )
        .into_response()
}

/// The text inside a channel message (`<channel source=… …>text</channel>`, how Claude Code
/// shows the model a prompt that came through a channel), or all of `prompt`.
pub fn channel_body(prompt: &str) -> &str {
    prompt
        .split_once("<channel ")
        .and_then(|(_, rest)| rest.split_once('>'))
        .and_then(|(_, rest)| rest.split_once("</channel>"))
        .map_or(prompt, |(body, _)| body.trim())
}

/// A mock that answers `answer: <prompt>` (the prompt itself when it came through a
/// channel), after `SLOW<ms>` milliseconds when the prompt
/// says so (the mock's one thread sleeps: later requests wait behind it), and a flag that
/// ends every slow wait at once when set: a test can make the mock answer after a minute —
/// far beyond any bound it asserts, whatever the load — and still go on promptly once it
/// has seen what it wanted.
pub fn echo_with_release() -> (MockApi, Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};
    let release = Arc::new(AtomicBool::new(false));
    let flag = release.clone();
    let api = MockApi::start(move |req| {
        let prompt = newest_prompt(req);
        if let Some(ms) = prompt
            .split_whitespace()
            .find_map(|w| w.strip_prefix("SLOW"))
            .and_then(|ms| ms.parse().ok())
        {
            let until = Instant::now() + Duration::from_millis(ms);
            while Instant::now() < until && !flag.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        Reply::Text(format!("answer: {}", channel_body(&prompt)))
    });
    (api, release)
}

/// The real Claude Code CLI.
pub fn claude_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("CLAUDE_DAEMONS_TEST_CLAUDE") {
        return p.into();
    }
    let p = repo::root().join("tests/claude-code/node_modules/.bin/claude");
    assert!(
        p.exists(),
        "Claude Code is not installed at {}: run scripts/test, which installs what the tests need (npm ci --prefix tests/claude-code)",
        p.display()
    );
    p
}

/// A `claude` command talking to `api`, with `home` as its HOME (its settings, its
/// transcripts) and nothing reaching the network.
pub fn claude_command(api: &MockApi, home: &Path) -> Command {
    let mut cmd = Command::new(claude_bin());
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("ANTHROPIC_BASE_URL", api.base_url())
        .env("ANTHROPIC_API_KEY", "sk-ant-mock-key")
        .env("DISABLE_TELEMETRY", "1")
        .env("DISABLE_AUTOUPDATER", "1")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .stdin(std::process::Stdio::null());
    cmd
}
