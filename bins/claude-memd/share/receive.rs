//! The receiver: this member's durable consumer of the team's stream. Messages are fetched
//! in batches (what is there, up to [`BATCH`]; every [`IDLE_POLL`] when there is nothing), verified and opened, stored in one
//! transaction, and acknowledged after the commit. A forged or undecryptable message is dropped and logged; this member's
//! own messages are skipped.

use super::broker::{backoff, Broker};
use super::crypto;
use super::store;
use super::Share;
use futures::StreamExt;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// Most messages stored in one transaction.
const BATCH: usize = 2048;
/// How often an idle receiver asks for more.
const IDLE_POLL: std::time::Duration = std::time::Duration::from_millis(10);

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
            s.connected.store(b.connected(), Relaxed);
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
    s.connected.store(true, Relaxed);
    if consumer.info().await?.num_pending == 0 {
        s.caught_up.send_replace(true);
    }
    tracing::info!("team memory: receiving");
    loop {
        // What is there now, without waiting; an empty answer means caught up.
        let mut batch = Vec::new();
        let mut msgs = consumer.fetch().max_messages(BATCH).messages().await?;
        while let Some(m) = msgs.next().await {
            batch.push(m.map_err(|e| anyhow::anyhow!("fetch: {e}"))?);
        }
        if batch.is_empty() {
            s.caught_up.send_replace(true);
            tokio::time::sleep(IDLE_POLL).await;
            continue;
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
