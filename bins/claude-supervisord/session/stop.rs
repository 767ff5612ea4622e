//! Stopping a session's child: gracefully (reap, evict, DELETE, shutdown) or outright.

use super::actor::Actor;
use crate::child::ExitInfo;
use crate::turn::TurnError;
use claude_daemons::api::supervisor::EventKind;
use std::time::Duration;

impl Actor {
    /// Graceful stop of the child (not a crash).
    pub(super) async fn stop_child(&mut self, kind: EventKind, why: &str) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        let pid = c.pid;
        let exit = c
            .stop(Duration::from_millis(self.pool.config.stop_grace_ms))
            .await;
        drop(c);
        self.ready = false;
        self.spawn_deadline = None;
        self.controls.clear();
        self.abandon_permissions(why, None).await;
        self.pool.events.emit(
            kind,
            &self.key,
            Some(pid),
            Some(format!("{why} ({})", exit.status)),
        );
    }

    /// SIGKILL the child's group and wait for it; returns its stderr tail.
    pub(super) async fn kill_child(&mut self) -> String {
        let Some(mut c) = self.child.take() else {
            return String::new();
        };
        c.signal(libc::SIGKILL);
        let exit: ExitInfo = c.stop(Duration::from_secs(1)).await;
        self.ready = false;
        self.spawn_deadline = None;
        self.controls.clear();
        self.abandon_permissions("the process was killed", None)
            .await;
        exit.stderr_tail
    }

    /// Fail every turn and stop the child; true if a child was running.
    pub(super) async fn stop_all(&mut self, code: &'static str, why: &str) -> bool {
        self.fail_starters(TurnError::new(code, why));
        if let Some(a) = self.active.take() {
            a.turn.finish(Err(TurnError::new(code, why)));
        }
        for t in self.queue.drain(..) {
            t.finish(Err(TurnError::new(code, why)));
        }
        let running = self.child.is_some();
        self.stop_child(EventKind::Stopped, why).await;
        self.restart_at = None;
        // The task ends: leave a true picture for status readers.
        self.publish();
        running
    }
}
