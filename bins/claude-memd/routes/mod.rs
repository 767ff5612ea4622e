//! The HTTP API: hook intake, queries, deletes, seed 000's routes, the live stream and the
//! viewer page.

mod edit;
mod forget;
pub mod hooks;
mod import;
mod legacy;
mod query;
mod share;
mod stream;
mod transfer;
mod viewer;

use crate::Memd;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use claude_daemons::api::memory::{ApiError, MAX_HOOK_BYTES, MAX_IMPORT_BYTES};
use std::sync::Arc;

/// Every route of claude-memd except `/v1/health` and `/v1/version` (the runtime's).
pub fn router(m: Arc<Memd>) -> Router {
    let hooks = Router::new()
        .route("/v1/hook", post(hooks::hook))
        .route("/v1/hooks/{event}", post(hooks::hook_event))
        .route("/v1/recall/file", post(hooks::recall_file))
        .route("/sessions/{id}/observations", post(legacy::add_observation))
        .route("/sessions/{id}/summarize", post(legacy::summarize))
        .layer(DefaultBodyLimit::max(MAX_HOOK_BYTES));
    let imports = Router::new()
        .route("/v1/import", post(import::import))
        .route("/v1/import/memory", post(transfer::import))
        .layer(DefaultBodyLimit::max(MAX_IMPORT_BYTES));
    Router::new()
        .merge(hooks)
        .merge(imports)
        .route("/v1/search", get(query::search))
        .route("/v1/timeline", get(query::timeline))
        .route(
            "/v1/observations/{id}",
            get(query::observation)
                .delete(forget::observation)
                .patch(edit::observation),
        )
        .route("/v1/forget", post(forget::many))
        .route("/v1/export", get(transfer::export))
        .route("/v1/summaries/{id}", delete(forget::summary))
        .route("/v1/prompts/{id}", delete(forget::prompt))
        .route("/v1/viewer/login", post(viewer::login))
        .route("/", get(viewer::index))
        .route("/assets/{name}", get(viewer::asset))
        .route("/v1/context", get(query::context))
        .route("/v1/prune", post(query::prune))
        .route("/v1/share", get(share::status).post(share::set))
        .route("/health", get(legacy::health))
        .route("/stream", get(stream::stream))
        .route("/api/prompts", get(legacy::prompts))
        .route("/api/observations", get(legacy::observations))
        .route("/api/summaries", get(legacy::summaries))
        .route("/api/stats", get(legacy::stats))
        .route(
            "/api/settings",
            get(legacy::get_settings).post(legacy::save_settings),
        )
        .route("/sessions/{id}/init", post(legacy::init))
        .route("/sessions/{id}/status", get(legacy::status))
        .route("/sessions/{id}", delete(legacy::delete))
        .layer(DefaultBodyLimit::max(1 << 20))
        .with_state(m)
}

/// An error answer: status and `{"error": reason}`.
#[derive(Debug)]
pub struct Fail(pub StatusCode, pub String);

impl Fail {
    /// 400 with a reason.
    pub fn bad(reason: impl std::fmt::Display) -> Fail {
        Fail(StatusCode::BAD_REQUEST, reason.to_string())
    }

    /// 404 with a reason.
    pub fn not_found(reason: impl std::fmt::Display) -> Fail {
        Fail(StatusCode::NOT_FOUND, reason.to_string())
    }

    /// 500 with a reason (logged).
    pub fn internal(reason: impl std::fmt::Display) -> Fail {
        let reason = reason.to_string();
        tracing::error!(%reason, "request failed");
        Fail(StatusCode::INTERNAL_SERVER_ERROR, reason)
    }
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        (self.0, Json(ApiError { error: self.1 })).into_response()
    }
}

impl From<rusqlite::Error> for Fail {
    fn from(e: rusqlite::Error) -> Fail {
        Fail::internal(format!("database: {e}"))
    }
}

/// Run `f` on the read connection (blocking pool).
pub async fn with_db<R, F>(m: &Memd, f: F) -> Result<R, Fail>
where
    R: Send + 'static,
    F: FnOnce(&mut rusqlite::Connection) -> Result<R, Fail> + Send + 'static,
{
    m.db.call(f).await.map_err(Fail::internal)?
}

impl From<crate::search::QueryError> for Fail {
    fn from(e: crate::search::QueryError) -> Fail {
        match e {
            crate::search::QueryError::Bad(m) => Fail::bad(m),
            crate::search::QueryError::Db(e) => e.into(),
        }
    }
}

/// Result of a JSON route.
pub type ApiResult<T> = Result<Json<T>, Fail>;
