//! The receiver: this member's durable consumer of the team's stream. Messages are taken
//! in batches (whatever is buffered, up to [`BATCH`]), verified and opened, stored in one
//! transaction, and acknowledged after the commit. A forged or undecryptable message is
//! dropped and logged; this member's own messages are skipped.

use super::broker::{backoff, Broker};
use super::crypto;
use super::store;
use super::Share;
use futures::{FutureExt, StreamExt};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// Most messages stored in one transaction.
const BATCH: usize = 2048;

/// Run until shutdown, starting the consumer again after broker trouble.
pub async fn run(s: Arc<Share>, b: Arc<Broker>) {
    let mut attempt = 0u32;
    loop {
        let r = tokio::select! {
            _ = s.shutdown.cancelled() => return,
            r = once(&s, &b) => r,
        };
        if let Err(e) = r {
            attempt += 1;
            tracing::warn!(error = %e, "team memory: receiving paused");
        } else {
            attempt = 0;
        }
        tokio::select! {
            _ = s.shutdown.cancelled() => return,
            _ = tokio::time::sleep(backoff(attempt)) => {}
        }
    }
}

async fn once(s: &Arc<Share>, b: &Broker) -> anyhow::Result<()> {
    let me = s.member.id.public_hex().to_string();
    let mut consumer = b.consumer(&me).await?;
    if consumer.info().await?.num_pending == 0 {
        s.caught_up.send_replace(true);
    }
    // Large pulls: a member back after a while catches up thousands of records a second.
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(BATCH)
        .messages()
        .await?;
    tracing::info!("team memory: receiving");
    loop {
        let Some(first) = messages.next().await else {
            return Ok(());
        };
        // Whatever else is already buffered: one transaction for the lot.
        let mut batch = vec![first.map_err(|e| anyhow::anyhow!("consumer: {e}"))?];
        while batch.len() < BATCH {
            match messages.next().now_or_never() {
                Some(Some(m)) => batch.push(m.map_err(|e| anyhow::anyhow!("consumer: {e}"))?),
                _ => break,
            }
        }
        let mut keep = Vec::with_capacity(batch.len());
        for m in &batch {
            match crypto::open(&s.key, &m.subject, &m.payload) {
                Ok((from, _)) if from == me => {}
                Ok(msg) => keep.push(msg),
                Err(why) => {
                    s.rejected.fetch_add(1, Relaxed);
                    tracing::warn!(subject = %m.subject, reason = %why, "team memory: dropped a message");
                }
            }
        }
        let n = keep.len() as u64;
        if !keep.is_empty() {
            let applied = s.with_conn(move |c| store::apply(c, &keep)).await?;
            tracing::debug!(?applied, "team memory: stored");
        }
        s.received.fetch_add(n, Relaxed);
        let left = batch
            .last()
            .and_then(|m| m.info().ok())
            .map_or(1, |i| i.pending);
        for m in &batch {
            m.ack().await.map_err(|e| anyhow::anyhow!("ack: {e}"))?;
        }
        if left == 0 {
            s.caught_up.send_replace(true);
        }
    }
}
