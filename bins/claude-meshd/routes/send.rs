//! `POST /v1/send`.

use crate::mesh::{ApiError, Mesh};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use claude_daemons::api::mesh::IDEMPOTENCY_KEY;
use std::sync::Arc;

pub async fn send(State(mesh): State<Arc<Mesh>>, headers: HeaderMap, raw: Bytes) -> Response {
    let header_id = match headers.get(IDEMPOTENCY_KEY).map(|v| v.to_str()) {
        None => None,
        Some(Ok(v)) => Some(v.to_string()),
        Some(Err(_)) => {
            return ApiError::new(
                400,
                "invalid_client_message_id",
                "Idempotency-Key is not ASCII",
            )
            .into_response()
        }
    };
    let prepared = match mesh.prepare(header_id.as_deref(), &raw) {
        Ok(p) => p,
        Err(e) => {
            tracing::info!(error = %e.body.error, reason = %e.body.reason, "send refused");
            return e.into_response();
        }
    };
    match mesh.send(prepared).await {
        Ok((status, body)) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::ACCEPTED),
            Json(body),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}
