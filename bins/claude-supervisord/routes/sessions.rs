//! `GET /v1/sessions[/{key}]`, `PUT /v1/sessions/{key}`, `DELETE /v1/sessions/{key}`,
//! `POST …/interrupt`, `POST …/start` (prewarm), `POST …/fork`.

use super::{body, check_key, db_error, options, App, Error};
use crate::handle::{Command, SessionHandle};
use crate::records::{self, RecordError, SessionRecord};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use claude_daemons::api::supervisor::{
    ForkRequest, InterruptResult, SessionInfo, SessionList, SessionOptions, StopResult,
};
use serde::Deserialize;
use std::sync::Arc;
use tokio::sync::oneshot;

fn info(r: SessionRecord, live: Option<&SessionHandle>) -> SessionInfo {
    let l = live.map(SessionHandle::live);
    SessionInfo {
        key: r.key,
        session_id: r.session_id,
        kind: r.settings.kind.as_str().into(),
        cwd: r.settings.cwd.clone(),
        model: r.settings.model.clone(),
        permission_mode: r.settings.permission_mode.clone(),
        allowed_tools: r.settings.allowed_tools.clone(),
        isolated: r.settings.isolated,
        options: r.settings.to_options(),
        turns: r.turns,
        total_cost_usd: r.total_cost_usd,
        created_at: r.created_at,
        updated_at: r.updated_at,
        state: l.as_ref().map_or("idle", |l| l.state).into(),
        pid: l.as_ref().and_then(|l| l.pid),
        queued: l.as_ref().map_or(0, |l| l.queued),
        recent_crashes: l.as_ref().map_or(0, |l| l.recent_crashes),
        input: l
            .as_ref()
            .and_then(|l| l.terminal.as_ref())
            .and_then(|t| t.input())
            .map(String::from),
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
    Ok(Json(stop_session(&app, &key, q.forget).await?))
}

/// Stop the session's process; with `forget`, also drop the session.
pub async fn stop_session(app: &App, key: &str, forget: bool) -> Result<StopResult, Error> {
    if let Some(fleet) = &app.fleet {
        fleet.release(key);
        if forget {
            fleet.forget(key).await;
        }
    }
    if let Some(h) = app.pool.get(key) {
        let (reply, rx) = oneshot::channel();
        if h.tx.send(Command::Stop { forget, reply }).is_ok() {
            if let Ok((stopped, forgotten)) = rx.await {
                app.pool.remove(key, &h);
                return Ok(StopResult { stopped, forgotten });
            }
        }
        app.pool.remove(key, &h);
    }
    let mut forgotten = false;
    if forget {
        let k = key.to_string();
        forgotten = app
            .pool
            .db
            .call(move |c| records::delete(c, &k))
            .await
            .map_err(db_error)?
            .map_err(db_error)?;
    }
    Ok(StopResult {
        stopped: false,
        forgotten,
    })
}

pub async fn interrupt(
    State(app): State<Arc<App>>,
    Path(key): Path<String>,
) -> Result<Json<InterruptResult>, Error> {
    check_key(&key)?;
    if let (None, Some(fleet)) = (app.pool.get(&key), &app.fleet) {
        if let Some(host) = fleet.owner_elsewhere(&key).await {
            let interrupted = fleet.forward_interrupt(&host, &key).await?;
            return Ok(Json(InterruptResult { interrupted }));
        }
    }
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

/// `PUT /v1/sessions/{key}`: create the session or change its options; a running process
/// takes them before its next turn.
pub async fn put(
    State(app): State<Arc<App>>,
    Path(key): Path<String>,
    b: Result<Bytes, BytesRejection>,
) -> Result<Json<SessionInfo>, Error> {
    check_key(&key)?;
    let opts: SessionOptions = body(b, "session options")?;
    options::validate(&opts)?;
    options::session_for(&app, &key, opts).await?;
    show(State(app), Path(key)).await
}

/// `POST /v1/sessions/{key}/start`: spawn the process now (created with default options
/// if new), so the first ask pays no start-up; answers once it is ready.
pub async fn start(
    State(app): State<Arc<App>>,
    Path(key): Path<String>,
) -> Result<Json<SessionInfo>, Error> {
    check_key(&key)?;
    let (h, _) = options::session_for(&app, &key, SessionOptions::default()).await?;
    let (reply, rx) = tokio::sync::oneshot::channel();
    if h.tx.send(Command::Start(reply)).is_err() {
        return Err(Error::new("stopped", format!("session {key} is stopping")));
    }
    match rx.await {
        Ok(Ok(())) => show(State(app), Path(key)).await,
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(Error::new("stopped", format!("session {key} stopped"))),
    }
}

/// `POST /v1/sessions/{key}/fork {"new_key"}`: a new session that continues a copy of this
/// one's conversation; this one is untouched.
pub async fn fork(
    State(app): State<Arc<App>>,
    Path(key): Path<String>,
    b: Result<Bytes, BytesRejection>,
) -> Result<Json<SessionInfo>, Error> {
    check_key(&key)?;
    let req: ForkRequest = body(b, "fork body")?;
    check_key(&req.new_key)?;
    let (k, nk) = (key.clone(), req.new_key.clone());
    app.pool
        .db
        .call(move |c| records::fork(c, &k, &nk))
        .await
        .map_err(db_error)?
        .map_err(|e| match e {
            RecordError::NotFound(_) => Error::new("not_found", e.to_string()),
            RecordError::Exists(_) => Error::new("conflict", e.to_string()),
            e => db_error(e),
        })?;
    show(State(app), Path(req.new_key)).await
}
