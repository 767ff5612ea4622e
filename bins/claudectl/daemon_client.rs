//! Calling a daemon from `claudectl mem|sup|mesh`: which socket, typed answers, and the
//! failures an operator must tell apart — each a one-line message with its own exit code.

use claude_daemons::http::client::EventStream;
use claude_daemons::http::{ClientError, Response, UnixClient};
use claude_daemons::paths::{Daemon, Paths};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Exit status: the request failed in some other way (5xx, bad answer, local error).
pub const EXIT_ERROR: u8 = 1;
/// Exit status: nothing answered on the daemon's socket.
pub const EXIT_UNREACHABLE: u8 = 3;
/// Exit status: the daemon refused the request (a 4xx answer).
pub const EXIT_REFUSED: u8 = 4;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    /// The daemon's socket did not answer.
    #[error(
        "{program} is not reachable at {socket} ({detail}); see `claudectl status`, or start it with `systemctl --user start {program}.socket` (or `claudectl run`)"
    )]
    Unreachable {
        program: &'static str,
        socket: PathBuf,
        detail: String,
    },
    /// A 4xx answer.
    #[error("{program} refused the request (HTTP {status}): {reason}")]
    Refused {
        program: &'static str,
        status: u16,
        reason: String,
    },
    /// Anything else.
    #[error("{0:#}")]
    Other(#[from] anyhow::Error),
}

impl CtlError {
    /// The exit status this failure ends claudectl with.
    pub fn code(&self) -> u8 {
        match self {
            CtlError::Unreachable { .. } => EXIT_UNREACHABLE,
            CtlError::Refused { .. } => EXIT_REFUSED,
            CtlError::Other(_) => EXIT_ERROR,
        }
    }
}

/// What a subcommand returns.
pub type CtlResult = Result<ExitCode, CtlError>;

/// Print a failure as one line on stderr and turn it into its exit code.
pub fn finish(result: CtlResult) -> anyhow::Result<ExitCode> {
    Ok(result.unwrap_or_else(|e| {
        // Daemons' error texts may quote peers or records.
        eprintln!("claudectl: {}", crate::output::clean(&e.to_string()));
        ExitCode::from(e.code())
    }))
}

/// One daemon's socket.
pub struct Api {
    daemon: Daemon,
    client: UnixClient,
}

impl Api {
    /// The daemon's socket from the environment (`CLAUDE_DAEMONS_RUNTIME_DIR` or
    /// `$XDG_RUNTIME_DIR/claude`).
    pub fn new(daemon: Daemon) -> Api {
        Api::at(daemon, Paths::from_env().socket(daemon))
    }

    /// The daemon listening on `socket` (e.g. the scratch daemons of `claudectl bench`).
    pub fn at(daemon: Daemon, socket: PathBuf) -> Api {
        Api {
            daemon,
            client: UnixClient::new(socket).timeout(Duration::from_secs(30)),
        }
    }

    /// Wait at most `timeout` for an answer.
    pub fn timeout(mut self, timeout: Duration) -> Api {
        self.client = self.client.timeout(timeout);
        self
    }

