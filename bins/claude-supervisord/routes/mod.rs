//! The HTTP API (`/v1/sessions/…`, `/v1/status`, `/v1/events`); types in
//! `claude_daemons::api::supervisor`.

mod ask;
mod sessions;
mod status;

use crate::pool::Pool;
use crate::turn::TurnError;
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
}

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/v1/sessions", get(sessions::list))
        .route(
            "/v1/sessions/{key}",
            get(sessions::show).delete(sessions::stop),
        )
        .route("/v1/sessions/{key}/ask", post(ask::ask))
        .route("/v1/sessions/{key}/interrupt", post(sessions::interrupt))
        .route("/v1/status", get(status::status))
        .route("/v1/events", get(status::events))
        .with_state(app)
}

/// An error answer.
pub struct Error(TurnError);

impl Error {
    pub fn new(code: &'static str, message: impl Into<String>) -> Error {
        Error(TurnError::new(code, message))
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

pub fn db_error(e: impl std::fmt::Display) -> Error {
    tracing::error!("database: {e}");
    Error::new("internal", format!("database: {e}"))
}
