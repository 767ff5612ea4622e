//! Talking to claude-supervisord over its Unix socket, blocking: the processor thread is
//! the only caller, one ask at a time, so no runtime is needed (and none is on the hook path).

use claude_daemons::api::supervisor::{ApiError, AskRequest, AskResult, SessionList};
use claude_daemons::http::UnixClient;
use std::path::PathBuf;
use std::time::Duration;

/// The supervisor's answer to an ask that did not produce a result.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unavailable(pub String);

/// A client of claude-supervisord.
#[derive(Clone, Debug)]
pub struct Supervisor {
    socket: PathBuf,
}

impl Supervisor {
    /// A client of the supervisor listening on `socket`.
    pub fn new(socket: PathBuf) -> Supervisor {
        Supervisor { socket }
    }

    /// One turn of session `key`; the wait is the turn's timeout plus a margin for queueing.
    pub fn ask(&self, key: &str, req: &AskRequest) -> Result<AskResult, Unavailable> {
        let wait =
            Duration::from_millis(req.timeout_ms.unwrap_or(300_000)) + Duration::from_secs(30);
        let body = serde_json::to_vec(req).map_err(|e| Unavailable(e.to_string()))?;
        let r = UnixClient::new(&self.socket)
            .timeout(wait)
            .post_json(&format!("/v1/sessions/{key}/ask"), &body)
            .map_err(|e| Unavailable(format!("claude-supervisord: {e}")))?;
        if r.status != 200 {
            let why = r
                .json::<ApiError>()
                .map(|e| format!("{}: {}", e.error, e.message))
                .unwrap_or_else(|_| String::from_utf8_lossy(&r.body).into_owned());
            return Err(Unavailable(format!(
                "claude-supervisord answered {}: {why}",
                r.status
            )));
        }
        let result: AskResult = r
            .json()
            .map_err(|e| Unavailable(format!("claude-supervisord: {e}")))?;
        if result.is_error {
            return Err(Unavailable(format!(
                "Claude failed the turn ({}): {}",
                result.subtype,
                result.result.as_deref().unwrap_or("")
            )));
        }
        Ok(result)
    }

    /// Stop session `key`'s process (it resumes on its next ask); `forget` also drops the
    /// conversation. Errors are logged: a stop that fails is retried at the next reap.
    pub fn stop(&self, key: &str, forget: bool) {
        let path = format!(
            "/v1/sessions/{key}{}",
            if forget { "?forget=true" } else { "" }
        );
        match UnixClient::new(&self.socket)
            .timeout(Duration::from_secs(20))
            .request("DELETE", &path, &[], None)
        {
            Ok(r) if r.status == 200 || r.status == 404 => {}
            Ok(r) => tracing::warn!(key, status = r.status, "could not stop an observer session"),
            Err(e) => tracing::warn!(key, error = %e, "could not stop an observer session"),
        }
    }

    /// Keys of the sessions with a live process whose key starts with `prefix`.
    pub fn live_keys(&self, prefix: &str) -> Vec<String> {
        let Ok(r) = UnixClient::new(&self.socket)
            .timeout(Duration::from_secs(2))
            .get("/v1/sessions")
        else {
            return Vec::new();
        };
        r.json::<SessionList>()
            .map(|l| {
                l.sessions
                    .into_iter()
                    .filter(|s| s.pid.is_some() && s.key.starts_with(prefix))
                    .map(|s| s.key)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether the supervisor answers at all.
    pub fn reachable(&self) -> bool {
        UnixClient::new(&self.socket)
            .timeout(Duration::from_secs(2))
            .get("/v1/health")
            .is_ok()
    }
}
