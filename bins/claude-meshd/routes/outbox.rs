//! `GET /v1/outbox` and `POST /v1/outbox/requeue`.

use super::{body, db, query};
use crate::mesh::{valid_client_id, ApiError, Mesh};
use crate::outbox::{self, RequeueError};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::Uri;
use axum::Json;
use claude_daemons::api::mesh::{OutboxItem, RequeueRequest, RequeueResponse, MAX_PAGE};
use serde::Deserialize;
use std::sync::Arc;

const STATES: [&str; 5] = ["pending", "inflight", "done", "dead", "aborted"];

#[derive(Deserialize)]
struct Params {
    /// Comma-separated states.
    state: Option<String>,
    #[serde(default)]
    since: i64,
    limit: Option<usize>,
}

pub async fn list(
    State(mesh): State<Arc<Mesh>>,
    uri: Uri,
) -> Result<Json<Vec<OutboxItem>>, ApiError> {
    let p: Params = query(&uri)?;
    let mut states = Vec::new();
    for s in p
        .state
        .iter()
        .flat_map(|s| s.split(','))
        .filter(|s| !s.is_empty())
    {
        if !STATES.contains(&s) {
            return Err(ApiError::new(
                400,
                "invalid_query",
                format!("unknown state {s:?}; use {}", STATES.join(", ")),
            ));
        }
        states.push(s.to_string());
    }
    let limit = p.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::new(
            400,
            "invalid_query",
            format!("limit must be 1 to {MAX_PAGE}"),
        ));
    }
    Ok(Json(
        db(&mesh, move |c| outbox::list(c, &states, p.since, limit)).await?,
    ))
}

pub async fn requeue(
    State(mesh): State<Arc<Mesh>>,
    raw: Bytes,
) -> Result<Json<RequeueResponse>, ApiError> {
    let req: RequeueRequest = body(&raw)?;
    let new_id = match req.new_client_message_id {
        Some(id) if valid_client_id(&id) => id,
        Some(id) => {
            return Err(ApiError::new(
                400,
                "invalid_client_message_id",
                format!("{id:?} is not a valid client_message_id"),
            ))
        }
        None => ulid::Ulid::new().to_string(),
    };
    let nid = new_id.clone();
    let r = mesh
        .db
        .call(move |c| outbox::requeue(c, &req.id, &nid, "api"))
        .await
        .map_err(ApiError::internal)?;
    match r {
        Ok((aborted, id)) => {
            tracing::info!(%aborted, new = %new_id, "outbox row requeued");
            mesh.wake.notify_one();
            Ok(Json(RequeueResponse {
                aborted,
                client_message_id: new_id,
                id,
            }))
        }
        Err(e @ RequeueError::NotFound(_)) => {
            Err(ApiError::new(404, "outbox_not_found", e.to_string()))
        }
        Err(e @ RequeueError::NotAllowed { .. }) => Err(ApiError::new(
            409,
            "outbox_requeue_not_allowed",
            e.to_string(),
        )),
        Err(e @ RequeueError::IdInUse(_)) => Err(ApiError::new(
            409,
            "client_message_id_in_use",
            e.to_string(),
        )),
        Err(RequeueError::Sqlite(e)) => Err(ApiError::internal(e)),
    }
}
