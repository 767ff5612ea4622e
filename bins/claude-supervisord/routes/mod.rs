//! The HTTP API (`/v1/sessions/…`, `/v1/status`, `/v1/events`); types in
//! `claude_daemons::api::supervisor`.

mod ask;
mod channel;
mod content;
mod fleet;
mod forward;
mod interactive;
mod openai;
mod options;
mod permissions;
mod sessions;
mod status;

use crate::pool::Pool;
use crate::turn::TurnError;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use claude_daemons::api::supervisor::{valid_session_key, ApiError};
use std::sync::Arc;

/// What every handler gets.
pub struct App {
    pub pool: Pool,
    pub daemon_id: String,
    /// With `[supervisor] broker_url`: this host's membership of the fleet.
    pub fleet: Option<Arc<crate::fleet::Fleet>>,
}

pub use ask::run_forwarded;
pub use forward::answer as answer_forwarded;

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/v1/sessions", get(sessions::list))
        .route(
            "/v1/sessions/{key}",
            get(sessions::show)
                .put(sessions::put)
                .delete(sessions::stop),
        )
        .route("/v1/sessions/{key}/ask", post(ask::ask))
        .route("/v1/sessions/{key}/start", post(sessions::start))
        .route("/v1/sessions/{key}/fork", post(sessions::fork))
        .route("/v1/sessions/{key}/permissions", get(permissions::list))
        .route(
            "/v1/sessions/{key}/permissions/{id}",
            post(permissions::decide),
        )
        .route("/v1/sessions/{key}/interrupt", post(sessions::interrupt))
        .route("/v1/sessions/{key}/screen", get(interactive::screen))
        .route("/v1/sessions/{key}/attach", get(interactive::attach))
        .route("/v1/sessions/{key}/stop-hook", post(interactive::stop_hook))
        .route("/v1/sessions/{key}/channel", get(channel::open))
        .route("/v1/sessions/{key}/channel/reply", post(channel::reply))
        .route("/v1/chat/completions", post(openai::completions))
        .route("/v1/models", get(openai::models))
        .route("/v1/status", get(status::status))
        .route("/v1/fleet", get(fleet::view))
        .route("/v1/events", get(status::events))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            forward::layer,
        ))
        .with_state(app)
}

/// An error answer.
pub struct Error(TurnError);

impl Error {
    pub fn new(code: &'static str, message: impl Into<String>) -> Error {
        Error(TurnError::new(code, message))
    }
}

impl Error {
    pub fn into_inner(self) -> TurnError {
        self.0
    }
}

impl From<TurnError> for Error {
    fn from(e: TurnError) -> Error {
        Error(e)
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = ApiError {
            error: self.0.code.into(),
            message: self.0.message,
        };
        (status, Json(body)).into_response()
    }
}

pub fn check_key(key: &str) -> Result<(), Error> {
    if valid_session_key(key) {
        Ok(())
    } else {
        Err(Error::new(
            "bad_request",
            "session keys are 1–200 characters of letters, digits and . _ - : @ +",
        ))
    }
}

/// A JSON body of type `T`; errors say which body and why.
pub fn body<T: serde::de::DeserializeOwned>(
    b: Result<Bytes, BytesRejection>,
    what: &str,
) -> Result<T, Error> {
    let b = b.map_err(|e| Error::new("too_large", format!("{what}: {}", e.body_text())))?;
    serde_json::from_slice(&b).map_err(|e| Error::new("bad_request", format!("{what}: {e}")))
}

pub fn db_error(e: impl std::fmt::Display) -> Error {
    tracing::error!("database: {e}");
    Error::new("internal", format!("database: {e}"))
}
