//! `GET /stream`: server-sent events announcing new prompts, observations, summaries and
//! queue status. The stream holds an activity guard while open and ends when the daemon
//! drains, so it neither keeps a stopping daemon alive nor lets an idle one exit under it.

use crate::Memd;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;

/// `GET /stream`.
pub async fn stream(
    State(m): State<Arc<Memd>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let guard = m.activity.enter();
    let rx = m.announce.subscribe();
    let shutdown = m.shutdown.clone();
    let hello = Event::default().event("connected").data(
        serde_json::json!({"pending": m.stats.pending.load(std::sync::atomic::Ordering::Relaxed)})
            .to_string(),
    );
    let first = stream::once(async move { Ok(hello) });
    let rest = stream::unfold(
        (rx, guard, shutdown),
        |(mut rx, guard, shutdown)| async move {
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return None,
                    r = rx.recv() => match r {
                        Ok(a) => {
                            let ev = Event::default().event(a.name).data(a.data.to_string());
                            return Some((Ok(ev), (rx, guard, shutdown)));
                        }
                        Err(RecvError::Lagged(_)) => continue,
                        Err(RecvError::Closed) => return None,
                    },
                }
            }
        },
    );
    Sse::new(futures_util::StreamExt::chain(first, rest)).keep_alive(KeepAlive::default())
}
