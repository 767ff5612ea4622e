//! The memory viewer: its page and assets (compiled in, so it works offline and needs no
//! build step), and `POST /v1/viewer/login`, which issues the one-time link that
//! `claudectl mem open` prints.

use super::Fail;
use crate::Memd;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use claude_daemons::http::viewer_login::CODE_LIFETIME;
use serde_json::{json, Value};
use std::sync::Arc;

const INDEX: &str = include_str!("../viewer/index.html");

/// Files under `/assets/`: name, content type, bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../viewer/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../viewer/app.css"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_bytes!("../viewer/icon.svg"),
    ),
];

/// `GET /`.
pub async fn index() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        INDEX,
    )
        .into_response()
}

/// `GET /assets/{name}`.
pub async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, kind, bytes)) => (
            [
                (header::CONTENT_TYPE, *kind),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            *bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

/// `POST /v1/viewer/login`: a one-time login link to the viewer.
pub async fn login(State(m): State<Arc<Memd>>) -> Result<Json<Value>, Fail> {
    let Some(viewer) = &m.viewer else {
        return Err(Fail(
            StatusCode::CONFLICT,
            "the viewer is off ([memory] viewer_port = 0)".into(),
        ));
    };
    let code = viewer
        .issue()
        .map_err(|e| Fail(StatusCode::TOO_MANY_REQUESTS, e.to_string()))?;
    let port = m.config.memory.viewer_port;
    Ok(Json(json!({
        "url": format!("http://127.0.0.1:{port}/login/{code}"),
        "viewer": format!("http://127.0.0.1:{port}/"),
        "expires_in_secs": CODE_LIFETIME.as_secs(),
    })))
}
