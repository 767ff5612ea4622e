//! Rules for loopback TCP listeners, where any local process — and any web page the user
//! opens, through the browser — can connect: the Host must be a loopback name (DNS
//! rebinding), state-changing requests from a foreign `Origin` are refused, and every route
//! except the health probe needs the bearer token kept in the state directory.

use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;

/// Paths served on TCP without a token.
const OPEN_PATHS: &[&str] = &["/v1/health"];

/// The secret TCP clients present as `Authorization: Bearer <token>`.
#[derive(Clone)]
pub struct Token(Arc<str>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(…)")
    }
}

impl Token {
    /// Read the token at `path`, creating it (32 random bytes, hex, mode 0600) if missing.
    pub fn load_or_create(path: &Path) -> std::io::Result<Token> {
        match std::fs::read_to_string(path) {
            Ok(t) if !t.trim().is_empty() => return Ok(Token(t.trim().into())),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut bytes = [0u8; 32];
        std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut bytes)?;
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(token.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        Ok(Token(token.into()))
    }

    /// Constant-time comparison with what a client presented.
    pub fn matches(&self, presented: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), presented.as_bytes());
        // Length is not secret (always 64); the bytes are.
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// Whether `host` (a Host header value or an Origin's host part) names this machine's loopback.
pub fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, port)| {
            if port.chars().all(|c| c.is_ascii_digit()) {
                h
            } else {
                host
            }
        })
    };
    matches!(name, "localhost" | "127.0.0.1" | "::1")
}

/// A refusal, with `Connection: close`: an unauthenticated client gets one answer per
/// connection and cannot keep a descriptor of ours open between requests.
fn refuse(status: StatusCode, reason: &str) -> Response {
    (
        status,
        [(header::CONNECTION, "close")],
        Json(serde_json::json!({"error": status.canonical_reason(), "reason": reason})),
    )
        .into_response()
}

/// axum middleware enforcing the TCP rules; use with `from_fn_with_state(token, tcp_guard)`.
pub async fn tcp_guard(State(token): State<Token>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !is_loopback_host(host) {
        return refuse(
            StatusCode::MISDIRECTED_REQUEST,
            "Host must be a loopback name",
        );
    }
    if !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
            let host_part = origin.split_once("://").map_or(origin, |(_, h)| h);
            if !is_loopback_host(host_part) {
                return refuse(StatusCode::FORBIDDEN, "cross-origin request refused");
            }
        }
    }
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| token.matches(t.trim()));
    if OPEN_PATHS.contains(&req.uri().path()) {
        let response = next.run(req).await;
        return if authorized {
            response
        } else {
            health_probe(response).await
        };
    }
    if req
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv.starts_with("token=")))
    {
        return refuse(
            StatusCode::BAD_REQUEST,
            "tokens are not accepted in the URL; use the Authorization header",
        );
    }
    if authorized {
        next.run(req).await
    } else {
        refuse(
            StatusCode::UNAUTHORIZED,
            "bearer token required (see api-token in the state directory)",
        )
    }
}

/// The health answer for a client without the token: whether the daemon is up, not where
/// its files are or what runs (paths, pids and figures are for the owner). The connection
/// closes after it, like a refusal's.
async fn health_probe(response: Response) -> Response {
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let full: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let probe: serde_json::Map<String, serde_json::Value> = ["status", "program", "version"]
        .iter()
        .filter_map(|k| full.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect();
    (
        status,
        [(header::CONNECTION, "close")],
        Json(serde_json::Value::Object(probe)),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for ok in [
            "localhost",
            "localhost:37777",
            "127.0.0.1",
            "127.0.0.1:80",
            "[::1]",
            "[::1]:37777",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "",
            "evil.com",
            "localhost.evil.com",
            "127.0.0.1.nip.io",
            "10.0.0.1:80",
            "[::2]",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }

    #[test]
    fn token_is_created_once_0600_and_compared() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("api-token");
        let t = Token::load_or_create(&p).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = Token::load_or_create(&p).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(t.matches(&text) && again.matches(&text));
        assert_eq!(text.len(), 64);
        assert!(!t.matches("nope"));
        assert!(!t.matches(&"0".repeat(64)));
    }
}
