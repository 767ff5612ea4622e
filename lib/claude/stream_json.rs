//! The headless stream-json protocol of Claude Code
//! (`claude -p --input-format stream-json --output-format stream-json --verbose`):
//! one JSON object per line in both directions.
//!
//! Only the fields a supervisor acts on are typed; everything else is kept in `extra` so a
//! newer CLI's additions pass through to clients unchanged.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Why a line from Claude Code could not be understood.
#[derive(Debug, thiserror::Error)]
pub enum StreamJsonError {
    /// The line is not a JSON object.
    #[error("not a JSON object: {0}")]
    NotJson(String),
    /// The object has no string `type`.
    #[error("message without a `type`")]
    NoType,
    /// A known message type with fields of the wrong shape.
    #[error("malformed `{kind}` message: {reason}")]
    Malformed {
        /// The `type` of the message.
        kind: String,
        /// What serde said.
        reason: String,
    },
}

/// A line written by Claude Code on stdout.
#[derive(Clone, Debug, PartialEq)]
pub enum ChildMessage {
    /// `type: system` (`init` at the start of every turn, `status`, …).
    System(SystemMessage),
    /// `type: assistant`: one API message of the model.
    Assistant(Map<String, Value>),
    /// `type: user`: tool results (or replayed user turns).
    User(Map<String, Value>),
    /// `type: stream_event`: raw API deltas (`--include-partial-messages`).
    StreamEvent(Map<String, Value>),
    /// `type: control_request`: the CLI asks its driver something (e.g. `can_use_tool`).
    ControlRequest(ControlRequest),
    /// `type: control_response`: the answer to one of our control requests.
    ControlResponse(ControlResponse),
    /// `type: result`: the end of a turn.
    Result(Box<ResultMessage>),
    /// Any other type (`rate_limit_event`, future additions): passed through untouched.
    Other {
        /// The `type` field.
        kind: String,
        /// The whole object.
        fields: Map<String, Value>,
    },
}

impl ChildMessage {
    /// Parse one line (without its newline).
    pub fn parse(line: &str) -> Result<ChildMessage, StreamJsonError> {
        let map: Map<String, Value> =
            serde_json::from_str(line).map_err(|e| StreamJsonError::NotJson(e.to_string()))?;
        let kind = match map.get("type") {
            Some(Value::String(t)) => t.clone(),
            _ => return Err(StreamJsonError::NoType),
        };
        fn typed<T: serde::de::DeserializeOwned>(
            kind: &str,
            map: Map<String, Value>,
        ) -> Result<T, StreamJsonError> {
            serde_json::from_value(Value::Object(map)).map_err(|e| StreamJsonError::Malformed {
                kind: kind.into(),
                reason: e.to_string(),
            })
        }
        Ok(match kind.as_str() {
            "system" => ChildMessage::System(typed(&kind, map)?),
            "assistant" => ChildMessage::Assistant(map),
            "user" => ChildMessage::User(map),
            "stream_event" => ChildMessage::StreamEvent(map),
            "control_request" => ChildMessage::ControlRequest(typed(&kind, map)?),
            "control_response" => ChildMessage::ControlResponse(typed(&kind, map)?),
            "result" => ChildMessage::Result(Box::new(typed(&kind, map)?)),
            _ => ChildMessage::Other { kind, fields: map },
        })
    }

    /// The `type` field as written by the CLI.
    pub fn kind(&self) -> &str {
        match self {
            ChildMessage::System(_) => "system",
            ChildMessage::Assistant(_) => "assistant",
            ChildMessage::User(_) => "user",
            ChildMessage::StreamEvent(_) => "stream_event",
            ChildMessage::ControlRequest(_) => "control_request",
            ChildMessage::ControlResponse(_) => "control_response",
            ChildMessage::Result(_) => "result",
            ChildMessage::Other { kind, .. } => kind,
        }
    }
}

