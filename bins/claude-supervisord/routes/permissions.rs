//! `GET /v1/sessions/{key}/permissions[?all=true]` and
//! `POST /v1/sessions/{key}/permissions/{id}`.

use super::{body, check_key, db_error, App, Error};
use crate::handle::Command;
use crate::permission_records;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use claude_daemons::api::supervisor::{
    Behavior, PermissionDecision, PermissionList, PermissionRequest,
};
use serde::Deserialize;
use std::sync::Arc;
use tokio::sync::oneshot;

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    all: bool,
}

/// Pending prompts of a session (with `?all=true`, every one kept, decided or not).
pub async fn list(
    State(app): State<Arc<App>>,
    Path(key): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Json<PermissionList>, Error> {
    check_key(&key)?;
    let permissions = app
        .pool
        .db
        .call(move |c| permission_records::list(c, &key, q.all))
        .await
        .map_err(db_error)?
        .map_err(db_error)?;
    Ok(Json(PermissionList { permissions }))
}

/// Answer a pending prompt: 404 if there is no such prompt, 409 if it was decided already.
pub async fn decide(
    State(app): State<Arc<App>>,
    Path((key, id)): Path<(String, String)>,
    b: Result<Bytes, BytesRejection>,
) -> Result<Json<PermissionRequest>, Error> {
    check_key(&key)?;
    let d: PermissionDecision = body(b, "permission decision")?;
    if d.behavior == Behavior::Deny && d.updated_input.is_some() {
        return Err(Error::new(
            "bad_request",
            "`updated_input` goes with `behavior: allow` only",
        ));
    }
    if d.updated_input.as_ref().is_some_and(|v| !v.is_object()) {
        return Err(Error::new(
            "bad_request",
            "`updated_input` must be an object",
        ));
    }
    if d.message.as_ref().is_some_and(|m| m.len() > 64 << 10)
        || d.by.as_ref().is_some_and(|b| b.len() > 200)
    {
        return Err(Error::new(
            "bad_request",
            "`message` is at most 64 KiB and `by` at most 200 bytes",
        ));
    }
    if let Some(h) = app.pool.get(&key) {
        let (reply, rx) = oneshot::channel();
        let cmd = Command::Permission {
            id: id.clone(),
            decision: d,
            reply,
        };
        if h.tx.send(cmd).is_ok() {
            if let Ok(Some(p)) = rx.await {
                return Ok(Json(p));
            }
        }
    }
    let i = id.clone();
    let known = app
        .pool
        .db
        .call(move |c| permission_records::get(c, &i))
        .await
        .map_err(db_error)?
        .map_err(db_error)?
        .filter(|p| p.key == key);
    Err(match known {
        Some(p) => Error::new(
            "conflict",
            format!(
                "permission {id} was {} already (by {})",
                p.state,
                p.decided_by.unwrap_or_default()
            ),
        ),
        None => Error::new(
            "not_found",
            format!("no pending permission {id} in session {key}"),
        ),
    })
}
