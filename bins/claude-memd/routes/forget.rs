//! `DELETE /v1/observations/{id}`, `/v1/summaries/{id}`, `/v1/prompts/{id}`: forget one
//! record for good (see [`crate::forget`]) and tell open viewers.

use super::{with_db, ApiResult, Fail};
use crate::announce::Announce;
use crate::forget::{self, Record};
use crate::Memd;
use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;

async fn forget_one(m: Arc<Memd>, r: Record, id: i64) -> ApiResult<Value> {
    let (project, checkpointed) = with_db(&m, move |c| {
        let Some(project) = forget::forget(c, r, id)? else {
            return Err(Fail::not_found(format!("no {} {id}", r.name())));
        };
        Ok((project, forget::checkpoint(c)?))
    })
    .await?;
    if !checkpointed {
        tracing::warn!(
            record = r.name(),
            id,
            "WAL checkpoint kept busy; old pages stay in the WAL until the next one"
        );
    }
    tracing::info!(record = r.name(), id, %project, "record forgotten");
    m.announce.send(Announce::deleted(r.name(), id, &project));
    Ok(Json(
        json!({"deleted": true, "record": r.name(), "id": id, "checkpointed": checkpointed}),
    ))
}

/// `DELETE /v1/observations/{id}`.
pub async fn observation(State(m): State<Arc<Memd>>, Path(id): Path<i64>) -> ApiResult<Value> {
    forget_one(m, Record::Observation, id).await
}

/// `DELETE /v1/summaries/{id}`.
pub async fn summary(State(m): State<Arc<Memd>>, Path(id): Path<i64>) -> ApiResult<Value> {
    forget_one(m, Record::Summary, id).await
}

/// `DELETE /v1/prompts/{id}`.
pub async fn prompt(State(m): State<Arc<Memd>>, Path(id): Path<i64>) -> ApiResult<Value> {
    forget_one(m, Record::Prompt, id).await
}
