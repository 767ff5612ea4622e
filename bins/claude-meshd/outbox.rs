//! The outbox: every accepted send, its state (pending → inflight → done | dead, or aborted
//! by an operator) and its audit trail. The idempotency table of the reference is applied
//! here, inside one `BEGIN IMMEDIATE` transaction, so two racing requests with one
//! `client_message_id` cannot both insert.

use crate::address::Resolved;
use crate::clock::{now_ms, now_text};
use crate::identity::hex;
use claude_daemons::api::mesh::{OutboxItem, Priority};
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

/// Delivery attempts before a row is dead.
pub const MAX_ATTEMPTS: i64 = 25;

/// A validated, resolved send.
pub struct NewSend {
    /// Its id.
    pub client_message_id: String,
    /// The request fingerprint.
    pub fingerprint: [u8; 32],
    /// Sending session.
    pub from_session: Option<String>,
    /// `to` as written.
    pub to_text: String,
    /// Resolved destination.
    pub resolved: Resolved,
    /// Priority.
    pub priority: Priority,
    /// reply_to.
    pub reply_to: Option<String>,
    /// meta (JSON text).
    pub meta: Option<String>,
    /// Body.
    pub body: String,
}

/// The outcome of one row of the idempotency table.
#[derive(Debug, PartialEq, Eq)]
pub enum Accepted {
    /// New row, pending.
    Queued {
        /// Row id.
        id: i64,
    },
    /// Same request already pending or inflight: nothing changed.
    Again {
        /// `queued` or `inflight`.
        status: &'static str,
        /// Row id.
        id: i64,
    },
    /// Same request already done: no broker call.
    Done {
        /// Row id (history id).
        id: i64,
        /// Where it went.
        broker_message_id: Option<i64>,
    },
    /// A 409 of the table.
    Conflict {
        /// Error name.
        error: &'static str,
        /// First 8 bytes of the stored fingerprint, hex.
        fingerprint: String,
        /// For done rows.
        broker_message_id: Option<i64>,
        /// For dead rows: the last error.
        dead_reason: Option<String>,
    },
}

/// Apply the idempotency table to `s`.
#[cfg(test)]
pub fn accept(conn: &mut Connection, s: &NewSend) -> rusqlite::Result<Accepted> {
    Ok(accept_all(conn, std::slice::from_ref(s))?.remove(0))
}

/// Apply the idempotency table to each of `sends` in order, in one transaction (a batch
/// costs one commit, and its rows get ids, hence delivery order, in the order given).
pub fn accept_all(conn: &mut Connection, sends: &[NewSend]) -> rusqlite::Result<Vec<Accepted>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let out = sends
        .iter()
        .map(|s| accept_one(&tx, s))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    tx.commit()?;
    Ok(out)
}

fn accept_one(tx: &Connection, s: &NewSend) -> rusqlite::Result<Accepted> {
    // Statements on the send path are cached: compiling them took as long as running them.
    let existing = tx
        .prepare_cached(
            "SELECT id, state, fingerprint, broker_message_id, last_error
             FROM outbox WHERE client_message_id = ?1",
        )?
        .query_row([&s.client_message_id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, Option<i64>>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })
        .optional()?;
    let outcome = match existing {
        None => {
            let id = insert(tx, s, None)?;
            Accepted::Queued { id }
        }
        Some((id, state, stored, broker_message_id, last_error)) => {
            let same = stored.as_slice() == s.fingerprint.as_slice();
            let fingerprint = hex(&stored[..8.min(stored.len())]);
            let conflict_with = |error, broker_message_id, dead_reason| Accepted::Conflict {
                error,
                fingerprint: fingerprint.clone(),
                broker_message_id,
                dead_reason,
            };
            let conflict = |error| conflict_with(error, None, None);
            match (state.as_str(), same) {
                ("pending", true) => Accepted::Again {
                    status: "queued",
                    id,
                },
                ("pending", false) => conflict("outbox_pending_fingerprint_mismatch"),
                ("inflight", true) => Accepted::Again {
                    status: "inflight",
                    id,
                },
                ("inflight", false) => conflict("outbox_inflight_fingerprint_mismatch"),
                ("done", true) => Accepted::Done {
                    id,
                    broker_message_id,
                },
                ("done", false) => {
                    conflict_with("outbox_done_fingerprint_mismatch", broker_message_id, None)
                }
                ("dead", true) => conflict_with("outbox_dead_fingerprint_match", None, last_error),
                ("dead", false) => conflict("outbox_dead_fingerprint_mismatch"),
                ("aborted", true) => conflict("outbox_aborted_fingerprint_match"),
                _ => conflict("outbox_aborted_fingerprint_mismatch"),
            }
        }
    };
    Ok(outcome)
}

