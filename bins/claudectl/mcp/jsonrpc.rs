//! JSON-RPC 2.0 messages as MCP's stdio transport carries them: one JSON object per line.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Invalid JSON was received.
pub const PARSE_ERROR: i64 = -32700;
/// The JSON is not a valid request object.
pub const INVALID_REQUEST: i64 = -32600;
/// No such method.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// Invalid method parameters.
pub const INVALID_PARAMS: i64 = -32602;

/// A request (with `id`) or a notification (without).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    pub jsonrpc: String,
    /// Absent for notifications; a string or a number otherwise.
    #[serde(default)]
    pub id: Option<Value>,
    pub method: String,
    #[serde(default)]
    pub params: Option<Value>,
}

/// An answer: exactly one of `result` and `error`.
#[derive(Debug, Serialize)]
pub struct Response {
    pub jsonrpc: &'static str,
    pub id: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorObject>,
}

/// A JSON-RPC error.
#[derive(Debug, Serialize)]
pub struct ErrorObject {
    pub code: i64,
    pub message: String,
}

impl Response {
    pub fn ok(id: Value, result: Value) -> Response {
        Response {
            jsonrpc: "2.0",
            id,
            result: Some(result),
            error: None,
        }
    }

    pub fn err(id: Value, code: i64, message: impl Into<String>) -> Response {
        Response {
            jsonrpc: "2.0",
            id,
            result: None,
            error: Some(ErrorObject {
                code,
                message: message.into(),
            }),
        }
    }
}

/// What one input line is.
pub enum Incoming {
    /// A request to answer.
    Request(Request),
    /// A line that deserves an error answer (with the id, when one could be read).
    Bad(Response),
}

/// Parse one line. Batches are not part of MCP since 2025-06-18 and are refused.
pub fn parse(line: &str) -> Incoming {
    let value: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => {
            return Incoming::Bad(Response::err(
                Value::Null,
                PARSE_ERROR,
                format!("parse error: {e}"),
            ))
        }
    };
    let id = value.get("id").cloned().unwrap_or(Value::Null);
    match serde_json::from_value::<Request>(value) {
        Ok(r) if r.jsonrpc == "2.0" && valid_id(&r.id) => Incoming::Request(r),
        Ok(_) => Incoming::Bad(Response::err(
            id,
            INVALID_REQUEST,
            "invalid request: jsonrpc must be \"2.0\" and id a string or a number",
        )),
        Err(e) => Incoming::Bad(Response::err(
            id,
            INVALID_REQUEST,
            format!("invalid request: {e}"),
        )),
    }
}

fn valid_id(id: &Option<Value>) -> bool {
    matches!(id, None | Some(Value::String(_)) | Some(Value::Number(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_code(line: &str) -> i64 {
        match parse(line) {
            Incoming::Bad(r) => r.error.unwrap().code,
            Incoming::Request(r) => panic!("accepted {r:?}"),
        }
    }

    #[test]
    fn bad_lines_get_the_right_codes() {
        assert_eq!(error_code("{not json"), PARSE_ERROR);
        assert_eq!(error_code("[1,2]"), INVALID_REQUEST);
        assert_eq!(
            error_code(r#"{"jsonrpc":"1.0","id":1,"method":"x"}"#),
            INVALID_REQUEST
        );
        assert_eq!(
            error_code(r#"{"jsonrpc":"2.0","id":{},"method":"x"}"#),
            INVALID_REQUEST
        );
        assert_eq!(error_code(r#"{"jsonrpc":"2.0","id":1}"#), INVALID_REQUEST);
        assert!(matches!(
            parse(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            Incoming::Request(Request { id: None, .. })
        ));
    }
}