/// `type: system`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SystemMessage {
    /// `init`, `status`, `compact_boundary`, …
    pub subtype: String,
    /// The Claude session (present on `init`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Working directory (on `init`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Model in use (on `init`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Permission mode (on `init`).
    #[serde(
        default,
        rename = "permissionMode",
        skip_serializing_if = "Option::is_none"
    )]
    pub permission_mode: Option<String>,
    /// CLI version (on `init`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claude_code_version: Option<String>,
    /// Everything else (tools, mcp_servers, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `type: result`: how a turn ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResultMessage {
    /// `success`, `error_max_turns`, `error_during_execution`, `error_max_budget_usd`, …
    pub subtype: String,
    /// Whether the turn failed.
    #[serde(default)]
    pub is_error: bool,
    /// The final text (absent on some errors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// The Claude session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Cost of the Claude session so far, in USD, as the CLI counts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_cost_usd: Option<f64>,
    /// Wall time of the turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Time spent in API calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_api_ms: Option<u64>,
    /// Model round trips in the turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_turns: Option<u64>,
    /// Token usage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Value>,
    /// Everything else (`modelUsage`, `permission_denials`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `type: control_request` from the CLI.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ControlRequest {
    /// Correlates the answer.
    pub request_id: String,
    /// `{subtype, …}`.
    pub request: Map<String, Value>,
}

impl ControlRequest {
    /// The request's `subtype`.
    pub fn subtype(&self) -> &str {
        self.request
            .get("subtype")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

/// `type: control_response`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ControlResponse {
    /// The answer.
    pub response: ControlResponseBody,
}

/// The body of a control response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ControlResponseBody {
    /// `success` or `error`.
    pub subtype: String,
    /// The request answered.
    pub request_id: String,
    /// Why it failed (`subtype: error`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Anything else (the success payload).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ControlResponseBody {
    /// Whether the request succeeded.
    pub fn is_success(&self) -> bool {
        self.subtype == "success"
    }
}

/// A line written to Claude Code's stdin.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChildInput {
    /// A user turn.
    User {
        /// `{role: "user", content}`.
        message: UserContent,
        /// Always null for top-level turns.
        parent_tool_use_id: Option<String>,
        /// Null: the CLI uses its own session.
        session_id: Option<String>,
    },
    /// A control request (`initialize`, `interrupt`, `set_model`, …).
    ControlRequest {
        /// Correlates the answer.
        request_id: String,
        /// `{subtype, …}`.
        request: Map<String, Value>,
    },
    /// Our answer to a CLI-initiated control request.
    ControlResponse {
        /// The answer.
        response: ControlResponseBody,
    },
}

/// The message of a user turn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserContent {
    /// Always `user`.
    pub role: String,
    /// The prompt: a string, or a list of content blocks (text, base64 images), as the
    /// Messages API takes them.
    pub content: Value,
}

impl ChildInput {
    /// A user turn with `prompt`.
    pub fn user(prompt: impl Into<String>) -> ChildInput {
        ChildInput::User {
            message: UserContent {
                role: "user".into(),
                content: Value::String(prompt.into()),
            },
            parent_tool_use_id: None,
            session_id: None,
        }
    }

    /// A user turn made of content blocks (`{"type": "text", …}`, `{"type": "image", …}`).
    pub fn user_blocks(blocks: Vec<Value>) -> ChildInput {
        ChildInput::User {
            message: UserContent {
                role: "user".into(),
                content: Value::Array(blocks),
            },
            parent_tool_use_id: None,
            session_id: None,
        }
    }

    /// A control request of `subtype` with no other fields.
    pub fn control(request_id: impl Into<String>, subtype: &str) -> ChildInput {
        let mut request = Map::new();
        request.insert("subtype".into(), subtype.into());
        ChildInput::ControlRequest {
            request_id: request_id.into(),
            request,
        }
    }

    /// Refuse a CLI-initiated control request.
    pub fn refuse(request_id: impl Into<String>, why: impl Into<String>) -> ChildInput {
        ChildInput::ControlResponse {
            response: ControlResponseBody {
                subtype: "error".into(),
                request_id: request_id.into(),
                error: Some(why.into()),
                extra: Map::new(),
            },
        }
    }

    /// Answer a CLI-initiated control request with `response` (e.g. a `can_use_tool`
    /// decision: `{"behavior": "allow", "updatedInput": …}` or
    /// `{"behavior": "deny", "message": …}`).
    pub fn answer(request_id: impl Into<String>, response: Value) -> ChildInput {
        let mut extra = Map::new();
        extra.insert("response".into(), response);
        ChildInput::ControlResponse {
            response: ControlResponseBody {
                subtype: "success".into(),
                request_id: request_id.into(),
                error: None,
                extra,
            },
        }
    }

