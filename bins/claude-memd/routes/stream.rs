//! `GET /stream`: server-sent events announcing new prompts, observations, summaries,
//! deletions and queue status. The stream holds an activity guard while open and ends when
//! the daemon drains, so it neither keeps a stopping daemon alive nor lets an idle one exit
//! under it.
//!
//! Records are sent from the database, not from the announcement: an announcement only
//! wakes the stream, which then sends everything stored above the client's marks (see
//! [`crate::feed`]). So a lagging client misses nothing, and one reconnecting with
//! `Last-Event-ID` gets what was stored while it was away.

use super::{with_db, Fail};
use crate::feed::{self, Marks};
use crate::Memd;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;

/// More than this many records missed of one kind: the client reloads its lists instead.
const CATCH_UP_LIMIT: usize = 200;

struct Live {
    m: Arc<Memd>,
    rx: tokio::sync::broadcast::Receiver<crate::announce::Announce>,
    marks: Marks,
    queued: VecDeque<Event>,
    _guard: claude_daemons::daemon::ActivityGuard,
}

impl Live {
    /// Queue every record stored above the marks.
    async fn catch_up(&mut self) -> Result<(), Fail> {
        let marks = self.marks;
        let items = with_db(&self.m, move |c| Ok(feed::after(c, &marks)?)).await?;
        let mut per_kind = [0usize; 3];
        for i in &items {
            per_kind[i.kind] += 1;
        }
        if per_kind.iter().any(|n| *n >= CATCH_UP_LIMIT) {
            self.marks = with_db(&self.m, |c| Ok(feed::latest(c)?)).await?;
            let ev = Event::default()
                .event("stream-reset")
                .id(feed::format(&self.marks))
                .data("{}");
            self.queued.push_back(ev);
            return Ok(());
        }
        for i in items {
            self.marks[i.kind] = self.marks[i.kind].max(i.id);
            let ev = Event::default()
                .event(i.name)
                .id(feed::format(&self.marks))
                .data(i.data.to_string());
            self.queued.push_back(ev);
        }
        Ok(())
    }
}

/// `GET /stream`.
pub async fn stream(
    State(m): State<Arc<Memd>>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Fail> {
    let guard = m.activity.enter();
    // Subscribed before the marks are read: nothing stored in between is missed.
    let rx = m.announce.subscribe();
    let resumed = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(feed::parse);
    let marks = match resumed {
        Some(m) => m,
        None => with_db(&m, |c| Ok(feed::latest(c)?)).await?,
    };
    let shutdown = m.shutdown.clone();
    let hello = Event::default()
        .event("connected")
        .id(feed::format(&marks))
        .data(
            serde_json::json!({
                "pending": m.stats.pending.load(std::sync::atomic::Ordering::Relaxed),
                "resumed": resumed.is_some(),
            })
            .to_string(),
        );
    let mut live = Live {
        m,
        rx,
        marks,
        queued: VecDeque::from([hello]),
        _guard: guard,
    };
    if resumed.is_some() {
        live.catch_up().await?;
    }
    let events = stream::unfold((live, shutdown), |(mut live, shutdown)| async move {
        loop {
            if let Some(ev) = live.queued.pop_front() {
                return Some((Ok(ev), (live, shutdown)));
            }
            let woke = tokio::select! {
                _ = shutdown.cancelled() => return None,
                r = live.rx.recv() => r,
            };
            match woke {
                Ok(a) if a.name.ends_with("-created") => {}
                Ok(a) => {
                    let ev = Event::default()
                        .event(a.name)
                        .id(feed::format(&live.marks))
                        .data(a.data.to_string());
                    return Some((Ok(ev), (live, shutdown)));
                }
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return None,
            }
            if let Err(e) = live.catch_up().await {
                tracing::warn!(error = %e.1, "stream catch-up failed; closing the stream");
                return None;
            }
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
