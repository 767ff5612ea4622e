//! The drain: moves accepted sends out of the outbox — into the inbox in local mode, to the
//! broker in broker mode. Woken on every accept, and polls every 500 ms for rows whose
//! backoff has passed. In broker mode rows are published one at a time, in order, each
//! waiting for its ack, so a sender's messages reach the stream in the order they were
//! accepted even across retries.

use crate::broker::{Broker, PublishFailure};
use crate::mesh::Mesh;
use crate::outbox;
use std::sync::Arc;
use std::time::Duration;

/// Rows claimed per broker batch.
const BATCH: usize = 32;

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

/// Publish due rows in order, one at a time, each waiting for its ack. Successes are written
/// to the outbox together (a crash before that write republishes them, and the broker
/// answers with duplicates). `Err` means the broker is out: the rest went back to pending
/// without counting an attempt.
async fn publish_batch(mesh: &Arc<Mesh>, broker: &Arc<Broker>) -> Result<usize, String> {
    if !broker.connected() {
        return Err("not connected".into());
    }
    let rows = mesh
        .db
        .call(|c| outbox::claim(c, BATCH))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let mut done: Vec<(i64, i64)> = Vec::with_capacity(rows.len());
    let mut dead: Vec<(i64, String)> = Vec::new();
    let mut stop: Option<Stop> = None;
    for (i, row) in rows.iter().enumerate() {
        let from_name = mesh.sender_name(row.from_session.as_deref());
        match broker.publish(&mesh.identity, from_name, row).await {
            Ok(seq) => done.push((row.id, seq)),
            Err(PublishFailure::Permanent(e)) => {
                tracing::warn!(cmid = %row.client_message_id, error = %e, "send is dead");
                dead.push((row.id, e));
            }
            Err(PublishFailure::Transient(e)) => {
                tracing::warn!(cmid = %row.client_message_id, error = %e, "send failed; will retry");
                stop = Some(Stop {
                    release: rows[i + 1..].iter().map(|r| r.id).collect(),
                    failed: Some((row.id, e.clone())),
                    why: e,
                });
                break;
            }
            Err(PublishFailure::Outage(e)) => {
                stop = Some(Stop {
                    release: rows[i..].iter().map(|r| r.id).collect(),
                    failed: None,
                    why: e,
                });
                break;
            }
        }
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
