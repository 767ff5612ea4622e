//! The receiver: this member's durable consumer of the team's stream. Messages are taken
//! in batches (whatever is buffered, up to [`BATCH`]), verified, opened and cleaned in
//! parallel off the runtime, stored in one transaction, and acknowledged after the commit
//! (one ack for the batch). A forged or undecryptable message is
//! dropped and logged; this member's own messages are skipped.

use super::broker::{backoff, Broker};
use super::crypto;
use super::store;
use super::Share;
use futures::{FutureExt, StreamExt};
use rayon::prelude::*;
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
        // Verifying, opening and the privacy rules are most of the work: on the blocking
        // pool, in parallel, not on this task's thread nor in the write transaction.
        let (key, me2) = (s.key, me.clone());
        let (batch, ready, dropped) = tokio::task::spawn_blocking(move || {
            let opened: Vec<_> = batch
                .par_iter()
                .map(|m| crypto::open(&key, &m.subject, &m.payload))
                .collect();
            let mut keep = Vec::with_capacity(opened.len());
            let mut dropped = Vec::new();
            for (m, o) in batch.iter().zip(opened) {
                match o {
                    Ok((from, _)) if from == me2 => {}
                    Ok(msg) => keep.push(msg),
                    Err(why) => dropped.push((m.subject.to_string(), why)),
                }
            }
            (batch, store::prepare(keep), dropped)
        })
        .await?;
        for (subject, why) in dropped {
            s.rejected.fetch_add(1, Relaxed);
            tracing::warn!(%subject, reason = %why, "team memory: dropped a message");
        }
        let n = ready.len() as u64;
        if !ready.is_empty() {
            let applied = s.with_conn(move |c| store::apply(c, &ready)).await?;
            tracing::debug!(?applied, "team memory: stored");
            if applied.stored > 0 {
                s.announce
                    .send(crate::announce::Announce::received(applied.stored));
            }
        }
        s.received.fetch_add(n, Relaxed);
        let last = batch.last().expect("a batch has a first message");
        let left = last.info().ok().map_or(1, |i| i.pending);
        // The consumer acknowledges all up to one (`AckPolicy::All`): one ack a batch.
        last.ack().await.map_err(|e| anyhow::anyhow!("ack: {e}"))?;
        if left == 0 {
            s.caught_up.send_replace(true);
        }
    }
}
