//! `POST /v1/sessions/{key}/ask`: one turn, answered with its result or streamed as SSE.

use super::{check_key, content, options, App, Error};
use crate::fleet::Route;
use crate::handle::Command;
use crate::turn::{Turn, TurnEvent};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use claude_daemons::api::supervisor::{ApiError, AskRequest, SessionOptions, MAX_PROMPT_BYTES};
use claude_daemons::config::AttachedAsks;
use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;

/// Longest turn a caller may ask for.
pub const MAX_TIMEOUT_MS: u64 = 24 * 3600 * 1000;

pub async fn ask(
    State(app): State<Arc<App>>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Error> {
    check_key(&key)?;
    let body = body.map_err(|e| Error::new("too_large", format!("ask body: {}", e.body_text())))?;
    let req: AskRequest = serde_json::from_slice(&body)
        .map_err(|e| Error::new("bad_request", format!("ask body: {e}")))?;
    let stream = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"));
    let Some(fleet) = app.fleet.clone() else {
        let rx = run_local(&app, &key, req, stream).await?;
        return Ok(respond(rx, stream, None).await);
    };
    // What does not depend on the host is refused here; the rest (workspaces) where the
    // session runs.
    check_prompt(&req)?;
    let deadline = Instant::now() + timeout(&app, &req);
    for attempt in 0..3 {
        match fleet.route(&key, deadline).await? {
            Route::Local => break,
            Route::Remote(host) => {
                let value: serde_json::Value = serde_json::from_slice(&body)
                    .map_err(|e| Error::new("bad_request", format!("ask body: {e}")))?;
                match fleet.forward_ask(&host, &key, value, stream).await {
                    Ok(rx) => return Ok(respond(rx, stream, None).await),
                    // The owner changed between the lookup and the call.
                    Err(e) if e.code == "misrouted" && attempt < 2 => continue,
                    Err(e) if e.code == "misrouted" => {
                        return Err(Error::new("fleet_unavailable", e.message))
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    let mut req = req;
    fleet.map_options(&mut req.options);
    let rx = run_local(&app, &key, req, stream).await?;
    let rx = fleet.store_after_turn(&key, rx);
    Ok(respond(rx, stream, Some(fleet.host.clone())).await)
}

fn check_prompt(req: &AskRequest) -> Result<(), Error> {
    if let Some(blocks) = &req.content {
        content::validate(blocks)?;
    } else if req.prompt.trim().is_empty() {
        return Err(Error::new("bad_request", "`prompt` is empty"));
    }
    if req.prompt.len() > MAX_PROMPT_BYTES {
        return Err(Error::new(
            "bad_request",
            format!("`prompt` is longer than {MAX_PROMPT_BYTES} bytes"),
        ));
    }
    if req.timeout_ms == Some(0) || req.timeout_ms.is_some_and(|t| t > MAX_TIMEOUT_MS) {
        return Err(Error::new(
            "bad_request",
            format!("`timeout_ms` must be between 1 and {MAX_TIMEOUT_MS}"),
        ));
    }
    Ok(())
}

fn timeout(app: &App, req: &AskRequest) -> Duration {
    Duration::from_millis(
        req.timeout_ms
            .unwrap_or(app.pool.config.turn_timeout_secs.saturating_mul(1000)),
    )
}

/// A turn another host of the fleet sent here: its paths mapped by `workspace_map`.
pub async fn run_forwarded(
    app: &App,
    key: &str,
    ask: serde_json::Value,
    stream: bool,
) -> Result<UnboundedReceiver<TurnEvent>, crate::turn::TurnError> {
    let mut req: AskRequest = serde_json::from_value(ask)
        .map_err(|e| crate::turn::TurnError::new("bad_request", format!("ask body: {e}")))?;
    if let Some(f) = &app.fleet {
        f.map_options(&mut req.options);
    }
    run_local(app, key, req, stream)
        .await
        .map_err(Error::into_inner)
}

/// Check an ask and queue it on this host's session.
async fn run_local(
    app: &App,
    key: &str,
    req: AskRequest,
    stream: bool,
) -> Result<UnboundedReceiver<TurnEvent>, Error> {
    check_prompt(&req)?;
    options::validate(&req.options)?;
    let timeout = timeout(app, &req);
    submit(
        app,
        key,
        Prompt {
            history: req
                .content
                .as_ref()
                .map(|b| content::history_text(&req.prompt, b)),
            text: req.prompt,
            blocks: req.content,
        },
        req.options,
        timeout,
        stream,
    )
    .await
}

/// A turn's prompt, and what the session's history keeps of it if not the same.
pub struct Prompt {
    pub text: String,
    /// Content blocks after the text (images…).
    pub blocks: Option<Vec<serde_json::Value>>,
    pub history: Option<String>,
}

/// Queue a turn on `key`'s session (with `opts` applied); its events come on the receiver.
pub async fn submit(
    app: &App,
    key: &str,
    prompt: Prompt,
    opts: SessionOptions,
    timeout: Duration,
    stream: bool,
) -> Result<UnboundedReceiver<TurnEvent>, Error> {
    let (mut handle, record) = options::session_for(app, key, opts).await?;
    let settings = record.settings.clone();
    wait_for_typist(app, key, &handle, timeout).await?;
    let mut prompt = Some(prompt);
    // A session task that just stopped (DELETE racing this ask) is replaced once.
    for attempt in 0..2 {
        if attempt > 0 {
            handle = options::task(app, key, &record)?;
        }
        let limit = app.pool.config.queue_limit + 1;
        if handle.pending.fetch_add(1, Ordering::AcqRel) >= limit {
            handle.pending.fetch_sub(1, Ordering::AcqRel);
            return Err(Error::new(
                "queue_full",
                format!(
                    "session {key} already has a turn in flight and {} queued",
                    limit - 1
                ),
            ));
        }
        let p = prompt.take().expect("prompt");
        let (mut turn, rx) = Turn::new(
            p.text,
            settings.clone(),
            timeout,
            stream,
            handle.pending.clone(),
        );
        turn.history_prompt = p.history;
        turn.blocks = p.blocks;
        match handle.tx.send(Command::Ask(Box::new(turn))) {
            Ok(()) => return Ok(rx),
            Err(returned) => {
                let Command::Ask(turn) = returned.0 else {
                    unreachable!()
                };
                prompt = Some(Prompt {
                    text: turn.prompt.clone(),
                    blocks: turn.blocks.clone(),
                    history: turn.history_prompt.clone(),
                });
                app.pool.remove(key, &handle);
            }
        }
    }
    Err(Error::new("stopped", format!("session {key} is stopping")))
}

/// A person typing in the interactive session (`claudectl sup attach`) has it: the ask
/// waits for them to detach, or is refused, as `[supervisor] attached_asks` says.
async fn wait_for_typist(
    app: &App,
    key: &str,
    handle: &crate::handle::SessionHandle,
    timeout: Duration,
) -> Result<(), Error> {
    let Some(t) = handle.live().terminal.filter(|t| t.typist()) else {
        return Ok(());
    };
    match app.pool.config.attached_asks {
        AttachedAsks::Refuse => Err(Error::new(
            "conflict",
            format!("a person is typing in session {key} (claudectl sup attach); ask again once they detach"),
        )),
        AttachedAsks::Wait => tokio::time::timeout(timeout, t.typist_released())
            .await
            .map_err(|_| {
                Error::new(
                    "turn_timeout",
                    format!("a person typed in session {key} for the whole {} ms", timeout.as_millis()),
                )
            }),
    }
}

/// The answer to an ask: its result as JSON, or every event as SSE. `host` names where it
/// ran (in a fleet).
async fn respond(
    mut rx: UnboundedReceiver<TurnEvent>,
    stream: bool,
    host: Option<String>,
) -> Response {
    if !stream {
        loop {
            match rx.recv().await {
                Some(TurnEvent::Done(Ok(mut r))) => {
                    r.host = r.host.or(host);
                    return Json(r).into_response();
                }
                Some(TurnEvent::Done(Err(e))) => return Error::from(e).into_response(),
                Some(TurnEvent::Line(_) | TurnEvent::Permission(_)) => {}
                None => {
                    return Error::new("internal", "the session ended without an answer")
                        .into_response()
                }
            }
        }
    }
    // Dropping the stream (client gone) drops `rx`; the turn goes on and its result is
    // still recorded.
    let events = futures_util::stream::unfold(Some(rx), move |rx| {
        let host = host.clone();
        async move {
            let mut rx = rx?;
            let event = match rx.recv().await {
                Some(TurnEvent::Line(raw)) => Event::default().event("message").data(&*raw),
                Some(TurnEvent::Permission(p)) => Event::default()
                    .event("permission")
                    .data(serde_json::to_string(&p).expect("permission serializes")),
                Some(TurnEvent::Done(Ok(mut r))) => {
                    r.host = r.host.or(host);
                    let e = Event::default()
                        .event("result")
                        .data(serde_json::to_string(&r).expect("result serializes"));
                    return Some((Ok::<_, Infallible>(e), None));
                }
                Some(TurnEvent::Done(Err(e))) => {
                    let body = ApiError {
                        error: e.code.into(),
                        message: e.message,
                    };
                    let e = Event::default()
                        .event("error")
                        .data(serde_json::to_string(&body).expect("error serializes"));
                    return Some((Ok(e), None));
                }
                None => return None,
            };
            Some((Ok(event), Some(rx)))
        }
    });
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}
