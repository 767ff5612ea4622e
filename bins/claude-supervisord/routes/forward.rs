//! In a fleet: requests about a session another host holds — its record
//! (`GET /v1/sessions/{key}`), stopping it (`DELETE`) and its permission prompts
//! (`…/permissions[/{id}]`) — are
//! answered by that host, so a client that streams an ask through this host can answer the
//! prompts it sees the same way.

use super::{App, Error};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// Marks a request another host forwarded: it is answered here, never forwarded again.
pub const FORWARDED: &str = "x-claude-fleet-forwarded";

/// Largest request body forwarded (a permission answer with its updated input).
const MAX_BODY: usize = 4 << 20;

/// The session key of a request that follows its session to another host.
fn session_key(method: &Method, path: &str) -> Option<String> {
    let rest = path.strip_prefix("/v1/sessions/")?;
    let mut parts = rest.split('/');
    let key = parts.next().filter(|k| !k.is_empty())?;
    match (parts.next(), parts.next(), parts.next()) {
        (None, _, _) if method == Method::GET || method == Method::DELETE => Some(key.into()),
        (Some("permissions"), _, None) => Some(key.into()),
        _ => None,
    }
}

pub async fn layer(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let Some(fleet) = app.fleet.clone() else {
        return next.run(req).await;
    };
    let Some(key) = session_key(req.method(), req.uri().path()) else {
        return next.run(req).await;
    };
    if req.headers().contains_key(FORWARDED) || app.pool.get(&key).is_some() {
        return next.run(req).await;
    }
    let Some(host) = fleet.owner_elsewhere(&key).await else {
        return next.run(req).await;
    };
    let method = req.method().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let body = match axum::body::to_bytes(req.into_body(), MAX_BODY).await {
        Ok(b) => b,
        Err(e) => return Error::new("too_large", format!("body: {e}")).into_response(),
    };
    match fleet.forward_http(&host, method, path, body.to_vec()).await {
        Ok((status, body)) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Err(e) => Error::from(e).into_response(),
    }
}

/// Answer a request another host forwarded, through this host's own API.
pub async fn answer(app: Arc<App>, method: String, path: String, body: Vec<u8>) -> (u16, Vec<u8>) {
    use hyper::service::Service;
    let req = Request::builder()
        .method(method.as_str())
        .uri(path)
        .header(FORWARDED, "1")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body));
    let req = match req {
        Ok(r) => r,
        Err(e) => {
            return (
                400,
                format!("{{\"error\":\"bad_request\",\"message\":\"{e}\"}}").into_bytes(),
            )
        }
    };
    let svc = hyper_util::service::TowerToHyperService::new(super::router(app));
    match svc.call(req).await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .map(|b| b.to_vec())
                .unwrap_or_default();
            (status, body)
        }
        Err(e) => match e {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_sessions_own_record_and_prompts_follow_it() {
        let k = |m: Method, p: &str| session_key(&m, p);
        assert_eq!(k(Method::GET, "/v1/sessions/a::b").as_deref(), Some("a::b"));
        assert_eq!(k(Method::DELETE, "/v1/sessions/a").as_deref(), Some("a"));
        assert_eq!(k(Method::PUT, "/v1/sessions/a"), None);
        assert_eq!(
            k(Method::GET, "/v1/sessions/a/permissions").as_deref(),
            Some("a")
        );
        assert_eq!(
            k(Method::POST, "/v1/sessions/a/permissions/01J").as_deref(),
            Some("a")
        );
        assert_eq!(k(Method::POST, "/v1/sessions/a/ask"), None);
        assert_eq!(k(Method::GET, "/v1/sessions"), None);
        assert_eq!(k(Method::GET, "/v1/sessions/"), None);
    }
}
