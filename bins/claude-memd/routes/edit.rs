//! `PATCH /v1/observations/{id}`: correct an observation by hand (see [`crate::edit`]).

use super::{with_db, ApiResult, Fail};
use crate::edit::{self, EditError};
use crate::{records, Memd};
use axum::extract::{Path, State};
use axum::Json;
use claude_daemons::api::memory::{Observation, ObservationEdit};
use std::sync::Arc;

/// `PATCH /v1/observations/{id}`: the observation as it now is.
pub async fn observation(
    State(m): State<Arc<Memd>>,
    Path(id): Path<i64>,
    Json(e): Json<ObservationEdit>,
) -> ApiResult<Observation> {
    let o = with_db(&m, move |c| {
        edit::edit(c, id, &e).map_err(|err| match err {
            EditError::Bad(reason) => Fail::bad(reason),
            EditError::NotFound(_) => Fail::not_found(err),
            EditError::Db(e) => e.into(),
        })?;
        records::get_observation(c, id)?
            .ok_or_else(|| Fail::not_found(format!("no observation {id}")))
    })
    .await?;
    tracing::info!(id, project = %o.project, "observation edited");
    Ok(Json(o))
}
