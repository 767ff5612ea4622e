//! `POST /v1/chat/completions` and `GET /v1/models`: the OpenAI-compatible surface, so that
//! OpenAI client libraries (and what is built on them) drive sessions. Types in
//! `claude_daemons::api::openai`.
//!
//! The session is the one named by `X-Session-Key`, else by `user`, else by `model` when a
//! session has that key; else a new one that is forgotten after the answer. The session
//! holds the history: the last message is the prompt, and earlier messages must be none,
//! or the session's history as this API has seen it (409 otherwise, unless `fresh`).

use super::ask::{submit, Prompt};
use super::sessions::stop_session;
use super::{content, db_error, App, Error};
use crate::records;
use crate::turn::{TurnError, TurnEvent};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use claude_daemons::api::openai::{
    ChatChoice, ChatCompletion, ChatMessage, ChatRequest, ChatUsage, ModelInfo, ModelList,
    OpenAiError, OpenAiErrorBody,
};
use claude_daemons::api::supervisor::{
    valid_session_key, AskResult, SessionOptions, MAX_PROMPT_BYTES,
};
use serde_json::{json, Value};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc::UnboundedReceiver;

/// Comment lines on a quiet stream, so proxies and clients do not give up.
const HEARTBEAT: Duration = Duration::from_secs(10);

/// The model name that means "the session's own model".
const DEFAULT_MODEL: &str = "claude-code";

/// An error in OpenAI's shape.
#[derive(Debug)]
pub struct OaiError {
    e: TurnError,
    param: Option<&'static str>,
}

impl OaiError {
    fn new(code: &'static str, message: impl Into<String>, param: Option<&'static str>) -> Self {
        OaiError {
            e: TurnError::new(code, message),
            param,
        }
    }
}

impl From<Error> for OaiError {
    fn from(e: Error) -> OaiError {
        OaiError {
            e: e.into_inner(),
            param: None,
        }
    }
}

fn error_body(e: &TurnError, param: Option<&str>) -> OpenAiError {
    let kind = match e.status() {
        400 | 413 => "invalid_request_error",
        404 => "not_found_error",
        409 => "conflict_error",
        429 => "rate_limit_error",
        504 => "timeout_error",
        _ => "server_error",
    };
    OpenAiError {
        error: OpenAiErrorBody {
            message: e.message.clone(),
            kind: kind.into(),
            param: param.map(str::to_string),
            code: Some(e.code.into()),
        },
    }
}

impl IntoResponse for OaiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(error_body(&self.e, self.param))).into_response()
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `GET /v1/models`: every session key, and the models sessions are configured with.
pub async fn models(State(app): State<Arc<App>>) -> Result<Json<ModelList>, OaiError> {
    let rows = app
        .pool
        .db
        .call(|c| records::list(c))
        .await
        .map_err(db_error)?
        .map_err(db_error)?;
    let entry = |id: &str, owned_by: &str| ModelInfo {
        id: id.into(),
        object: "model".into(),
        created: 0,
        owned_by: owned_by.into(),
    };
    let mut models: Vec<String> = rows
        .iter()
        .filter_map(|r| r.settings.model.clone())
        .collect();
    models.push(DEFAULT_MODEL.into());
    models.sort();
    models.dedup();
    let mut data: Vec<ModelInfo> = models.iter().map(|m| entry(m, "anthropic")).collect();
    data.extend(rows.iter().map(|r| entry(&r.key, "session")));
    Ok(Json(ModelList {
        object: "list".into(),
        data,
    }))
}

/// Whether `model` names a Claude model to run the session with.
fn claude_model(model: &str) -> bool {
    model.starts_with("claude-") && model != DEFAULT_MODEL
        || matches!(model, "sonnet" | "opus" | "haiku")
}

