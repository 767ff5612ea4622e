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
        let pause = {
            let _busy = mesh.ctx.activity.enter();
            match mesh.broker.get().cloned() {
                // Broker mode, still connecting: never deliver locally by mistake.
                None if mesh.broker_mode() => Duration::from_millis(100),
                None => match mesh.deliver_local().await {
                    Ok(n) if n > 0 => Duration::ZERO,
                    Ok(_) => Duration::from_millis(500),
                    Err(e) => {
                        tracing::error!(error = %e, "local delivery failed");
                        Duration::from_secs(1)
                    }
                },
                Some(b) => match publish_batch(&mesh, &b).await {
                    Ok(n) => {
                        outage = 0;
                        if n > 0 {
                            Duration::ZERO
                        } else {
                            Duration::from_millis(500)
                        }
                    }
                    Err(why) => {
                        outage += 1;
                        if outage == 1 || outage % 20 == 0 {
                            tracing::warn!(reason = %why, "broker unavailable; sends stay pending");
                        }
                        Duration::from_millis((250u64 << outage.min(5)).min(5_000))
                    }
                },
            }
        };
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

/// How an attempt's outcome is written to the outbox.
type Record = Box<dyn FnOnce(&rusqlite::Connection) -> rusqlite::Result<()> + Send>;

/// Publish due rows in order. `Err` means the broker is out (rows went back to pending
/// without counting an attempt).
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
    let mut done = 0;
    for (i, row) in rows.iter().enumerate() {
        let outcome = broker.publish(mesh, row).await;
        let id = row.id;
        let rest: Vec<i64> = rows[i + 1..].iter().map(|r| r.id).collect();
        let (record, stop): (Record, Option<String>) = match outcome {
            Ok(seq) => (Box::new(move |c| outbox::mark_done(c, id, Some(seq))), None),
            Err(PublishFailure::Permanent(e)) => {
                tracing::warn!(cmid = %row.client_message_id, error = %e, "send is dead");
                (
                    Box::new(move |c| outbox::mark_failed(c, id, &e, true).map(|_| ())),
                    None,
                )
            }
            Err(PublishFailure::Transient(e)) => {
                tracing::warn!(cmid = %row.client_message_id, error = %e, "send failed; will retry");
                let e2 = e.clone();
                let rest = rest.clone();
                (
                    Box::new(move |c| {
                        outbox::mark_failed(c, id, &e2, false)?;
                        outbox::release(c, &rest)
                    }),
                    Some(e),
                )
            }
            Err(PublishFailure::Outage(e)) => {
                let mut all = vec![id];
                all.extend(&rest);
                (Box::new(move |c| outbox::release(c, &all)), Some(e))
            }
        };
        mesh.db
            .call(move |c| record(c))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        if let Some(why) = stop {
            return if done > 0 { Ok(done) } else { Err(why) };
        }
        done += 1;
    }
    Ok(done)
}
