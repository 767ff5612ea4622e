//! `POST /v1/send`: one send (a JSON object) or a batch (a JSON array of them).

use crate::mesh::{ApiError, Mesh};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use claude_daemons::api::mesh::{
    SendBatchResponse, SendBatchResult, SendRequest, IDEMPOTENCY_KEY, MAX_BATCH_ITEMS,
    MAX_BATCH_REQUEST_BYTES,
};
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
    if raw.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return match batch(&mesh, header_id.is_some(), &raw).await {
            Ok(r) => Json(r).into_response(),
            Err(e) => {
                tracing::info!(error = %e.body.error, reason = %e.body.reason, "batch send refused");
                e.into_response()
            }
        };
    }
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

/// A batch: every item validated first (one bad item refuses the lot, naming its index,
/// nothing stored), then all applied in order in one transaction. Per-sender order is the
/// array's order; sends from many programs arriving together cost one commit per batch
/// instead of one per message.
async fn batch(
    mesh: &Arc<Mesh>,
    has_header_id: bool,
    raw: &[u8],
) -> Result<SendBatchResponse, ApiError> {
    if has_header_id {
        return Err(ApiError::new(
            400,
            "invalid_client_message_id",
            "Idempotency-Key names one send; give each item of a batch its client_message_id",
        ));
    }
    let items: Vec<SendRequest> =
        crate::mesh::bounded_json(raw, MAX_BATCH_REQUEST_BYTES, "batch", "batch")?;
    if items.is_empty() {
        return Err(ApiError::new(400, "empty_batch", "the batch has no sends"));
    }
    if items.len() > MAX_BATCH_ITEMS {
        return Err(ApiError::new(
            413,
            "batch_too_large",
            format!(
                "batch has {} sends; the limit is {MAX_BATCH_ITEMS}",
                items.len()
            ),
        ));
    }
    let mut sends = Vec::with_capacity(items.len());
    for (i, req) in items.into_iter().enumerate() {
        let s = mesh.prepare_request(None, req).map_err(|mut e| {
            e.body.reason = format!("item {i}: {}", e.body.reason);
            e.with("index", i)
        })?;
        sends.push(s);
    }
    let results = mesh
        .send_all(sends)
        .await?
        .into_iter()
        .map(|r| match r {
            Ok((code, sent)) => SendBatchResult {
                code,
                sent: Some(sent),
                error: None,
            },
            Err(e) => SendBatchResult {
                code: e.status,
                sent: None,
                error: Some(*e.body),
            },
        })
        .collect();
    Ok(SendBatchResponse { results })
}
