//! `GET /v1/sessions[/{key}]`, `DELETE /v1/sessions/{key}`, `POST …/interrupt`.

use super::{check_key, db_error, App, Error};
use crate::records::{self, SessionRecord};
use crate::session::{Command, SessionHandle};
use axum::extract::{Path, Query, State};
use axum::Json;
use claude_daemons::api::supervisor::{InterruptResult, SessionInfo, SessionList, StopResult};
use serde::Deserialize;
use std::sync::Arc;
use tokio::sync::oneshot;

fn info(r: SessionRecord, live: Option<&SessionHandle>) -> SessionInfo {
    let l = live.map(SessionHandle::live);
    SessionInfo {
        key: r.key,
        session_id: r.session_id,
        kind: r.kind.as_str().into(),
        cwd: r.settings.cwd,
        model: r.settings.model,
        permission_mode: r.settings.permission_mode,
        allowed_tools: r.settings.allowed_tools,
        isolated: r.settings.isolated,
        turns: r.turns,
        total_cost_usd: r.total_cost_usd,
        created_at: r.created_at,
        updated_at: r.updated_at,
        state: l.as_ref().map_or("idle", |l| l.state).into(),
        pid: l.as_ref().and_then(|l| l.pid),
        queued: l.as_ref().map_or(0, |l| l.queued),
        recent_crashes: l.as_ref().map_or(0, |l| l.recent_crashes),
        failure: l.and_then(|l| l.failure),
    }
}

pub async fn list(State(app): State<Arc<App>>) -> Result<Json<SessionList>, Error> {
    let rows = app
        .pool
        .db
        .call(|c| records::list(c))
        .await
        .map_err(db_error)?
        .map_err(db_error)?;
    let sessions = rows
        .into_iter()
        .map(|r| {
            let h = app.pool.get(&r.key);
            info(r, h.as_ref())
        })
        .collect();
    Ok(Json(SessionList { sessions }))
}

async fn load(app: &App, key: &str) -> Result<SessionRecord, Error> {
    check_key(key)?;
    let k = key.to_string();
    app.pool
        .db
        .call(move |c| records::get(c, &k))
        .await
        .map_err(db_error)?
        .map_err(db_error)?
        .ok_or_else(|| Error::new("not_found", format!("no session {key}")))
}

pub async fn show(
    State(app): State<Arc<App>>,
    Path(key): Path<String>,
) -> Result<Json<SessionInfo>, Error> {
    let r = load(&app, &key).await?;
    let h = app.pool.get(&key);
    Ok(Json(info(r, h.as_ref())))
}

#[derive(Deserialize)]
pub struct StopQuery {
    #[serde(default)]
    forget: bool,
}

pub async fn stop(
    State(app): State<Arc<App>>,
    Path(key): Path<String>,
    Query(q): Query<StopQuery>,
) -> Result<Json<StopResult>, Error> {
    load(&app, &key).await?;
    if let Some(h) = app.pool.get(&key) {
        let (reply, rx) = oneshot::channel();
        if h.tx
            .send(Command::Stop {
                forget: q.forget,
                reply,
            })
            .is_ok()
        {
            if let Ok((stopped, forgotten)) = rx.await {
                app.pool.remove(&key, &h);
                return Ok(Json(StopResult { stopped, forgotten }));
            }
        }
        app.pool.remove(&key, &h);
    }
    let mut forgotten = false;
    if q.forget {
        let k = key.clone();
        forgotten = app
            .pool
            .db
            .call(move |c| records::delete(c, &k))
            .await
            .map_err(db_error)?
            .map_err(db_error)?;
    }
    Ok(Json(StopResult {
        stopped: false,
        forgotten,
    }))
}

pub async fn interrupt(
    State(app): State<Arc<App>>,
    Path(key): Path<String>,
) -> Result<Json<InterruptResult>, Error> {
    load(&app, &key).await?;
    let mut interrupted = false;
    if let Some(h) = app.pool.get(&key) {
        let (reply, rx) = oneshot::channel();
        if h.tx.send(Command::Interrupt(reply)).is_ok() {
            interrupted = rx.await.unwrap_or(false);
        }
    }
    Ok(Json(InterruptResult { interrupted }))
}
