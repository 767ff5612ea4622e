//! Receiving in broker mode: the member's durable pull consumer, acked (cumulatively) only
//! after the inbox commit (what arrives while the member is offline waits on the broker).
//!
//! Every envelope is verified and opened, its sender checked against `[mesh] members`, its
//! signed time against the replay window, and its id against the `seen` table, which keeps
//! every (sender, `client_message_id`) for the whole window however soon the inbox is pruned:
//! a saved envelope published again is refused either way. A grouped envelope's messages
//! are checked one by one and stored in order, each deduplicated by its own id (a retry
//! may group them otherwise); one message out of bounds refuses the whole envelope.

use crate::broker::{backoff, Broker, STREAM_MAX_AGE};
use crate::clock::now_ms;
use crate::crypto::OpenError;
use crate::fields;
use crate::inbox::{self, Incoming};
use crate::mesh::{message_event, Mesh};
use async_nats::jetstream::consumer;
use futures::{FutureExt, StreamExt};
use rusqlite::{params, Connection, TransactionBehavior};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Most broker messages stored in one inbox transaction (a grouped envelope counts as one).
const RECEIVE_BATCH: usize = 128;

/// Envelopes signed longer ago than this are refused: the stream's message age plus a day,
/// so a member away for as long as the broker keeps its messages still gets them.
pub const REPLAY_WINDOW_MS: i64 = STREAM_MAX_AGE.as_millis() as i64 + 86_400_000;

/// How far ahead of this clock an envelope's time may be (clock skew between machines).
pub const MAX_SKEW_MS: i64 = 3_600_000;

/// Run the member's durable consumer until shutdown, recreating it after broker trouble.
pub async fn consume(mesh: Arc<Mesh>, broker: Arc<Broker>) {
    let mut attempt = 0u32;
    loop {
        let run = consume_once(&mesh, &broker);
        let r = tokio::select! {
            _ = mesh.ctx.shutdown.cancelled() => return,
            r = run => r,
        };
        match r {
            Ok(()) => attempt = 0,
            Err(e) => {
                tracing::warn!(error = %e, "broker consumer stopped; retrying");
                attempt += 1;
            }
        }
        tokio::select! {
            _ = mesh.ctx.shutdown.cancelled() => return,
            _ = tokio::time::sleep(backoff(attempt)) => {}
        }
    }
}

async fn consume_once(mesh: &Arc<Mesh>, broker: &Arc<Broker>) -> anyhow::Result<()> {
    let stream = broker.ensure_stream().await?;
    let me = mesh.identity.public_hex();
    let durable = format!("member_{}", &me[..32]);
    // Messages delivered to a previous run (or connection) but never acked would come back
    // only after ack_wait, behind newer ones: out of order. We ack strictly in order, so the
    // ack floor is exactly what is stored; recreating the consumer from there redelivers the
    // rest at once and in order.
    let deliver_policy = match stream.consumer_info(&durable).await {
        Ok(info) => {
            let next = info.ack_floor.stream_sequence + 1;
            stream
                .delete_consumer(&durable)
                .await
                .map_err(|e| anyhow::anyhow!("reset consumer {durable}: {e}"))?;
            consumer::DeliverPolicy::ByStartSequence {
                start_sequence: next,
            }
        }
        Err(_) => consumer::DeliverPolicy::All,
    };
    let consumer: consumer::Consumer<consumer::pull::Config> = stream
        .create_consumer(consumer::pull::Config {
            durable_name: Some(durable.clone()),
            filter_subject: format!("mesh.{}.>", broker.mesh()),
            // One ack per stored batch (its last message) instead of one per message: the
            // broker and this daemon handled as many acks as messages, a fifth of the
            // receiving work. Rejected messages are acked with the rest, never redelivered.
            ack_policy: consumer::AckPolicy::All,
            ack_wait: Duration::from_secs(30),
            max_deliver: 100,
            deliver_policy,
            ..Default::default()
        })
        .await
        .map_err(|e| anyhow::anyhow!("consumer {durable}: {e}"))?;
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| anyhow::anyhow!("consumer {durable}: {e}"))?;
    tracing::info!(consumer = %durable, "receiving from the broker");
    loop {
        let Some(first) = messages.next().await else {
            return Ok(());
        };
        // Take whatever else is already buffered: one inbox transaction for the lot.
        let mut batch = vec![first.map_err(|e| anyhow::anyhow!("consumer {durable}: {e}"))?];
        while batch.len() < RECEIVE_BATCH {
            match messages.next().now_or_never() {
                Some(Some(m)) => {
                    batch.push(m.map_err(|e| anyhow::anyhow!("consumer {durable}: {e}"))?)
                }
                _ => break,
            }
        }
        let mut keep = Vec::new();
        for m in &batch {
            let seq = m.info().map(|i| i.stream_sequence as i64).ok();
            match open_one(mesh, broker, &m.payload, seq) {
                Ok(incoming) => keep.extend(incoming),
                Err(why) => {
                    mesh.rejected.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(seq, subject = %m.subject, reason = %why, "rejected a broker message; nothing stored");
                }
            }
        }
        // Not acked on failure: the consumer is recreated from its ack floor.
        store(mesh, keep)
            .await
            .map_err(|e| anyhow::anyhow!("inbox: {e}"))?;
        // Messages come in stream order, so acking the last acks the batch.
        if let Some(last) = batch.last() {
            last.ack().await.map_err(|e| anyhow::anyhow!("ack: {e}"))?;
        }
    }
}

