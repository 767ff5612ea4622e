//! Live announcements for `/stream` (SSE): new prompts, observations, summaries and queue
//! status, in seed 000's event names. A broadcast channel: slow listeners miss old items
//! rather than holding memory.

use serde_json::{json, Value};
use tokio::sync::broadcast;

/// One SSE event.
#[derive(Clone, Debug)]
pub struct Announce {
    /// `observation-created`, `session-summary-created`, `user-prompt-created`,
    /// `record-deleted`, `queue-status`.
    pub name: &'static str,
    /// The JSON payload.
    pub data: Value,
}

impl Announce {
    /// A new prompt.
    pub fn prompt(id: i64, session_id: &str, project: &str, number: i64, text: &str) -> Announce {
        Announce {
            name: "user-prompt-created",
            data: json!({"id": id, "session_id": session_id, "project": project,
                         "prompt_number": number, "prompt": text}),
        }
    }

    /// A new observation.
    pub fn observation(
        id: i64,
        session_id: &str,
        project: &str,
        kind: &str,
        title: &str,
    ) -> Announce {
        Announce {
            name: "observation-created",
            data: json!({"id": id, "session_id": session_id, "project": project,
                         "type": kind, "title": title}),
        }
    }

    /// A new summary.
    pub fn summary(id: i64, session_id: &str, project: &str, request: Option<&str>) -> Announce {
        Announce {
            name: "session-summary-created",
            data: json!({"id": id, "session_id": session_id, "project": project,
                         "request": request}),
        }
    }

    /// Teammates' records were stored (team memory). Like every `…-created` announcement it
    /// only wakes `/stream`, which sends the records from the database.
    pub fn received(stored: usize) -> Announce {
        Announce {
            name: "team-records-created",
            data: json!({"stored": stored}),
        }
    }

    /// A record forgotten (`record` is `observation`, `summary` or `prompt`).
    pub fn deleted(record: &str, id: i64, project: &str) -> Announce {
        Announce {
            name: "record-deleted",
            data: json!({"record": record, "id": id, "project": project}),
        }
    }

    /// The processor's queue after a pass.
    pub fn queue(pending: i64, failed: i64) -> Announce {
        Announce {
            name: "queue-status",
            data: json!({"pending": pending, "failed": failed}),
        }
    }
}

/// Sending side, cloned into the writer and the processor.
#[derive(Clone, Debug)]
pub struct Announcer {
    tx: broadcast::Sender<Announce>,
}

impl Announcer {
    /// A channel keeping the last 256 announcements for slow listeners.
    pub fn new() -> Announcer {
        Announcer {
            tx: broadcast::channel(256).0,
        }
    }

    /// Announce (nobody listening is fine).
    pub fn send(&self, a: Announce) {
        let _ = self.tx.send(a);
    }

    /// A new listener.
    pub fn subscribe(&self) -> broadcast::Receiver<Announce> {
        self.tx.subscribe()
    }
}