fn insert(tx: &Connection, s: &NewSend, requeued_from: Option<&str>) -> rusqlite::Result<i64> {
    let (dest_key, dest_session) = match &s.resolved {
        Resolved::Direct { key, session } => (Some(key.as_str()), session.as_deref()),
        _ => (None, None),
    };
    let now = now_text();
    tx.prepare_cached(
        "INSERT INTO outbox (client_message_id, fingerprint, state, from_session, to_text,
             dest_kind, dest, dest_key, dest_session, priority, reply_to, meta, body,
             created_at, updated_at, requeued_from)
         VALUES (?1, ?2, 'pending', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13, ?14)",
    )?
    .execute(params![
        s.client_message_id,
        &s.fingerprint[..],
        s.from_session,
        s.to_text,
        s.resolved.kind(),
        s.resolved.canonical(),
        dest_key,
        dest_session,
        s.priority.as_str(),
        s.reply_to,
        s.meta,
        s.body,
        now,
        requeued_from,
    ])?;
    Ok(tx.last_insert_rowid())
}

/// A row taken for delivery.
#[derive(Clone, Debug)]
pub struct Claimed {
    /// Row id.
    pub id: i64,
    /// Send id.
    pub client_message_id: String,
    /// Sending session.
    pub from_session: Option<String>,
    /// Resolved destination.
    pub resolved: Resolved,
    /// Priority.
    pub priority: Priority,
    /// reply_to.
    pub reply_to: Option<String>,
    /// meta JSON text.
    pub meta: Option<String>,
    /// Body.
    pub body: String,
    /// Accepted at.
    pub created_at: String,
    /// Attempts including this one.
    pub attempts: i64,
}

const CLAIM_COLUMNS: &str = "id, client_message_id, from_session, dest_kind, dest, dest_key,
    dest_session, priority, reply_to, meta, body, created_at, attempts, next_attempt_ms";

fn claimed(r: &Row<'_>) -> rusqlite::Result<(Claimed, i64)> {
    let kind: String = r.get(3)?;
    let dest: String = r.get(4)?;
    let resolved = match kind.as_str() {
        "dm" => Resolved::Direct {
            key: r.get::<_, Option<String>>(5)?.unwrap_or_default(),
            session: r.get(6)?,
        },
        "group" => Resolved::Group(dest.trim_start_matches('@').into()),
        "topic" => Resolved::Topic(dest.trim_start_matches('#').into()),
        _ => Resolved::Broadcast,
    };
    Ok((
        Claimed {
            id: r.get(0)?,
            client_message_id: r.get(1)?,
            from_session: r.get(2)?,
            resolved,
            priority: Priority::parse(&r.get::<_, String>(7)?).unwrap_or_default(),
            reply_to: r.get(8)?,
            meta: r.get(9)?,
            body: r.get::<_, Option<String>>(10)?.unwrap_or_default(),
            created_at: r.get(11)?,
            attempts: r.get(12)?,
        },
        r.get(13)?,
    ))
}

/// Pending rows that are due, oldest first, stopping at the first that is not: a row backing
/// off holds back the rows after it, so messages leave in the order they were accepted.
pub fn due(tx: &Connection, limit: usize) -> rusqlite::Result<Vec<Claimed>> {
    let now = now_ms();
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {CLAIM_COLUMNS} FROM outbox WHERE state = 'pending' ORDER BY id LIMIT ?1"
    ))?;
    let rows = stmt.query_map([limit as i64], claimed)?;
    let mut out = Vec::new();
    for row in rows {
        let (c, next) = row?;
        if next > now {
            break;
        }
        out.push(c);
    }
    Ok(out)
}

