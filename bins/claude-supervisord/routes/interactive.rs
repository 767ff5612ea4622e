//! Interactive sessions: `GET …/screen`, `GET …/attach` (an upgraded connection to the
//! session's terminal) and `POST …/stop-hook` (the child's own Stop hook calling back); its
//! channel server's routes are in `channel.rs`.

use super::{check_key, App, Error};
use crate::terminal::{Call, Terminal, ViewerGuard};
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use claude_daemons::api::supervisor::{AttachFrame, SessionScreen, ATTACH_PROTOCOL};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::broadcast::error::RecvError;

/// The running interactive child's terminal of `key`.
pub fn terminal(app: &App, key: &str) -> Result<Arc<Terminal>, Error> {
    check_key(key)?;
    let h = app
        .pool
        .get(key)
        .ok_or_else(|| Error::new("not_found", format!("session {key} has no process running")))?;
    h.live().terminal.ok_or_else(|| {
        Error::new(
            "not_found",
            format!("session {key} has no interactive process running (\"kind\": \"interactive\")"),
        )
    })
}

pub async fn screen(
    State(app): State<Arc<App>>,
    Path(key): Path<String>,
) -> Result<Json<SessionScreen>, Error> {
    let t = terminal(&app, &key)?;
    let (rows, cols) = t.size();
    Ok(Json(SessionScreen {
        key,
        pid: t.pid,
        rows,
        cols,
        text: t.text(),
        viewers: t.viewers(),
        typist: t.typist(),
    }))
}

pub async fn stop_hook(
    State(app): State<Arc<App>>,
    Path(key): Path<String>,
    body: Bytes,
) -> Result<StatusCode, Error> {
    let payload: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| Error::new("bad_request", format!("stop hook payload: {e}")))?;
    let t = of_session(&app, &key, payload["session_id"].as_str())?;
    t.call(Call::Stop(payload));
    Ok(StatusCode::NO_CONTENT)
}

/// The terminal of `key`'s interactive child, when it runs Claude session `session_id` (a
/// call back from a helper of an earlier process is refused).
pub fn of_session(app: &App, key: &str, session_id: Option<&str>) -> Result<Arc<Terminal>, Error> {
    let t = terminal(app, key)?;
    let expected = app.pool.get(key).map(|h| h.session_id.to_string());
    if session_id != expected.as_deref() {
        return Err(Error::new(
            "conflict",
            format!("the session_id is not the one of {key}'s process"),
        ));
    }
    Ok(t)
}

#[derive(Deserialize)]
pub struct AttachQuery {
    #[serde(default)]
    read_only: bool,
}

pub async fn attach(
    State(app): State<Arc<App>>,
    Path(key): Path<String>,
    Query(q): Query<AttachQuery>,
    req: Request,
) -> Result<Response, Error> {
    let asked = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok());
    if asked != Some(ATTACH_PROTOCOL) {
        return Err(Error::new(
            "bad_request",
            format!("attach needs `Connection: upgrade` and `Upgrade: {ATTACH_PROTOCOL}`"),
        ));
    }
    let t = terminal(&app, &key)?;
    let mut viewer = t.view();
    if !q.read_only && !viewer.take_typist() {
        return Err(Error::new(
            "conflict",
            format!("someone else is typing in {key}; attach with read_only=true to watch"),
        ));
    }
    let upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        match upgrade.await {
            Ok(io) => serve(TokioIo::new(io), t, viewer).await,
            Err(e) => tracing::debug!("attach upgrade failed: {e}"),
        }
    });
    let mut r = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let h = r.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static(ATTACH_PROTOCOL));
    Ok(r)
}

/// Pump the terminal to the viewer and the typist's frames to the terminal, until either
/// side ends. The session goes on.
async fn serve<IO>(io: IO, t: Arc<Terminal>, viewer: ViewerGuard)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut rd, mut wr) = tokio::io::split(io);
    let mut output = t.subscribe();
    if wr.write_all(&t.redraw()).await.is_err() {
        return;
    }
    let typist = viewer.is_typist();
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 16 << 10];
    loop {
        tokio::select! {
            o = output.recv() => {
                let bytes: Vec<u8> = match o {
                    Ok(b) => b.to_vec(),
                    // Fell behind: start again from the screen as it is.
                    Err(RecvError::Lagged(_)) => t.redraw(),
                    Err(RecvError::Closed) => return,
                };
                if wr.write_all(&bytes).await.is_err() || wr.flush().await.is_err() {
                    return;
                }
            }
            _ = t.closed() => {
                let _ = wr.write_all(b"\r\n[the session's process ended]\r\n").await;
                let _ = wr.shutdown().await;
                return;
            }
            n = rd.read(&mut chunk) => {
                let n = match n {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                loop {
                    match AttachFrame::decode(&mut buf) {
                        Ok(Some(AttachFrame::Input(b))) if typist => t.write(b),
                        Ok(Some(AttachFrame::Resize { rows, cols })) if typist => t.resize(rows, cols),
                        Ok(Some(_)) => {}
                        Ok(None) => break,
                        Err(e) => {
                            tracing::debug!("attach: {e}");
                            return;
                        }
                    }
                }
            }
        }
    }
}
