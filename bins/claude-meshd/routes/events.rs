//! `GET /v1/events`: SSE. Starts with `: connected`, then `id:`/`event:`/`data:` records,
//! `: keepalive` every 15 s. `Last-Event-ID` (header, or `last_event_id` in the query)
//! replays what was missed from the event table. With `session=<id>` the stream carries only
//! what that session may read: another session's DMs never appear on it.

use super::{db, query};
use crate::events::{self, Event};
use crate::inbox::visible;
use crate::mesh::{passes, ApiError, Mesh};
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use claude_daemons::api::mesh::{InboxItem, PeerStatus};
use claude_daemons::daemon::ActivityGuard;
use futures::Stream;
use serde::Deserialize;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::{error::RecvError, Receiver};

#[derive(Deserialize)]
struct Params {
    session: Option<String>,
    last_event_id: Option<i64>,
    /// The stream of a channel pushing into the session (counted while it lasts).
    #[serde(default)]
    channel: bool,
}

struct Cursor {
    mesh: Arc<Mesh>,
    rx: Receiver<Arc<Event>>,
    last: i64,
    backlog: VecDeque<Event>,
    catch_up: bool,
    session: Option<String>,
    started: bool,
    /// Messages held back while the session is busy (not `now`), released when it is idle.
    held: Vec<Event>,
    ready: VecDeque<SseEvent>,
    _guard: ActivityGuard,
    _channel: Option<crate::channels::ChannelGuard>,
}

pub async fn stream(
    State(mesh): State<Arc<Mesh>>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let p: Params = query(&uri)?;
    if let Some(s) = &p.session {
        if mesh.peers.local(s).is_none() {
            return Err(ApiError::new(
                404,
                "unknown_session",
                format!("no session {s:?}"),
            ));
        }
    }
    let header_id = match headers
        .get("last-event-id")
        .map(|v| v.to_str().map(|s| s.trim().parse::<i64>()))
    {
        None => None,
        Some(Ok(Ok(n))) => Some(n),
        Some(_) => {
            return Err(ApiError::new(
                400,
                "invalid_last_event_id",
                "Last-Event-ID must be an event id",
            ))
        }
    };
    // Subscribe before reading the position so nothing falls between the two.
    let rx = mesh.events.subscribe();
    let resume = header_id.or(p.last_event_id);
    let last = match resume {
        Some(n) => n,
        None => {
            db(&mesh, |c| {
                c.query_row("SELECT coalesce(max(id), 0) FROM events", [], |r| r.get(0))
            })
            .await?
        }
    };
    let channel = p
        .session
        .as_deref()
        .filter(|_| p.channel)
        .map(|s| mesh.channels.open(s));
    let cursor = Cursor {
        _guard: mesh.ctx.activity.enter(),
        _channel: channel,
        mesh,
        rx,
        last,
        backlog: VecDeque::new(),
        catch_up: resume.is_some(),
        session: p.session,
        started: false,
        held: Vec::new(),
        ready: VecDeque::new(),
    };
    let s = futures::stream::unfold(cursor, |mut c| async move {
        let ev = next(&mut c).await?;
        Some((Ok(ev), c))
    });
    Ok(Sse::new(s).keep_alive(
        KeepAlive::new()
            .interval(Duration::from_secs(15))
            .text("keepalive"),
    ))
}

async fn next(c: &mut Cursor) -> Option<SseEvent> {
    if !c.started {
        c.started = true;
        return Some(SseEvent::default().comment("connected"));
    }
    loop {
        if let Some(out) = c.ready.pop_front() {
            return Some(out);
        }
        if let Some(e) = c.backlog.pop_front() {
            c.last = e.id;
            render(c, e);
            continue;
        }
        if c.catch_up {
            let after = c.last;
            let batch = c
                .mesh
                .db
                .call(move |conn| events::since(conn, after, 500))
                .await
                .ok()?
                .ok()?;
            if batch.is_empty() {
                c.catch_up = false;
            }
            c.backlog.extend(batch);
            continue;
        }
        let shutdown = c.mesh.ctx.shutdown.clone();
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            r = c.rx.recv() => match r {
                Ok(e) if e.id <= c.last => {}
                Ok(e) if e.id == c.last + 1 => c.backlog.push_back((*e).clone()),
                // A gap (events committed by racing writers published out of order) or a
                // slow reader: the table has everything, in order.
                Ok(_) | Err(RecvError::Lagged(_)) => c.catch_up = true,
                Err(RecvError::Closed) => return None,
            },
        }
    }
}

fn sse(e: &Event, with_id: bool) -> SseEvent {
    let out = SseEvent::default()
        .event(e.kind.clone())
        .data(e.data.to_string());
    if with_id {
        out.id(e.id.to_string())
    } else {
        out
    }
}

/// Queue what `e` shows on this stream: nothing (another session's message), later (a
/// busy session's non-`now` message), or now — plus, when the session turns idle, what it
/// held back. Released messages carry no `id:`: the stream's position is already past them,
/// and the inbox keeps them unread until read.
fn render(c: &mut Cursor, e: Event) {
    let Some(session) = c.session.clone() else {
        c.ready.push_back(sse(&e, true));
        return;
    };
    match e.kind.as_str() {
        "message" => {
            let Ok(item) = serde_json::from_value::<InboxItem>(e.data.clone()) else {
                return;
            };
            if !visible(&item, &c.mesh.peers.membership(&session)) {
                return;
            }
            let busy = c
                .mesh
                .peers
                .local(&session)
                .is_some_and(|p| p.profile.status != PeerStatus::Idle);
            if passes(item.priority, busy) {
                c.ready.push_back(sse(&e, true));
            } else {
                c.held.push(e);
            }
        }
        "system"
            if e.data["type"] == "status"
                && e.data["session_id"] == session.as_str()
                && e.data["status"] == "idle" =>
        {
            c.ready.push_back(sse(&e, true));
            for h in std::mem::take(&mut c.held) {
                c.ready.push_back(sse(&h, false));
            }
        }
        _ => c.ready.push_back(sse(&e, true)),
    }
}
