//! A turn: one ask travelling from an HTTP handler through a session's queue to its child
//! and back, and the ways it can fail.

use crate::settings::Settings;
use claude_daemons::api::supervisor::{AskResult, PermissionRequest};
use claude_daemons::claude::ChildInput;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// What the handler receives for a turn.
// `Done` is much larger than `Line`, but it is sent once per turn through a short channel:
// boxing it would add an allocation per turn and save nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum TurnEvent {
    /// A stream-json line from the child (only for streaming asks).
    Line(Arc<str>),
    /// A permission prompt waiting for an answer (only for streaming asks).
    Permission(Box<PermissionRequest>),
    /// The end: the result, or why there is none. Always the last event.
    Done(Result<AskResult, TurnError>),
}

/// Why a turn has no result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TurnError {
    /// Stable code (see `ApiError`).
    pub code: &'static str,
    pub message: String,
}

impl TurnError {
    pub fn new(code: &'static str, message: impl Into<String>) -> TurnError {
        TurnError {
            code,
            message: message.into(),
        }
    }

    /// The HTTP status that carries this error.
    pub fn status(&self) -> u16 {
        match self.code {
            "bad_request" => 400,
            "not_found" => 404,
            "conflict" => 409,
            "too_large" => 413,
            "queue_full" | "fleet_full" => 429,
            "child_exited" | "spawn_failed" | "child_output" => 502,
            "turn_timeout" => 504,
            "internal" => 500,
            _ => 503,
        }
    }
}

/// A queued ask.
#[derive(Debug)]
pub struct Turn {
    pub prompt: String,
    /// What the session's history keeps as this turn's prompt (a chat client's own message
    /// when the prompt carries more).
    pub history_prompt: Option<String>,
    /// Content blocks sent after the prompt's text (images…).
    pub blocks: Option<Vec<serde_json::Value>>,
    pub settings: Settings,
    pub timeout: Duration,
    /// Forward every child line, not only the end.
    pub stream: bool,
    pub accepted: Instant,
    events: mpsc::UnboundedSender<TurnEvent>,
    /// The session's count of accepted, unfinished turns (for the queue limit).
    pending: Arc<AtomicUsize>,
}

impl Turn {
    /// A turn already counted in `pending`; the count drops when it finishes.
    pub fn new(
        prompt: String,
        settings: Settings,
        timeout: Duration,
        stream: bool,
        pending: Arc<AtomicUsize>,
    ) -> (Turn, mpsc::UnboundedReceiver<TurnEvent>) {
        let (events, rx) = mpsc::unbounded_channel();
        let turn = Turn {
            prompt,
            history_prompt: None,
            blocks: None,
            settings,
            timeout,
            stream,
            accepted: Instant::now(),
            events,
            pending,
        };
        (turn, rx)
    }

    /// Forward a line; a client that went away is not an error (the turn goes on).
    pub fn line(&self, raw: &Arc<str>) {
        if self.stream {
            let _ = self.events.send(TurnEvent::Line(raw.clone()));
        }
    }

    /// Announce a permission prompt to a streaming caller.
    pub fn permission(&self, p: &PermissionRequest) {
        if self.stream {
            let _ = self.events.send(TurnEvent::Permission(Box::new(p.clone())));
        }
    }

    /// The line that gives this turn to Claude Code.
    pub fn input(&self) -> ChildInput {
        match &self.blocks {
            None => ChildInput::user(self.prompt.clone()),
            Some(blocks) => {
                let mut all = Vec::with_capacity(blocks.len() + 1);
                if !self.prompt.is_empty() {
                    all.push(serde_json::json!({"type": "text", "text": self.prompt}));
                }
                all.extend(blocks.iter().cloned());
                ChildInput::user_blocks(all)
            }
        }
    }

    pub fn finish(self, outcome: Result<AskResult, TurnError>) {
        let _ = self.events.send(TurnEvent::Done(outcome));
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.pending.fetch_sub(1, Ordering::AcqRel);
    }
}
