//! `GET /v1/export` and `POST /v1/import/memory`: this daemon's own export format (see
//! [`crate::transfer`]).

use super::{with_db, ApiResult, Fail};
use crate::{transfer, Memd};
use axum::extract::{Query, State};
use axum::Json;
use claude_daemons::api::memory_transfer::{
    ExportPage, ExportQuery, MemoryImport, MemoryImportResult,
};
use std::sync::Arc;

/// `GET /v1/export`: one page of one kind of record.
pub async fn export(
    State(m): State<Arc<Memd>>,
    Query(q): Query<ExportQuery>,
) -> ApiResult<ExportPage> {
    with_db(&m, move |c| Ok(transfer::export(c, &q)?))
        .await
        .map(Json)
}

/// `POST /v1/import/memory`: a batch of exported records, all or nothing.
pub async fn import(
    State(m): State<Arc<Memd>>,
    Json(req): Json<MemoryImport>,
) -> ApiResult<MemoryImportResult> {
    let n = req.records.len();
    let exclude = m.config.memory.exclude_projects.clone();
    // Checks and privacy rules first, on the blocking pool (in parallel): the database
    // thread only runs the transaction.
    let batch = tokio::task::spawn_blocking(move || transfer::prepare(req.records, &exclude))
        .await
        .map_err(Fail::internal)??;
    let r = with_db(&m, move |c| Ok(transfer::import(c, batch)?)).await?;
    tracing::info!(
        records = n,
        imported = r.imported,
        duplicates = r.duplicates,
        "memory imported"
    );
    Ok(Json(r))
}
