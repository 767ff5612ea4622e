//! The drain: moves accepted sends out of the outbox — into the inbox in local mode, to the
//! broker in broker mode. Woken on every accept, and polls every 500 ms for rows whose
//! backoff has passed. In broker mode rows are published pipelined — written to the one
//! connection in order, up to [`WINDOW`] acks outstanding — so a sender's messages reach
//! the stream in the order they were accepted; acks are read in that order too, and the
//! first failed one ends the batch: it and every later row whose ack did not come are
//! published again, in order, by the next batch (the stream's `Nats-Msg-Id` dedupe answers
//! the ones it already holds as duplicates, and the receiver's `seen` table drops any that
//! still arrive twice).

use crate::broker::{Broker, PendingAck, PublishFailure};
use crate::mesh::Mesh;
use crate::outbox;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// Rows claimed per broker batch.
const BATCH: usize = 1024;

/// Most publishes whose ack is outstanding.
pub const WINDOW: usize = 256;

/// Run until shutdown.
pub async fn run(mesh: Arc<Mesh>) {
    let mut outage = 0u32;
    loop {
        // Held while polling so idle exit never cuts a delivery short; a poll that found
        // nothing does not count as activity (pending sends during an outage do).
        let busy = mesh.ctx.activity.enter();
        let (pause, found_nothing) = match mesh.broker.get().cloned() {
            // Broker mode, still connecting: never deliver locally by mistake.
            None if mesh.broker_mode() => (Duration::from_millis(100), false),
            None => match mesh.deliver_local().await {
                Ok(n) if n > 0 => (Duration::ZERO, false),
                Ok(_) => (Duration::from_millis(500), true),
                Err(e) => {
                    tracing::error!(error = %e, "local delivery failed");
                    (Duration::from_secs(1), false)
                }
            },
            Some(b) => match publish_batch(&mesh, &b).await {
                Ok(n) => {
                    outage = 0;
                    if n > 0 {
                        (Duration::ZERO, false)
                    } else {
                        (Duration::from_millis(500), true)
                    }
                }
                Err(why) => {
                    outage += 1;
                    if outage == 1 || outage % 20 == 0 {
                        tracing::warn!(reason = %why, "broker unavailable; sends stay pending");
                    }
                    (
                        Duration::from_millis((250u64 << outage.min(5)).min(5_000)),
                        false,
                    )
                }
            },
        };
        if found_nothing {
            busy.found_nothing();
        } else {
            drop(busy);
        }
        if pause.is_zero() {
            if mesh.ctx.shutdown.is_cancelled() {
                return;
            }
            continue;
        }
        tokio::select! {
            _ = mesh.ctx.shutdown.cancelled() => return,
            _ = mesh.wake.notified() => {}
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

/// Why a batch ended early.
struct Stop {
    /// Claimed rows not attempted: back to pending, no attempt counted.
    release: Vec<i64>,
    /// The row that failed transiently, and why (counts an attempt).
    failed: Option<(i64, String)>,
    /// For the log.
    why: String,
}

/// Publish due rows in order, pipelined, reading the acks in order. Successes are written
/// to the outbox together (a crash before that write republishes them, and the broker
/// answers with duplicates). `Err` means the broker is out: the rest went back to pending
/// without counting an attempt.
async fn publish_batch(mesh: &Arc<Mesh>, broker: &Arc<Broker>) -> Result<usize, String> {
    if !broker.connected() {
        return Err("not connected".into());
    }
    broker.ensure_ready().await.map_err(|e| e.to_string())?;
    let rows = mesh
        .db
        .call(|c| outbox::claim(c, BATCH))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let mut done: Vec<(i64, i64)> = Vec::with_capacity(rows.len());
    let mut dead: Vec<(i64, String)> = Vec::new();
    let mut stop: Option<Stop> = None;
    // (row index, its pending ack), oldest first.
    let mut pending: VecDeque<(usize, PendingAck)> = VecDeque::with_capacity(WINDOW);
    let mut next = 0;
    // Each turn: read the oldest ack when the window is full or every row was written,
    // otherwise write the next row.
    while stop.is_none() && (next < rows.len() || !pending.is_empty()) {
        if pending.len() >= WINDOW || next == rows.len() {
            let Some((i, ack)) = pending.pop_front() else {
                break;
            };
            match ack.ack().await {
                Ok(seq) => done.push((rows[i].id, seq)),
                Err(f) => stop = failure(&rows, i, f, &mut dead),
            }
            continue;
        }
        let row = &rows[next];
        let from_name = mesh.sender_name(row.from_session.as_deref());
        match broker.start_publish(&mesh.identity, from_name, row).await {
            Ok(ack) => pending.push_back((next, ack)),
            Err(f) => stop = failure(&rows, next, f, &mut dead),
        }
        next += 1;
    }
    if let Some(s) = &mut stop {
        // Rows still in the window are retried in order after the failed one: whatever of
        // them the stream already holds comes back as a duplicate with its sequence.
        s.release.extend(pending.drain(..).map(|(i, _)| rows[i].id));
        s.release
            .extend(rows[next.min(rows.len())..].iter().map(|r| r.id));
        s.release.sort_unstable();
        s.release.dedup();
    }
    let n = done.len() + dead.len();
    let release = stop.as_ref().map(|s| (s.release.clone(), s.failed.clone()));
    mesh.db
        .call(move |c| -> rusqlite::Result<()> {
            let tx = c.transaction()?;
            for (id, seq) in done {
                outbox::mark_done(&tx, id, Some(seq))?;
            }
            for (id, e) in dead {
                outbox::mark_failed(&tx, id, &e, true)?;
            }
            if let Some((rest, failed)) = release {
                if let Some((id, e)) = failed {
                    outbox::mark_failed(&tx, id, &e, false)?;
                }
                outbox::release(&tx, &rest)?;
            }
            tx.commit()
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    match stop {
        Some(s) if n == 0 => Err(s.why),
        _ => Ok(n),
    }
}

/// What a failed publish of row `i` does to the batch: a permanent failure makes the row
/// dead and the batch goes on; any other ends it (the row retried first, in order).
fn failure(
    rows: &[outbox::Claimed],
    i: usize,
    f: PublishFailure,
    dead: &mut Vec<(i64, String)>,
) -> Option<Stop> {
    let row = &rows[i];
    match f {
        PublishFailure::Permanent(e) => {
            tracing::warn!(cmid = %row.client_message_id, error = %e, "send is dead");
            dead.push((row.id, e));
            None
        }
        PublishFailure::Transient(e) => {
            tracing::warn!(cmid = %row.client_message_id, error = %e, "send failed; will retry");
            Some(Stop {
                release: Vec::new(),
                failed: Some((row.id, e.clone())),
                why: e,
            })
        }
        PublishFailure::Outage(e) => Some(Stop {
            release: vec![row.id],
            failed: None,
            why: e,
        }),
    }
}
