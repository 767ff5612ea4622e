//! `GET /v1/status` and `GET /v1/events` (SSE of lifecycle events).

use super::App;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::Json;
use claude_daemons::api::supervisor::{ChildInfo, LifecycleEvent, SupervisorStatus};
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;

pub async fn status(State(app): State<Arc<App>>) -> Json<SupervisorStatus> {
    let pool = &app.pool;
    let mut children: Vec<ChildInfo> = pool
        .all()
        .into_iter()
        .filter_map(|(key, h)| {
            let l = h.live();
            Some(ChildInfo {
                key,
                pid: l.pid?,
                state: l.state.into(),
                age_ms: l.spawned_at.map_or(0, |t| t.elapsed().as_millis() as u64),
            })
        })
        .collect();
    children.sort_by(|a, b| a.key.cmp(&b.key));
    Json(SupervisorStatus {
        daemon_id: app.daemon_id.clone(),
        version: env!("CARGO_PKG_VERSION").into(),
        pid: std::process::id(),
        state: if pool.shutdown.is_cancelled() {
            "draining"
        } else {
            "serving"
        }
        .into(),
        claude_bin: pool.config.claude_bin.clone(),
        max_processes: pool.max_processes(),
        children,
        recent_events: pool.events.recent(),
    })
}

fn sse(e: &LifecycleEvent) -> Event {
    Event::default()
        .event("lifecycle")
        .id(e.seq.to_string())
        .data(serde_json::to_string(e).expect("event serializes"))
}

/// Live events; with `Last-Event-ID`, first the ones after it still in the ring. Ends when
/// the daemon drains.
pub async fn events(State(app): State<Arc<App>>, headers: HeaderMap) -> impl IntoResponse {
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let (backlog, rx) = app.pool.events.subscribe_after(after.unwrap_or(u64::MAX));
    let shutdown = app.pool.shutdown.clone();
    let backlog = futures_util::stream::iter(
        backlog
            .into_iter()
            .map(|e| Ok::<_, Infallible>(sse(&e)))
            .collect::<Vec<_>>(),
    );
    let live = futures_util::stream::unfold(rx, move |mut rx| {
        let shutdown = shutdown.clone();
        async move {
            tokio::select! {
                _ = shutdown.cancelled() => None,
                r = rx.recv() => match r {
                    Ok(e) => Some((Ok(sse(&e)), rx)),
                    Err(RecvError::Lagged(n)) => {
                        let c = Event::default().comment(format!("{n} events dropped"));
                        Some((Ok(c), rx))
                    }
                    Err(RecvError::Closed) => None,
                }
            }
        }
    });
    use futures_util::StreamExt;
    Sse::new(backlog.chain(live)).keep_alive(KeepAlive::default())
}
