//! `POST /v1/import`: a batch of records from claude-mem, stored all or nothing.

use super::{with_db, ApiResult, Fail};
use crate::import::{self, ImportError};
use crate::Memd;
use axum::extract::State;
use axum::Json;
use claude_daemons::api::memory::{ImportRequest, ImportResult};
use std::sync::Arc;

impl From<ImportError> for Fail {
    fn from(e: ImportError) -> Fail {
        match e {
            ImportError::Bad(m) => Fail::bad(m),
            ImportError::Db(e) => e.into(),
        }
    }
}

/// `POST /v1/import`.
pub async fn import(
    State(m): State<Arc<Memd>>,
    Json(req): Json<ImportRequest>,
) -> ApiResult<ImportResult> {
    let n = req.records.len();
    let exclude = m.config.memory.exclude_projects.clone();
    let r = with_db(&m, move |c| Ok(import::store(c, req, &exclude)?)).await?;
    tracing::info!(
        records = n,
        imported = r.imported,
        duplicates = r.duplicates,
        "imported"
    );
    Ok(Json(r))
}