pub async fn completions(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OaiError> {
    let body = body.map_err(|e| OaiError::new("too_large", e.body_text(), None))?;
    let req: ChatRequest = serde_json::from_slice(&body)
        .map_err(|e| OaiError::new("bad_request", format!("request body: {e}"), None))?;
    let Some((last, earlier)) = req.messages.split_last() else {
        return Err(OaiError::new(
            "bad_request",
            "`messages` is empty",
            Some("messages"),
        ));
    };
    let prompt = last.text();
    let images = images(last);
    if let Some(b) = &images {
        content::validate(b).map_err(|e| OaiError {
            e: e.into_inner(),
            param: Some("messages"),
        })?;
    }
    if last.role != "user" || (prompt.trim().is_empty() && images.is_none()) {
        return Err(OaiError::new(
            "bad_request",
            "the last message must be the user's, with text",
            Some("messages"),
        ));
    }
    if prompt.len() > MAX_PROMPT_BYTES {
        return Err(OaiError::new(
            "bad_request",
            format!("the last message is longer than {MAX_PROMPT_BYTES} bytes"),
            Some("messages"),
        ));
    }
    let system: Vec<String> = earlier
        .iter()
        .filter(|m| m.role == "system" || m.role == "developer")
        .map(ChatMessage::text)
        .collect();
    let turns = pairs(earlier)?;

    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let fresh = req.fresh || header("x-session-fresh").is_some_and(|v| v == "true" || v == "1");
    let named = match (header("x-session-key"), &req.user) {
        (Some(k), _) => Some((k.to_string(), "X-Session-Key")),
        (None, Some(u)) => Some((u.clone(), "user")),
        (None, None) => None,
    };
    if let Some((k, what)) = &named {
        if !valid_session_key(k) {
            return Err(OaiError::new(
                "bad_request",
                format!("{what} is not a session key: 1–200 letters, digits and . _ - : @ +"),
                Some("user"),
            ));
        }
    }
    let existing_model_key = match &named {
        None if valid_session_key(&req.model) => {
            let m = req.model.clone();
            app.pool
                .db
                .call(move |c| records::get(c, &m))
                .await
                .map_err(db_error)?
                .map_err(db_error)?
                .map(|r| r.key)
        }
        _ => None,
    };
    let (key, ephemeral) = match (named, existing_model_key) {
        (Some((k, _)), _) => (k, false),
        (None, Some(k)) => (k, false),
        (None, None) => (
            format!("chat-{}", ulid::Ulid::new().to_string().to_lowercase()),
            true,
        ),
    };

    let k = key.clone();
    let (exists, history) = app
        .pool
        .db
        .call(
            move |c| -> rusqlite::Result<(bool, Vec<(String, String)>)> {
                Ok((records::get(c, &k)?.is_some(), records::history(c, &k)?))
            },
        )
        .await
        .map_err(db_error)?
        .map_err(db_error)?;
    if exists && fresh {
        stop_session(&app, &key, true).await?;
    }
    let new = !exists || fresh;
    let mut opts = SessionOptions::default();
    if claude_model(&req.model) {
        opts.model = Some(req.model.clone());
    }
    let mut text = prompt.clone();
    if new {
        if !system.is_empty() {
            opts.append_system_prompt = Some(system.join("\n\n"));
        }
        if !turns.is_empty() {
            // The new session has not seen them: they come with the prompt, and are kept as
            // its history so that the client's next request agrees with it.
            text = render(&turns, &prompt);
            let (k, t) = (key.clone(), turns.clone());
            app.pool
                .db
                .call(move |c| records::append_history(c, &k, &t))
                .await
                .map_err(db_error)?
                .map_err(db_error)?;
        }
    } else if !turns.is_empty() && !same_history(&turns, &history) {
        return Err(OaiError::new(
            "conflict",
            format!(
                "the messages before the last disagree with session {key}'s history ({} turns): \
                 send only the new message, the whole history, or ask for a fresh session \
                 (\"fresh\": true or X-Session-Fresh: true)",
                history.len()
            ),
            Some("messages"),
        ));
    }
    let timeout = Duration::from_secs(app.pool.config.turn_timeout_secs);
    let rx = submit(
        &app,
        &key,
        Prompt {
            text,
            history: Some(match &images {
                Some(b) => content::history_text(&prompt, b),
                None => prompt,
            }),
            blocks: images,
        },
        opts,
        timeout,
        req.stream,
    )
    .await?;
    let forget = ephemeral.then(|| (app.clone(), key.clone()));
    let id = format!("chatcmpl-{}", ulid::Ulid::new());
    let model = if req.model.is_empty() {
        DEFAULT_MODEL.to_string()
    } else {
        req.model.clone()
    };
    if req.stream {
        return Ok(stream(rx, id, model, forget));
    }
    let r = wait(rx).await;
    if let Some((app, key)) = forget {
        tokio::spawn(async move {
            let _ = stop_session(&app, &key, true).await;
        });
    }
    let r = r.map_err(|e| OaiError { e, param: None })?;
    Ok(Json(completion(&r, id, model)).into_response())
}

/// `image_url` parts with `data:` URLs, as Messages API image blocks.
fn images(m: &ChatMessage) -> Option<Vec<Value>> {
    let parts = m.content.as_array()?;
    let blocks: Vec<Value> = parts
        .iter()
        .filter(|p| p["type"] == "image_url")
        .map(|p| {
            let url = p["image_url"]["url"].as_str().unwrap_or("");
            let (media_type, data) = url
                .strip_prefix("data:")
                .and_then(|r| r.split_once(";base64,"))
                .unwrap_or(("", ""));
            json!({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}})
        })
        .collect();
    (!blocks.is_empty()).then_some(blocks)
}