    /// `GET path` → `T`.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<(T, Value), CtlError> {
        self.call("GET", path, None)
    }

    /// `POST path` with `body` as JSON → `T`.
    pub fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl serde::Serialize,
    ) -> Result<(T, Value), CtlError> {
        let body = serde_json::to_vec(body).map_err(anyhow::Error::from)?;
        self.call("POST", path, Some(&body))
    }

    /// `POST path` with `body`, JSON already written (a batch of an export's lines) → `T`.
    pub fn post_json_bytes<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &[u8],
    ) -> Result<(T, Value), CtlError> {
        self.call("POST", path, Some(body))
    }

    /// `GET path` → `T` alone, for big answers: parsed once, without the raw JSON that
    /// [`Api::get`] keeps for `--json`.
    pub fn get_typed<T: DeserializeOwned>(&self, path: &str) -> Result<T, CtlError> {
        let r = self
            .client
            .request("GET", path, &[], None)
            .map_err(|e| self.transport(e))?;
        self.check(r.status, &r.body)?;
        serde_json::from_slice(&r.body).map_err(|e| self.bad_answer(e))
    }

    /// `PATCH path` with `body` as JSON → `T`.
    pub fn patch<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl serde::Serialize,
    ) -> Result<(T, Value), CtlError> {
        let body = serde_json::to_vec(body).map_err(anyhow::Error::from)?;
        self.call("PATCH", path, Some(&body))
    }

    /// `DELETE path` → `T`.
    pub fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<(T, Value), CtlError> {
        self.call("DELETE", path, None)
    }

    /// The typed answer and the raw JSON (for `--json`).
    fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<(T, Value), CtlError> {
        let headers: &[(&str, &str)] = if body.is_some() {
            &[("content-type", "application/json")]
        } else {
            &[]
        };
        let r = self
            .client
            .request(method, path, headers, body)
            .map_err(|e| self.transport(e))?;
        self.check(r.status, &r.body)?;
        self.decode(&r)
    }

    fn decode<T: DeserializeOwned>(&self, r: &Response) -> Result<(T, Value), CtlError> {
        let raw: Value = serde_json::from_slice(&r.body).map_err(|e| self.bad_answer(e))?;
        let typed = serde_json::from_value(raw.clone()).map_err(|e| self.bad_answer(e))?;
        Ok((typed, raw))
    }

    /// Open a server-sent event stream; `idle` bounds each wait for the next event.
    pub fn stream(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        idle: Option<Duration>,
    ) -> Result<EventStream, CtlError> {
        let s = self
            .client
            .stream(method, path, headers, body, idle)
            .map_err(|e| self.transport(e))?;
        if s.status / 100 != 2 {
            let status = s.status;
            let body = s.into_body().map_err(|e| self.transport(e))?;
            self.check(status, &body)?;
            return Err(self.bad_answer(format!("HTTP {status} instead of a stream")));
        }
        Ok(s)
    }

    /// Turn an error status into its failure; 2xx passes.
    fn check(&self, status: u16, body: &[u8]) -> Result<(), CtlError> {
        if status / 100 == 2 {
            return Ok(());
        }
        let reason = error_reason(body);
        if (400..500).contains(&status) {
            return Err(CtlError::Refused {
                program: self.daemon.program(),
                status,
                reason,
            });
        }
        Err(anyhow::anyhow!("{} failed (HTTP {status}): {reason}", self.daemon.program()).into())
    }

    /// A failure while talking: unreachable if nothing answered.
    pub fn transport(&self, e: ClientError) -> CtlError {
        match e {
            ClientError::Connect { path, source } => CtlError::Unreachable {
                program: self.daemon.program(),
                socket: path,
                detail: source.to_string(),
            },
            ClientError::Timeout(t) => CtlError::Unreachable {
                program: self.daemon.program(),
                socket: self.client.path().to_path_buf(),
                detail: format!("no answer within {} s", t.as_secs_f64()),
            },
            other => anyhow::anyhow!("talking to {}: {other}", self.daemon.program()).into(),
        }
    }

    /// An answer that does not have the shape this claudectl knows.
    pub fn bad_answer(&self, e: impl std::fmt::Display) -> CtlError {
        anyhow::anyhow!(
            "{} answered something this claudectl does not understand ({e}); are both the same version?",
            self.daemon.program()
        )
        .into()
    }
}

/// The human part of an error body: `{"error", "message"|"reason"}` or plain text.
fn error_reason(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let Ok(Value::Object(v)) = serde_json::from_slice::<Value>(body) else {
        return text.trim().chars().take(500).collect();
    };
    let code = v.get("error").and_then(Value::as_str);
    let why = ["message", "reason"]
        .iter()
        .find_map(|k| v.get(*k).and_then(Value::as_str));
    match (code, why) {
        (Some(c), Some(w)) => format!("{c}: {w}"),
        (Some(c), None) => c.to_string(),
        (None, Some(w)) => w.to_string(),
        (None, None) => text.trim().chars().take(500).collect(),
    }
}

/// A URL query string from a serializable struct (`None` fields left out).
pub fn query(params: &impl serde::Serialize) -> Result<String, CtlError> {
    let q = serde_urlencoded::to_string(params).map_err(anyhow::Error::from)?;
    Ok(if q.is_empty() { q } else { format!("?{q}") })
}

/// One path segment, percent-encoded.
pub fn segment(s: &str) -> String {
    serde_urlencoded::to_string([("", s)])
        .map(|q| q.trim_start_matches('=').replace('+', "%20"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_from_each_daemon_shape() {
        assert_eq!(
            error_reason(br#"{"error":"project is required"}"#),
            "project is required"
        );
        assert_eq!(
            error_reason(br#"{"error":"not_found","message":"no session k"}"#),
            "not_found: no session k"
        );
        assert_eq!(
            error_reason(br#"{"error":"unknown_destination","reason":"no peer x"}"#),
            "unknown_destination: no peer x"
        );
        assert_eq!(error_reason(b"plain\n"), "plain");
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(segment("agent::chat"), "agent%3A%3Achat");
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
    }
}