/// Take due rows for a broker publish: pending → inflight, attempts + 1.
pub fn claim(conn: &mut Connection, limit: usize) -> rusqlite::Result<Vec<Claimed>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut rows = due(&tx, limit)?;
    if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
        // The due rows are the first pending ones by id, so the pending rows between the
        // first and the last are exactly them: one statement instead of one per row.
        tx.prepare_cached(
            "UPDATE outbox SET state = 'inflight', attempts = attempts + 1, inflight_at = ?3,
                 updated_at = ?3 WHERE state = 'pending' AND id BETWEEN ?1 AND ?2",
        )?
        .execute(params![first.id, last.id, now_text()])?;
    }
    for c in &mut rows {
        c.attempts += 1;
    }
    tx.commit()?;
    Ok(rows)
}

/// Mark delivered. The plaintext is dropped: the fingerprint is enough to answer repeats.
/// Only an inflight (or, in local mode, pending) row can finish; a row an operator aborted
/// meanwhile stays aborted.
pub fn mark_done(tx: &Connection, id: i64, broker_message_id: Option<i64>) -> rusqlite::Result<()> {
    let now = now_text();
    tx.prepare_cached(
        "UPDATE outbox SET state = 'done', broker_message_id = ?2, done_at = ?3, updated_at = ?3,
             body = NULL, meta = NULL, last_error = NULL
         WHERE id = ?1 AND state IN ('inflight', 'pending')",
    )?
    .execute(params![id, broker_message_id, now])?;
    Ok(())
}

/// The wait before attempt `attempts + 1`: min(30 s, 0.5 s · 2^(attempts-1)).
pub fn backoff_ms(attempts: i64) -> i64 {
    let exp = (attempts.max(1) - 1).min(16) as u32;
    (500i64 << exp).min(30_000)
}

/// Record a failed attempt: back to pending with backoff, or dead when `permanent` or out of
/// attempts. Returns whether the row is now dead.
pub fn mark_failed(
    conn: &Connection,
    id: i64,
    error: &str,
    permanent: bool,
) -> rusqlite::Result<bool> {
    let now = now_text();
    let attempts: i64 = conn
        .query_row("SELECT attempts FROM outbox WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .optional()?
        .unwrap_or(0);
    let dead = permanent || attempts >= MAX_ATTEMPTS;
    if dead {
        conn.execute(
            "UPDATE outbox SET state = 'dead', last_error = ?2, dead_at = ?3, updated_at = ?3
             WHERE id = ?1 AND state IN ('inflight', 'pending')",
            params![id, error, now],
        )?;
    } else {
        conn.execute(
            "UPDATE outbox SET state = 'pending', last_error = ?2, updated_at = ?3,
                 next_attempt_ms = ?4
             WHERE id = ?1 AND state = 'inflight'",
            params![id, error, now, now_ms() + backoff_ms(attempts)],
        )?;
    }
    Ok(dead)
}

/// Put rows a crash left inflight back to pending (run at start, before the drain).
pub fn reset_inflight(conn: &Connection) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE outbox SET state = 'pending', updated_at = ?1,
             last_error = coalesce(last_error, 'interrupted by a restart')
         WHERE state = 'inflight'",
        [now_text()],
    )
}

