//! Rules for loopback TCP listeners, where any local process — and any web page the user
//! opens, through the browser — can connect: the Host must be a loopback name (DNS
//! rebinding), state-changing requests from a foreign `Origin` are refused, and every route
//! except the health probe needs the bearer token kept in the state directory or, where a
//! daemon serves a web page, the session cookie of a one-time login link
//! ([`ViewerLogin`]). Every answer forbids framing and carries a strict
//! Content-Security-Policy.

use super::viewer_login::ViewerLogin;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
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
        Token::same(&self.0, presented)
    }

    /// Constant-time equality of two secrets (their length is not secret).
    pub(crate) fn same(a: &str, b: &str) -> bool {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }

    /// The secret's bytes, as a key for deriving other secrets.
    pub(crate) fn secret(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// What a TCP request may authenticate with: the bearer token, and for daemons that serve a
/// web page, a login cookie.
#[derive(Clone, Debug)]
pub struct TcpAuth {
    /// The bearer token.
    pub token: Token,
    /// Browser logins, when the listener serves a page.
    pub viewer: Option<Arc<ViewerLogin>>,
}

/// Headers on every TCP answer: no framing, no sniffing, no referrer (a login link must not
/// leak), and only this origin's own scripts, styles and connections.
const SECURITY_HEADERS: [(&str, &str); 4] = [
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'",
    ),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
];

fn with_security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        h.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// The page a browser gets without a session: what to run to get one.
fn login_page(status: StatusCode, line: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>claude-memd: \
         log in</title></head><body><h1>{}</h1><p>{line}</p><p>Run <code>claudectl mem \
         open</code> for a one-time login link.</p></body></html>",
        status.as_u16()
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

/// `GET /login/<code>`: trade a one-time code for the session cookie.
fn login(viewer: &ViewerLogin, code: &str) -> Response {
    match viewer.redeem(code) {
        Some(session) => (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, "/".to_string()),
                (header::SET_COOKIE, ViewerLogin::set_cookie(&session)),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
        )
            .into_response(),
        None => login_page(
            StatusCode::UNAUTHORIZED,
            "This login link was already used or has expired.",
        ),
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

/// axum middleware enforcing the TCP rules; use with `from_fn_with_state(auth, tcp_guard)`.
pub async fn tcp_guard(State(auth): State<TcpAuth>, req: Request, next: Next) -> Response {
    with_security_headers(check(&auth, req, next).await)
}

async fn check(auth: &TcpAuth, req: Request, next: Next) -> Response {
    let token = &auth.token;
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
    let reads = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
    if !reads {
        if let Some(origin) = origin {
            let host_part = origin.split_once("://").map_or(origin, |(_, h)| h);
            if !is_loopback_host(host_part) {
                return refuse(StatusCode::FORBIDDEN, "cross-origin request refused");
            }
        }
    }
    if let (Some(viewer), Some(code)) = (&auth.viewer, req.uri().path().strip_prefix("/login/")) {
        return if *req.method() == Method::GET {
            login(viewer, code)
        } else {
            refuse(
                StatusCode::METHOD_NOT_ALLOWED,
                "login links are visited with GET",
            )
        };
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| token.matches(t.trim()));
    // A browser sends its cookie with whatever it requests here; a state change must also
    // say it comes from a loopback page (checked above), on top of SameSite=Strict.
    let cookie = auth.viewer.as_ref().is_some_and(|v| {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|c| c.to_str().ok())
            .filter_map(ViewerLogin::cookie_in)
            .any(|c| v.valid(c))
    }) && (reads || origin.is_some());
    let authorized = bearer || cookie;
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
    } else if auth.viewer.is_some() && wants_html(&req) {
        login_page(
            StatusCode::UNAUTHORIZED,
            "You are not logged in to this viewer.",
        )
    } else {
        refuse(
            StatusCode::UNAUTHORIZED,
            "bearer token required (see api-token in the state directory)",
        )
    }
}

/// A browser navigating (rather than a script or API client calling).
fn wants_html(req: &Request) -> bool {
    *req.method() == Method::GET
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|a| a.to_str().ok())
            .is_some_and(|a| a.contains("text/html"))
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