/// Earlier user/assistant messages as (user, assistant) turns; system messages aside.
fn pairs(earlier: &[ChatMessage]) -> Result<Vec<(String, String)>, OaiError> {
    let talk: Vec<&ChatMessage> = earlier
        .iter()
        .filter(|m| m.role != "system" && m.role != "developer")
        .collect();
    let alternate = talk.len() % 2 == 0
        && talk
            .chunks(2)
            .all(|c| c[0].role == "user" && c[1].role == "assistant");
    if !alternate {
        return Err(OaiError::new(
            "bad_request",
            "messages before the last must alternate user and assistant (tool messages are not \
             taken: Claude Code runs its own tools)",
            Some("messages"),
        ));
    }
    Ok(talk.chunks(2).map(|c| (c[0].text(), c[1].text())).collect())
}

fn same_history(turns: &[(String, String)], history: &[(String, String)]) -> bool {
    turns.len() == history.len()
        && turns
            .iter()
            .zip(history)
            .all(|((p, r), (hp, hr))| p.trim() == hp.trim() && r.trim() == hr.trim())
}

fn render(turns: &[(String, String)], prompt: &str) -> String {
    let mut s = String::from("Earlier in this conversation:\n\n");
    for (p, r) in turns {
        s.push_str(&format!("User: {p}\n\nAssistant: {r}\n\n"));
    }
    s.push_str(&format!("Now:\n\n{prompt}"));
    s
}

async fn wait(mut rx: UnboundedReceiver<TurnEvent>) -> Result<AskResult, TurnError> {
    loop {
        match rx.recv().await {
            Some(TurnEvent::Done(r)) => return checked(r),
            Some(_) => {}
            None => {
                return Err(TurnError::new(
                    "internal",
                    "the session ended without an answer",
                ))
            }
        }
    }
}

/// A turn Claude Code itself ended in error is an error here too, unless it only ran out
/// of turns or budget (then the text so far, `finish_reason: length`).
fn checked(r: Result<AskResult, TurnError>) -> Result<AskResult, TurnError> {
    let r = r?;
    if r.is_error && !stopped_short(&r) {
        return Err(TurnError::new(
            "child_output",
            format!(
                "Claude Code ended the turn with {}: {}",
                r.subtype,
                r.result.as_deref().unwrap_or("")
            ),
        ));
    }
    Ok(r)
}

fn stopped_short(r: &AskResult) -> bool {
    matches!(
        r.subtype.as_str(),
        "error_max_turns" | "error_max_budget_usd"
    )
}

fn completion(r: &AskResult, id: String, model: String) -> ChatCompletion {
    ChatCompletion {
        id,
        object: "chat.completion".into(),
        created: now_secs(),
        model,
        choices: vec![ChatChoice {
            index: 0,
            message: ChatMessage {
                role: "assistant".into(),
                content: Value::String(r.result.clone().unwrap_or_default()),
            },
            finish_reason: if stopped_short(r) { "length" } else { "stop" }.into(),
        }],
        usage: ChatUsage::from_claude(r.usage.as_ref()),
    }
}