/// `GET /v1/outbox`.
pub fn list(
    conn: &Connection,
    states: &[String],
    since: i64,
    limit: usize,
) -> rusqlite::Result<Vec<OutboxItem>> {
    let filter = if states.is_empty() {
        String::new()
    } else {
        // States were validated against the fixed list by the route.
        format!(
            " AND state IN ({})",
            states
                .iter()
                .map(|s| format!("'{s}'"))
                .collect::<Vec<_>>()
                .join(",")
        )
    };
    let mut stmt = conn.prepare(&format!(
        "SELECT id, client_message_id, state, to_text, dest_kind, priority, attempts, last_error,
             broker_message_id, fingerprint, created_at, updated_at, done_at, aborted_at,
             aborted_by, superseded_by
         FROM outbox WHERE id > ?1{filter} ORDER BY id LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![since, limit as i64], |r| {
        let fp: Vec<u8> = r.get(9)?;
        Ok(OutboxItem {
            id: r.get(0)?,
            client_message_id: r.get(1)?,
            state: r.get(2)?,
            to: r.get(3)?,
            kind: r.get(4)?,
            priority: Priority::parse(&r.get::<_, String>(5)?).unwrap_or_default(),
            attempts: r.get(6)?,
            last_error: r.get(7)?,
            broker_message_id: r.get(8)?,
            fingerprint: hex(&fp[..8.min(fp.len())]),
            created_at: r.get(10)?,
            updated_at: r.get(11)?,
            done_at: r.get(12)?,
            aborted_at: r.get(13)?,
            aborted_by: r.get(14)?,
            superseded_by: r.get(15)?,
        })
    })?;
    rows.collect()
}

/// Why a requeue was refused.
#[derive(Debug, thiserror::Error)]
pub enum RequeueError {
    /// No such row.
    #[error("no outbox row {0}")]
    NotFound(String),
    /// Done or aborted rows cannot be requeued.
    #[error("row {id} is {state}; only pending, inflight and dead rows can be requeued")]
    NotAllowed {
        /// The row.
        id: String,
        /// Its state.
        state: String,
    },
    /// The new id is taken (ids are never freed).
    #[error("client_message_id {0} is already used")]
    IdInUse(String),
    /// SQLite.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

/// Retire a row (pending, inflight or dead → aborted) and queue its content again under a new
/// id, in one transaction. Returns (old client id, new row id).
pub fn requeue(
    conn: &mut Connection,
    which: &str,
    new_id: &str,
    by: &str,
) -> Result<(String, i64), RequeueError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let row = tx
        .query_row(
            "SELECT id, client_message_id, state FROM outbox
             WHERE client_message_id = ?1 OR CAST(id AS TEXT) = ?1
             ORDER BY client_message_id = ?1 DESC LIMIT 1",
            [which],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            },
        )
        .optional()?
        .ok_or_else(|| RequeueError::NotFound(which.into()))?;
    let (id, old, state) = row;
    if !matches!(state.as_str(), "pending" | "inflight" | "dead") {
        return Err(RequeueError::NotAllowed { id: old, state });
    }
    let taken: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM outbox WHERE client_message_id = ?1)",
        [new_id],
        |r| r.get(0),
    )?;
    if taken {
        return Err(RequeueError::IdInUse(new_id.into()));
    }
    let now = now_text();
    tx.execute(
        "UPDATE outbox SET state = 'aborted', aborted_at = ?2, aborted_by = ?3,
             superseded_by = ?4, updated_at = ?2
         WHERE id = ?1",
        params![id, now, by, new_id],
    )?;
    tx.execute(
        "INSERT INTO outbox (client_message_id, fingerprint, state, from_session, to_text,
             dest_kind, dest, dest_key, dest_session, priority, reply_to, meta, body,
             created_at, updated_at, requeued_from)
         SELECT ?2, fingerprint, 'pending', from_session, to_text, dest_kind, dest, dest_key,
             dest_session, priority, reply_to, meta, body, ?3, ?3, client_message_id
         FROM outbox WHERE id = ?1",
        params![id, new_id, now],
    )?;
    let new_row = tx.last_insert_rowid();
    tx.commit()?;
    Ok((old, new_row))
}

/// Put claimed rows back to pending without counting the attempt (the broker was out; the
/// rows did nothing wrong).
pub fn release(conn: &Connection, ids: &[i64]) -> rusqlite::Result<()> {
    let now = now_text();
    for id in ids {
        conn.prepare_cached(
            "UPDATE outbox SET state = 'pending', attempts = max(attempts - 1, 0), updated_at = ?2
             WHERE id = ?1 AND state = 'inflight'",
        )?
        .execute(params![id, now])?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "outbox_tests.rs"]
mod tests;
