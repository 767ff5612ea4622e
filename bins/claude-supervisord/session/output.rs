//! What the child says and what it means for the session: readiness, a turn's result,
//! skipped output, control requests and answers, and crashes (backoff or the breaker).

use super::actor::{Active, Actor};
use crate::child::ChildEvent;
use crate::records;
use crate::turn::TurnError;
use claude_daemons::api::supervisor::{AskResult, EventKind};
use claude_daemons::claude::{ChildInput, ChildMessage, ResultMessage};
use std::sync::Arc;
use std::time::Instant;

/// Bad lines per child reported as events; the rest only go to the log.
const BAD_EVENTS_PER_CHILD: u32 = 5;

impl Actor {
    pub(super) async fn child_event(&mut self, ev: ChildEvent) {
        match ev {
            ChildEvent::Exited(info) => {
                let why = format!(
                    "claude exited ({}){}",
                    info.status,
                    tail_suffix(&info.stderr_tail)
                );
                self.emit(EventKind::Exited, Some(why.clone()));
                self.child = None;
                self.crashed(why, "child_exited").await;
            }
            ChildEvent::Bad { reason, ends_turn } => {
                self.bad_events += 1;
                if self.bad_events <= BAD_EVENTS_PER_CHILD {
                    self.emit(EventKind::BadOutput, Some(reason.clone()));
                } else {
                    tracing::warn!(SESSION_KEY = %self.key, "skipped child output: {reason}");
                }
                if ends_turn {
                    if let Some(a) = self.active.take_if(|a| a.sent) {
                        a.turn.finish(Err(TurnError::new("child_output", reason)));
                        self.last_used = Instant::now();
                    }
                }
            }
            ChildEvent::Message(msg, raw) => self.message(msg, raw).await,
        }
    }

    pub(super) async fn message(&mut self, msg: ChildMessage, raw: Arc<str>) {
        if let Some(a) = self.active.as_ref().filter(|a| a.sent) {
            if self.draining.is_none() {
                a.turn.line(&raw);
            }
        }
        match msg {
            ChildMessage::ControlResponse(r) if r.response.request_id == self.handshake_id => {
                if r.response.is_success() {
                    self.became_ready();
                } else {
                    let why = format!(
                        "claude refused the handshake: {}",
                        r.response.error.unwrap_or_default()
                    );
                    self.kill_child().await;
                    self.crashed(why, "spawn_failed").await;
                }
            }
            // Older CLIs or other drivers announce themselves with `init` only.
            ChildMessage::System(s) if s.subtype == "init" => {
                if s.session_id
                    .as_deref()
                    .is_some_and(|id| id != self.session_id)
                {
                    tracing::warn!(SESSION_KEY = %self.key, expected = %self.session_id, got = ?s.session_id, "child reports another session id");
                }
                if !self.ready {
                    self.became_ready();
                }
            }
            ChildMessage::ControlResponse(r) if self.controls.contains(&r.response.request_id) => {
                self.control_answered(r).await;
            }
            ChildMessage::ControlRequest(r) if r.subtype() == "can_use_tool" => {
                self.permission_asked(r).await;
            }
            // The CLI gave up on a prompt (the turn was interrupted).
            ChildMessage::Other { kind, fields } if kind == "control_cancel_request" => {
                if let Some(rid) = fields.get("request_id").and_then(|v| v.as_str()) {
                    self.abandon_permissions("Claude Code cancelled the prompt", Some(rid))
                        .await;
                }
            }
            ChildMessage::ControlRequest(r) => {
                // Other requests (hooks, MCP messages) have nobody here to answer them; say
                // so rather than let them hang.
                if let Some(c) = &self.child {
                    c.send(&ChildInput::refuse(
                        r.request_id.clone(),
                        format!(
                            "claude-supervisord does not answer `{}` requests",
                            r.subtype()
                        ),
                    ));
                }
            }
            ChildMessage::Result(r) => {
                if self.draining.take().is_some() {
                    return;
                }
                match self.active.take_if(|a| a.sent) {
                    Some(a) => self.complete(a, *r).await,
                    None => {
                        tracing::warn!(SESSION_KEY = %self.key, "result with no turn in flight; skipped")
                    }
                }
            }
            _ => {}
        }
    }

    pub(super) fn became_ready(&mut self) {
        self.ready = true;
        self.spawn_deadline = None;
        self.last_used = Instant::now();
        self.emit(EventKind::Ready, None);
        for s in self.starters.drain(..) {
            let _ = s.send(Ok(()));
        }
    }

    pub(super) async fn complete(&mut self, a: Active, r: ResultMessage) {
        self.last_used = Instant::now();
        self.backoff.reset();
        let cost = r.total_cost_usd;
        let history = (!r.is_error).then(|| {
            let prompt = a
                .turn
                .history_prompt
                .clone()
                .unwrap_or_else(|| a.turn.prompt.clone());
            (prompt, r.result.clone().unwrap_or_default())
        });
        let result = AskResult {
            key: self.key.clone(),
            session_id: r.session_id.unwrap_or_else(|| self.session_id.clone()),
            result: r.result,
            is_error: r.is_error,
            subtype: r.subtype,
            total_cost_usd: r.total_cost_usd,
            duration_ms: r.duration_ms,
            num_turns: r.num_turns,
            usage: r.usage,
            cold: a.cold,
            elapsed_ms: a.turn.accepted.elapsed().as_millis() as u64,
            host: None,
        };
        // The caller first; the bookkeeping is not on its path. The next command waits for
        // it, so turns are counted in order.
        a.turn.finish(Ok(result));
        let key = self.key.clone();
        if self.fork_of.take().is_some() {
            // The fork's own transcript exists now; later starts resume it.
            let k = key.clone();
            if let Ok(Err(e)) = self.pool.db.call(move |c| records::forked(c, &k)).await {
                tracing::error!(SESSION_KEY = %self.key, "cannot record the fork: {e}");
            }
        }
        if let Ok(Err(e)) = self
            .pool
            .db
            .call(move |c| {
                records::record_turn(c, &key, cost)?;
                match &history {
                    Some(h) => records::append_history(c, &key, std::slice::from_ref(h)),
                    None => Ok(()),
                }
            })
            .await
        {
            tracing::error!(SESSION_KEY = %self.key, "cannot record the turn: {e}");
        }
    }

    /// The child is gone unexpectedly (or never came up): fail what waited on it, then
    /// schedule a restart or trip the breaker.
    pub(super) async fn crashed(&mut self, why: String, code: &'static str) {
        self.child = None;
        self.ready = false;
        self.spawn_deadline = None;
        self.draining = None;
        self.controls.clear();
        self.abandon_permissions(&why, None).await;
        self.fail_starters(TurnError::new(code, why.clone()));
        if let Some(a) = self.active.take() {
            a.turn.finish(Err(TurnError::new(code, why.clone())));
        }
        if self.breaker.record(Instant::now()) {
            let reason = format!(
                "{} crashes within {} s; last: {why}",
                self.pool.config.crash_limit, self.pool.config.crash_window_secs
            );
            self.failed = Some(reason.clone());
            self.restart_at = None;
            self.emit(EventKind::Failed, Some(reason));
            return;
        }
        let delay = self.backoff.next_delay();
        self.restart_at = Some(Instant::now() + delay);
        self.emit(
            EventKind::RestartScheduled,
            Some(format!("in {} ms", delay.as_millis())),
        );
    }
}

pub(super) fn tail_suffix(tail: &str) -> String {
    if tail.is_empty() {
        String::new()
    } else {
        format!("; {tail}")
    }
}
