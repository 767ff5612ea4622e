//! The interactive child's channel server calling back (`claudectl sup channel`):
//! `GET /v1/sessions/{key}/channel` (the prompts, as SSE, for as long as it is connected)
//! and `POST …/channel/reply` (the model called its `reply` tool).

use super::interactive::of_session;
use super::{body, App, Error};
use crate::terminal::Call;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use claude_daemons::api::supervisor::{ChannelQuery, ChannelReply, CHANNEL_PROMPT_EVENT};
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::mpsc;

pub async fn open(
    State(app): State<Arc<App>>,
    Path(key): Path<String>,
    Query(q): Query<ChannelQuery>,
) -> Result<impl IntoResponse, Error> {
    let t = of_session(&app, &key, Some(&q.session_id))?;
    let (tx, rx) = mpsc::unbounded_channel();
    if !t.call(Call::ChannelOpen(tx)) {
        return Err(Error::new(
            "not_found",
            format!("{key}'s process has ended"),
        ));
    }
    // Ends with the driver's sender: the child (or a newer connection) replaced it.
    let prompts = futures_util::stream::unfold(rx, |mut rx| async move {
        let n = rx.recv().await?;
        let ev = Event::default()
            .event(CHANNEL_PROMPT_EVENT)
            .json_data(&n)
            .unwrap_or_else(|_| Event::default().comment("unencodable prompt"));
        Some((Ok::<_, Infallible>(ev), rx))
    });
    Ok(Sse::new(prompts).keep_alive(KeepAlive::default()))
}

pub async fn reply(
    State(app): State<Arc<App>>,
    Path(key): Path<String>,
    Query(q): Query<ChannelQuery>,
    b: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, Error> {
    let t = of_session(&app, &key, Some(&q.session_id))?;
    let r: ChannelReply = body(b, "channel reply")?;
    t.call(Call::Reply(r));
    Ok(StatusCode::NO_CONTENT)
}
