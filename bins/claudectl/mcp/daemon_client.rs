//! Requests from the MCP tools to the daemons, with failures worded for the model (and the
//! person reading over its shoulder): which daemon, what happened, how to fix it.

use claude_daemons::http::{ClientError, UnixClient};
use claude_daemons::paths::{Daemon, Paths};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::time::Duration;

/// A failed tool call: the text becomes an MCP tool result with `isError: true`.
#[derive(Debug)]
pub struct ToolError(pub String);

impl ToolError {
    pub fn new(text: impl Into<String>) -> ToolError {
        ToolError(text.into())
    }
}

/// One daemon's API.
pub struct DaemonClient {
    daemon: Daemon,
    client: UnixClient,
}

impl DaemonClient {
    pub fn new(daemon: Daemon, paths: &Paths) -> DaemonClient {
        DaemonClient {
            daemon,
            client: UnixClient::new(paths.socket(daemon)).timeout(Duration::from_secs(10)),
        }
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ToolError> {
        self.exchange("GET", path, None)
    }

    pub fn post<T: DeserializeOwned>(&self, path: &str, body: &Value) -> Result<T, ToolError> {
        self.exchange("POST", path, Some(body.to_string().into_bytes()))
    }

    pub fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T, ToolError> {
        self.exchange("DELETE", path, None)
    }

    fn exchange<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T, ToolError> {
        let program = self.daemon.program();
        let headers: &[(&str, &str)] = if body.is_some() {
            &[("content-type", "application/json")]
        } else {
            &[]
        };
        let response = self
            .client
            .request(method, path, headers, body.as_deref())
            .map_err(|e| match e {
                ClientError::Connect { path, source } => ToolError(format!(
                    "{program} is not running: cannot connect to {} ({source}). \
                     Start it with `claudectl install --now` (systemd user units) or \
                     `claudectl run` (foreground), then check with `claudectl status`.",
                    path.display()
                )),
                other => ToolError(format!(
                    "{program} did not answer {method} {path}: {other}. \
                     See `claudectl logs {}`.",
                    self.daemon.short()
                )),
            })?;
        if !(200..300).contains(&response.status) {
            // Both daemons answer errors as JSON with `error` (and meshd a `reason`).
            let detail = serde_json::from_slice::<Value>(&response.body)
                .ok()
                .map(|v| {
                    [v.get("error"), v.get("reason")]
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(": ")
                })
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| String::from_utf8_lossy(&response.body).into_owned());
            return Err(ToolError(format!(
                "{program} refused {method} {path} (HTTP {}): {detail}",
                response.status
            )));
        }
        response.json().map_err(|e| {
            ToolError(format!(
                "{program} answered {method} {path} with something unexpected: {e}"
            ))
        })
    }
}

/// Percent-encode a query value.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `key=value&…` from the pairs that have a value.
pub fn query(pairs: &[(&str, Option<String>)]) -> String {
    pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode(v))))
        .collect::<Vec<_>>()
        .join("&")
}
