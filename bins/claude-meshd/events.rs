//! Events for `GET /v1/events`: every event is first written to the `events` table (so a
//! reconnecting client can replay from `Last-Event-ID`), then fanned out to live streams.

use crate::clock::now_text;
use rusqlite::{params, Connection};
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::broadcast;

/// Events kept for replay.
const KEEP: i64 = 50_000;

/// One event.
#[derive(Clone, Debug)]
pub struct Event {
    /// Its id (the SSE `id:`).
    pub id: i64,
    /// `message`, `peer_join`, `peer_leave`, `broker_status` or `system`.
    pub kind: String,
    /// The `data:` object; always has `ts`.
    pub data: Value,
}

/// Write an event (inside the caller's transaction, so a message and its event commit
/// together). Publish it with [`Events::publish`] after the commit.
pub fn record(conn: &Connection, kind: &str, mut data: Value) -> rusqlite::Result<Event> {
    if let Value::Object(m) = &mut data {
        m.insert("ts".into(), now_text().into());
    }
    conn.prepare_cached("INSERT INTO events (kind, data) VALUES (?1, ?2)")?
        .execute(params![kind, data.to_string()])?;
    Ok(Event {
        id: conn.last_insert_rowid(),
        kind: kind.into(),
        data,
    })
}

/// Events after `after`, oldest first.
pub fn since(conn: &Connection, after: i64, limit: usize) -> rusqlite::Result<Vec<Event>> {
    let mut stmt = conn
        .prepare_cached("SELECT id, kind, data FROM events WHERE id > ?1 ORDER BY id LIMIT ?2")?;
    let rows = stmt.query_map(params![after, limit as i64], |r| {
        let data: String = r.get(2)?;
        Ok(Event {
            id: r.get(0)?,
            kind: r.get(1)?,
            data: serde_json::from_str(&data).unwrap_or(Value::Null),
        })
    })?;
    rows.collect()
}

/// Drop events beyond the replay window.
pub fn prune(conn: &Connection) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM events WHERE id <= (SELECT max(id) FROM events) - ?1",
        [KEEP],
    )
}

/// The live fan-out.
#[derive(Clone)]
pub struct Events {
    tx: broadcast::Sender<Arc<Event>>,
}

impl Default for Events {
    fn default() -> Self {
        Events::new()
    }
}

impl Events {
    /// A hub with room for bursts; a stream that falls behind catches up from the table.
    pub fn new() -> Events {
        Events {
            tx: broadcast::channel(4096).0,
        }
    }

    /// Send committed events to live streams.
    pub fn publish(&self, events: impl IntoIterator<Item = Event>) {
        for e in events {
            let _ = self.tx.send(Arc::new(e));
        }
    }

    /// Listen.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }
}
