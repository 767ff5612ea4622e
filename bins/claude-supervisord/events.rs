//! Lifecycle events: a ring of recent ones for `GET /v1/status`, a broadcast for
//! `GET /v1/events`, and a log line for the journal.

use claude_daemons::api::supervisor::{EventKind, LifecycleEvent, PermissionRequest};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::broadcast;

/// Events kept for status and for SSE clients resuming with `Last-Event-ID`.
const RING: usize = 200;

pub struct Events {
    inner: Mutex<Ring>,
    tx: broadcast::Sender<LifecycleEvent>,
}

struct Ring {
    next_seq: u64,
    events: VecDeque<LifecycleEvent>,
}

impl Events {
    pub fn new() -> Events {
        Events {
            inner: Mutex::new(Ring {
                next_seq: 1,
                events: VecDeque::with_capacity(RING),
            }),
            tx: broadcast::channel(256).0,
        }
    }

    pub fn emit(&self, kind: EventKind, key: &str, pid: Option<u32>, detail: Option<String>) {
        self.emit_with(kind, key, pid, detail, None);
    }

    /// [`Events::emit`], with the permission prompt the event is about.
    pub fn emit_with(
        &self,
        kind: EventKind,
        key: &str,
        pid: Option<u32>,
        detail: Option<String>,
        permission: Option<PermissionRequest>,
    ) {
        let at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut ring = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let event = LifecycleEvent {
            seq: ring.next_seq,
            at_ms,
            kind,
            key: key.into(),
            pid,
            detail,
            permission: permission.map(Box::new),
        };
        ring.next_seq += 1;
        if ring.events.len() == RING {
            ring.events.pop_front();
        }
        ring.events.push_back(event.clone());
        // Sent under the lock so subscribers see events in `seq` order.
        let _ = self.tx.send(event.clone());
        drop(ring);
        let name = kind.as_str();
        let line = match &event.detail {
            Some(d) => format!("session {key}: {name}: {d}"),
            None => format!("session {key}: {name}"),
        };
        match kind {
            EventKind::Failed | EventKind::BadOutput | EventKind::TurnTimeout => {
                tracing::warn!(SESSION_KEY = key, pid, EVENT = name, "{line}")
            }
            _ => tracing::info!(SESSION_KEY = key, pid, EVENT = name, "{line}"),
        }
    }

    /// Recent events, oldest first.
    pub fn recent(&self) -> Vec<LifecycleEvent> {
        let ring = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        ring.events.iter().cloned().collect()
    }

    /// Events after `seq` still in the ring, plus a live subscription; taken together under
    /// the lock so nothing falls between them.
    pub fn subscribe_after(
        &self,
        seq: u64,
    ) -> (Vec<LifecycleEvent>, broadcast::Receiver<LifecycleEvent>) {
        let ring = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let backlog = ring
            .events
            .iter()
            .filter(|e| e.seq > seq)
            .cloned()
            .collect();
        (backlog, self.tx.subscribe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_is_bounded_and_ordered() {
        let e = Events::new();
        let (_, mut rx) = e.subscribe_after(0);
        for _ in 0..(RING + 5) {
            e.emit(EventKind::Spawned, "k", Some(1), None);
        }
        let recent = e.recent();
        assert_eq!(recent.len(), RING);
        assert_eq!(recent[0].seq, 6);
        assert_eq!(rx.try_recv().unwrap().seq, 1);
        let (backlog, _) = e.subscribe_after(RING as u64);
        assert_eq!(backlog.len(), 5);
    }
}
