//! The OpenAI-compatible surface of claude-supervisord: `POST /v1/chat/completions` and
//! `GET /v1/models`, in the shapes the official OpenAI client libraries parse. Requests are
//! read leniently (clients send many fields we have no use for); answers carry the fields
//! those libraries require.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /v1/chat/completions`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// A Claude model, a session key, or anything else (then the session's own model).
    #[serde(default)]
    pub model: String,
    /// The conversation; the last one must be the user's new message.
    pub messages: Vec<ChatMessage>,
    /// Answer with `chat.completion.chunk` server-sent events.
    #[serde(default)]
    pub stream: bool,
    /// The session key when no `X-Session-Key` header names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Forget the session's history first (also: header `X-Session-Fresh: true`).
    #[serde(default)]
    pub fresh: bool,
}

/// One message of a [`ChatRequest`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `developer`, `user`, `assistant` or `tool`.
    pub role: String,
    /// A string, or a list of parts (`{"type": "text", "text"}`…), or null.
    #[serde(default)]
    pub content: Value,
}

impl ChatMessage {
    /// The message's text: the string, or its text parts joined by newlines.
    pub fn text(&self) -> String {
        match &self.content {
            Value::String(s) => s.clone(),
            Value::Array(parts) => parts
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n"),
            _ => String::new(),
        }
    }
}

/// Token counts, OpenAI style.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatUsage {
    /// Input tokens (cache reads and writes included).
    pub prompt_tokens: u64,
    /// Output tokens.
    pub completion_tokens: u64,
    /// Their sum.
    pub total_tokens: u64,
}

impl ChatUsage {
    /// From a Claude Code `usage` object.
    pub fn from_claude(usage: Option<&Value>) -> ChatUsage {
        let n = |k: &str| usage.and_then(|u| u[k].as_u64()).unwrap_or(0);
        let prompt =
            n("input_tokens") + n("cache_read_input_tokens") + n("cache_creation_input_tokens");
        let completion = n("output_tokens");
        ChatUsage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
        }
    }
}

/// The answer of a non-streamed completion (`object: chat.completion`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletion {
    /// `chatcmpl-…`.
    pub id: String,
    /// `chat.completion`.
    pub object: String,
    /// Unix seconds.
    pub created: u64,
    /// The model asked for.
    pub model: String,
    /// One choice.
    pub choices: Vec<ChatChoice>,
    /// Token counts of the turn.
    pub usage: ChatUsage,
}

/// A choice of a [`ChatCompletion`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChatChoice {
    /// 0.
    pub index: u32,
    /// `{"role": "assistant", "content": …}`.
    pub message: ChatMessage,
    /// `stop`, or `length` when Claude Code stopped at `max_turns` or the budget.
    pub finish_reason: String,
}

/// `GET /v1/models`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelList {
    /// `list`.
    pub object: String,
    /// Session keys and the models sessions are configured with.
    pub data: Vec<ModelInfo>,
}

/// One entry of [`ModelList`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// A model name or a session key.
    pub id: String,
    /// `model`.
    pub object: String,
    /// Unix seconds (0: unknown).
    pub created: u64,
    /// `anthropic` for a model, `session` for a session key.
    pub owned_by: String,
}

/// OpenAI's error body: `{"error": {"message", "type", "param", "code"}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpenAiError {
    /// The error.
    pub error: OpenAiErrorBody,
}

/// The inside of an [`OpenAiError`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpenAiErrorBody {
    /// For people.
    pub message: String,
    /// `invalid_request_error`, `not_found_error`, `conflict_error`, `rate_limit_error`,
    /// `server_error`, `timeout_error`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The offending parameter, when one is.
    pub param: Option<String>,
    /// claude-supervisord's own error code (`conflict`, `turn_timeout`, …).
    pub code: Option<String>,
}