/// Verify and decrypt one broker message: its messages, in order (one, or a grouped
/// envelope's). Empty: not for this member (a DM for another key, a group or topic no
/// local session follows). `Err`: forged or unreadable, or one of a group's messages out of
/// bounds — nothing of it is stored.
fn open_one(
    mesh: &Arc<Mesh>,
    broker: &Broker,
    raw: &[u8],
    seq: Option<i64>,
) -> Result<Vec<Incoming>, String> {
    let (env, inners) = match broker.open(&mesh.identity, raw) {
        Ok(x) => x,
        Err(OpenError::NotForUs) => return Ok(Vec::new()),
        Err(e) => return Err(e.to_string()),
    };
    if !mesh.peers.admits(&env.from) {
        return Err(format!(
            "sender {} is not a member of this mesh ([mesh] members)",
            env.from
        ));
    }
    fresh(env.ts, now_ms())?;
    let wanted = match env.kind.as_str() {
        "group" => {
            let g = env.to.trim_start_matches('@');
            mesh.peers
                .locals()
                .iter()
                .any(|p| p.groups.iter().any(|x| x == g))
        }
        "topic" => {
            let t = env.to.trim_start_matches('#');
            mesh.peers
                .locals()
                .iter()
                .any(|p| p.topics.iter().any(|x| x == t))
        }
        _ => true,
    };
    if !wanted {
        return Ok(Vec::new());
    }
    for inner in &inners {
        fields::received(&env, inner)?;
    }
    Ok(inners
        .into_iter()
        .map(|inner| Incoming {
            from_key: env.from.clone(),
            from_name: inner.from_name,
            from_session: inner.from_session,
            client_message_id: inner.client_message_id,
            broker_message_id: seq,
            kind: env.kind.clone(),
            to: env.to.clone(),
            body: inner.body,
            priority: inner.priority,
            reply_to: inner.reply_to,
            meta: inner.meta,
            created_at: inner.created_at,
        })
        .collect())
}

/// Store received messages (deduplicated) in one transaction; commit before any ack.
async fn store(mesh: &Arc<Mesh>, batch: Vec<Incoming>) -> Result<(), String> {
    if batch.is_empty() {
        return Ok(());
    }
    let evs = mesh
        .db
        .call(move |c| -> rusqlite::Result<Vec<crate::events::Event>> {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut evs = Vec::new();
            for m in &batch {
                if !first_sight(&tx, m)? {
                    tracing::warn!(from = %m.from_key, cmid = %m.client_message_id,
                        seq = m.broker_message_id, "dropped a message already received (a replay or a redelivery)");
                    continue;
                }
                let (id, new) = inbox::insert(&tx, m)?;
                if new {
                    evs.push(message_event(&tx, id, m)?);
                }
            }
            tx.commit()?;
            Ok(evs)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    mesh.events.publish(evs);
    Ok(())
}

/// Whether an envelope signed at `ts` may be taken in at `now`.
fn fresh(ts: i64, now: i64) -> Result<(), String> {
    if ts < now - REPLAY_WINDOW_MS {
        return Err(format!(
            "too old: signed at {}, the replay window is {} days",
            crate::clock::text(ts),
            REPLAY_WINDOW_MS / 86_400_000
        ));
    }
    if ts > now + MAX_SKEW_MS {
        return Err(format!(
            "signed {} s in the future (clock skew over an hour)",
            (ts - now) / 1000
        ));
    }
    Ok(())
}

/// Record (sender, id) in `seen`; false when it was there already.
fn first_sight(conn: &Connection, m: &Incoming) -> rusqlite::Result<bool> {
    let n = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO seen (from_key, client_message_id, received_ms)
             VALUES (?1, ?2, ?3)",
        )?
        .execute(params![m.from_key, m.client_message_id, now_ms()])?;
    Ok(n == 1)
}

/// Forget ids seen longer ago than the replay window (and the allowed skew): an envelope
/// that old is refused by its signed time anyway.
pub fn prune_seen(conn: &Connection) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM seen WHERE received_ms < ?1",
        [now_ms() - REPLAY_WINDOW_MS - MAX_SKEW_MS],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_replay_window_covers_the_stream_and_refuses_older() {
        let now = 1_800_000_000_000;
        assert!(fresh(now, now).is_ok());
        assert!(fresh(now - STREAM_MAX_AGE.as_millis() as i64, now).is_ok());
        let err = fresh(now - REPLAY_WINDOW_MS - 1, now).unwrap_err();
        assert!(err.starts_with("too old"), "{err}");
        assert!(fresh(now + MAX_SKEW_MS + 1, now).is_err());
    }
}