    /// A control request of `subtype` with more fields (`set_model` with `model`, …).
    pub fn control_with(
        request_id: impl Into<String>,
        subtype: &str,
        fields: Map<String, Value>,
    ) -> ChildInput {
        let mut request = fields;
        request.insert("subtype".into(), subtype.into());
        ChildInput::ControlRequest {
            request_id: request_id.into(),
            request,
        }
    }

    /// The line to write, newline included.
    pub fn to_line(&self) -> String {
        let mut s = serde_json::to_string(self).expect("stream-json input serializes");
        s.push('\n');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_observed_lines() {
        let init = r#"{"type":"system","subtype":"init","cwd":"/w","session_id":"s1","tools":["Read"],"model":"m","permissionMode":"default","claude_code_version":"2.1.329"}"#;
        let ChildMessage::System(s) = ChildMessage::parse(init).unwrap() else {
            panic!()
        };
        assert_eq!(s.subtype, "init");
        assert_eq!(s.session_id.as_deref(), Some("s1"));
        assert_eq!(s.permission_mode.as_deref(), Some("default"));
        assert!(s.extra.contains_key("tools"));

        let result = r#"{"type":"result","subtype":"success","is_error":false,"result":"hi","session_id":"s1","total_cost_usd":0.0008,"duration_ms":120,"num_turns":1,"usage":{"input_tokens":100},"modelUsage":{}}"#;
        let ChildMessage::Result(r) = ChildMessage::parse(result).unwrap() else {
            panic!()
        };
        assert_eq!(r.result.as_deref(), Some("hi"));
        assert_eq!(r.total_cost_usd, Some(0.0008));
        assert!(r.extra.contains_key("modelUsage"));

        let cr = r#"{"type":"control_response","response":{"subtype":"success","request_id":"r1","response":{}}}"#;
        let ChildMessage::ControlResponse(c) = ChildMessage::parse(cr).unwrap() else {
            panic!()
        };
        assert!(c.response.is_success());
        assert_eq!(c.response.request_id, "r1");

        let other = ChildMessage::parse(r#"{"type":"rate_limit_event","x":1}"#).unwrap();
        assert_eq!(other.kind(), "rate_limit_event");
    }

    #[test]
    fn rejects_bad_lines_with_reasons() {
        assert!(matches!(
            ChildMessage::parse("not json"),
            Err(StreamJsonError::NotJson(_))
        ));
        assert!(matches!(
            ChildMessage::parse("[1,2]"),
            Err(StreamJsonError::NotJson(_))
        ));
        assert!(matches!(
            ChildMessage::parse(r#"{"x":1}"#),
            Err(StreamJsonError::NoType)
        ));
        assert!(matches!(
            ChildMessage::parse(r#"{"type":"result","subtype":7}"#),
            Err(StreamJsonError::Malformed { .. })
        ));
    }

    #[test]
    fn writes_the_documented_input_lines() {
        let u: Value = serde_json::from_str(&ChildInput::user("hello").to_line()).unwrap();
        assert_eq!(
            u,
            serde_json::json!({"type":"user","message":{"role":"user","content":"hello"},"parent_tool_use_id":null,"session_id":null})
        );
        let c: Value =
            serde_json::from_str(&ChildInput::control("r1", "interrupt").to_line()).unwrap();
        assert_eq!(
            c,
            serde_json::json!({"type":"control_request","request_id":"r1","request":{"subtype":"interrupt"}})
        );
        let a: Value = serde_json::from_str(
            &ChildInput::answer("r3", serde_json::json!({"behavior": "allow"})).to_line(),
        )
        .unwrap();
        assert_eq!(
            a,
            serde_json::json!({"type":"control_response","response":{"subtype":"success","request_id":"r3","response":{"behavior":"allow"}}})
        );
        let line = ChildInput::refuse("r2", "no").to_line();
        assert!(line.ends_with('\n') && !line[..line.len() - 1].contains('\n'));
    }
}
