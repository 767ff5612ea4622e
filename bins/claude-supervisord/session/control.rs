//! Changing a running child in place (model, permission mode: control requests, so the
//! process and its context stay), and prewarm (spawning before the first ask).

use super::actor::Actor;
use crate::settings::Settings;
use crate::turn::TurnError;
use claude_daemons::api::supervisor::EventKind;
use claude_daemons::claude::{ChildInput, ControlResponse};
use serde_json::{Map, Value};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

impl Actor {
    /// Bring the ready child to `wanted`, which `same_process` allows; the next turn waits
    /// for the answers.
    pub(super) fn change_in_place(&mut self, wanted: Settings) {
        let cur = self.child_settings.clone().unwrap_or_default();
        let mut sends = Vec::new();
        if let (true, Some(m)) = (wanted.model != cur.model, &wanted.model) {
            sends.push(("set_model", "model", m.clone()));
        }
        if let (true, Some(m)) = (
            wanted.permission_mode != cur.permission_mode,
            &wanted.permission_mode,
        ) {
            sends.push(("set_permission_mode", "mode", m.clone()));
        }
        for (subtype, field, value) in sends {
            self.seq += 1;
            let id = format!("{subtype}-{}", self.seq);
            let mut fields = Map::new();
            fields.insert(field.into(), Value::String(value.clone()));
            let sent = self
                .child
                .as_ref()
                .is_some_and(|c| c.send(&ChildInput::control_with(id.clone(), subtype, fields)));
            if sent {
                tracing::info!(SESSION_KEY = %self.key, "{subtype} {value}");
                self.controls.insert(id);
            }
        }
        self.child_settings = Some(wanted);
    }

    /// The answer to a live change; a refusal restarts the child with the new settings
    /// (`--resume`, so the conversation is kept) and the CLI's own check of them.
    pub(super) async fn control_answered(&mut self, r: ControlResponse) {
        self.controls.remove(&r.response.request_id);
        if r.response.is_success() {
            return;
        }
        let why = format!(
            "claude refused {}: {}; restarting with --resume",
            r.response.request_id,
            r.response.error.unwrap_or_default()
        );
        self.controls.clear();
        self.stop_child(EventKind::Stopped, &why).await;
    }

    /// Spawn now (with the stored settings) unless a child runs; answer once it is ready.
    pub(super) async fn prewarm(&mut self, reply: oneshot::Sender<Result<(), TurnError>>) {
        if let Some(why) = &self.failed {
            let _ = reply.send(Err(TurnError::new("session_failed", why.clone())));
            return;
        }
        if self.child.is_some() && self.ready {
            let _ = reply.send(Ok(()));
            return;
        }
        self.starters.push(reply);
        if self.child.is_some() || self.restart_at.is_some() {
            return;
        }
        let settings = self
            .settings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let deadline = Instant::now() + Duration::from_secs(self.pool.config.spawn_timeout_secs);
        self.spawn(settings, Some(deadline)).await;
        if self.child.is_none() && self.restart_at.is_none() {
            self.fail_starters(TurnError::new(
                "spawn_failed",
                format!(
                    "no room for another process (max_processes = {}) and none idle to evict",
                    self.pool.config.max_processes
                ),
            ));
        }
    }

    pub(super) fn fail_starters(&mut self, e: TurnError) {
        for s in self.starters.drain(..) {
            let _ = s.send(Err(e.clone()));
        }
    }
}