/// The text of a top-level `text_delta` stream-json line.
fn text_delta(raw: &str) -> Option<String> {
    let v: Value = serde_json::from_str(raw).ok()?;
    (v["type"] == "stream_event"
        && v["parent_tool_use_id"].is_null()
        && v["event"]["type"] == "content_block_delta"
        && v["event"]["delta"]["type"] == "text_delta")
        .then(|| v["event"]["delta"]["text"].as_str().map(str::to_string))
        .flatten()
}

struct Chunks {
    rx: UnboundedReceiver<TurnEvent>,
    id: String,
    model: String,
    created: u64,
    started: bool,
    done: bool,
    forget: Option<(Arc<App>, String)>,
}

impl Chunks {
    fn chunk(&self, delta: Value, finish: Option<&str>, usage: Option<ChatUsage>) -> Event {
        let mut c = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        });
        if let Some(u) = usage {
            c["usage"] = serde_json::to_value(u).expect("usage serializes");
        }
        Event::default().data(c.to_string())
    }

    /// The next events to send (empty: nothing yet), or `None` at the end.
    async fn next(&mut self) -> Option<Vec<Event>> {
        if self.done {
            return None;
        }
        if !self.started {
            self.started = true;
            return Some(vec![self.chunk(
                json!({"role": "assistant", "content": ""}),
                None,
                None,
            )]);
        }
        let ev = self.rx.recv().await;
        let out =
            match ev {
                Some(TurnEvent::Line(raw)) => match text_delta(&raw) {
                    Some(t) => vec![self.chunk(json!({"content": t}), None, None)],
                    None => Vec::new(),
                },
                Some(TurnEvent::Permission(_)) => Vec::new(),
                Some(TurnEvent::Done(r)) => {
                    self.done = true;
                    if let Some((app, key)) = self.forget.take() {
                        tokio::spawn(async move {
                            let _ = stop_session(&app, &key, true).await;
                        });
                    }
                    let mut out = Vec::new();
                    match checked(r) {
                        Ok(r) => {
                            let finish = if stopped_short(&r) { "length" } else { "stop" };
                            let usage = ChatUsage::from_claude(r.usage.as_ref());
                            out.push(self.chunk(json!({}), Some(finish), Some(usage)));
                        }
                        Err(e) => out.push(Event::default().data(
                            serde_json::to_string(&error_body(&e, None)).expect("serializes"),
                        )),
                    }
                    out.push(Event::default().data("[DONE]"));
                    out
                }
                None => {
                    self.done = true;
                    vec![Event::default().data("[DONE]")]
                }
            };
        Some(out)
    }
}

fn stream(
    rx: UnboundedReceiver<TurnEvent>,
    id: String,
    model: String,
    forget: Option<(Arc<App>, String)>,
) -> Response {
    let state = Chunks {
        rx,
        id,
        model,
        created: now_secs(),
        started: false,
        done: false,
        forget,
    };
    let events = futures_util::stream::unfold(state, |mut s| async move {
        let batch = s.next().await?;
        Some((
            futures_util::stream::iter(batch.into_iter().map(Ok::<_, Infallible>)),
            s,
        ))
    });
    use futures_util::StreamExt;
    Sse::new(events.flatten())
        .keep_alive(KeepAlive::new().interval(HEARTBEAT).text("heartbeat"))
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(role: &str, text: &str) -> ChatMessage {
        ChatMessage {
            role: role.into(),
            content: Value::String(text.into()),
        }
    }

    #[test]
    fn earlier_messages_pair_up_or_are_refused() {
        let ok = pairs(&[m("system", "s"), m("user", "a"), m("assistant", "b")]).unwrap();
        assert_eq!(ok, [("a".to_string(), "b".to_string())]);
        assert!(pairs(&[m("user", "a")]).is_err());
        assert!(pairs(&[m("assistant", "b"), m("user", "a")]).is_err());
        assert!(same_history(&ok, &[("a ".into(), "b".into())]));
        assert!(!same_history(&ok, &[]));
    }

    #[test]
    fn only_top_level_text_deltas_stream() {
        let line = |parent: Value| {
            json!({"type": "stream_event", "parent_tool_use_id": parent,
                   "event": {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "hi"}}})
            .to_string()
        };
        assert_eq!(text_delta(&line(Value::Null)).as_deref(), Some("hi"));
        assert_eq!(text_delta(&line(json!("toolu_1"))), None);
        assert_eq!(text_delta(r#"{"type":"assistant"}"#), None);
    }
}
