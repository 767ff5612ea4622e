//! The HTTP API of claude-meshd (`/v1/...`); `/v1/health` and `/v1/version` come from the
//! shared runtime.

mod events;
mod inbox;
mod outbox;
mod peers;
mod send;
mod sessions;

use crate::mesh::{ApiError, Mesh};
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use claude_daemons::api::mesh::MAX_BATCH_REQUEST_BYTES;
use std::sync::Arc;

/// All routes.
pub fn router(mesh: Arc<Mesh>) -> Router {
    Router::new()
        // Twice the batch limit, so a batch somewhat over it gets the JSON 413 that names it.
        .route(
            "/v1/send",
            post(send::send).layer(DefaultBodyLimit::max(2 * MAX_BATCH_REQUEST_BYTES)),
        )
        .route("/v1/inbox", get(inbox::list))
        .route("/v1/events", get(events::stream))
        .route("/v1/peers", get(peers::list).post(peers::register))
        .route("/v1/peers/{session}", delete(peers::leave))
        .route("/v1/members", get(peers::members))
        .route(
            "/v1/profile",
            get(peers::profile).post(peers::update_profile),
        )
        .route("/v1/outbox", get(outbox::list))
        .route("/v1/outbox/requeue", post(outbox::requeue))
        .route("/v1/sessions/{session}/status", post(sessions::status))
        .route("/v1/sessions/{session}/context", post(sessions::context))
        .route("/v1/sessions/{session}/push", post(sessions::push))
        .with_state(mesh)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(*self.body)).into_response()
    }
}

/// Parse the query string into `T`, refusing with a JSON 400 that names the problem.
pub fn query<T: serde::de::DeserializeOwned>(uri: &Uri) -> Result<T, ApiError> {
    axum::extract::Query::<T>::try_from_uri(uri)
        .map(|q| q.0)
        .map_err(|e| ApiError::new(400, "invalid_query", e.body_text()))
}

/// Parse a JSON body into `T`, refusing with a JSON 400.
pub fn body<T: serde::de::DeserializeOwned>(raw: &[u8]) -> Result<T, ApiError> {
    if raw.len() > 64 * 1024 {
        return Err(ApiError::new(
            413,
            "request_too_large",
            "request over 64 KiB",
        ));
    }
    let text = std::str::from_utf8(raw).map_err(|e| {
        ApiError::new(
            400,
            "invalid_utf8",
            format!("request body is not UTF-8: {e}"),
        )
    })?;
    serde_json::from_str(text).map_err(|e| ApiError::new(400, "invalid_body", e.to_string()))
}

/// Run a database closure, mapping both failure layers to a 500.
pub async fn db<R: Send + 'static>(
    mesh: &Mesh,
    f: impl FnOnce(&mut rusqlite::Connection) -> rusqlite::Result<R> + Send + 'static,
) -> Result<R, ApiError> {
    mesh.db
        .call(f)
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
}
