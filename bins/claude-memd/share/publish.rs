//! The publisher: drains the outbox to the stream, in order, pipelined. Every message has
//! `Nats-Msg-Id` `<member>:<outbox row>`, so a publish retried after a lost ack is stored
//! once by the broker. A row goes once its ack is in; a record over the broker's limits is
//! dropped with its reason logged; anything else is retried with backoff.

use super::broker::{backoff, Broker};
use super::crypto::{self, Payload};
use super::outbox;
use super::Share;
use crate::announce::Announce;
use async_nats::jetstream;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// Rows published per round.
const BATCH: i64 = 256;
/// How long a publish waits for its ack.
const ACK_TIMEOUT: Duration = Duration::from_secs(15);
/// The longest the publisher sleeps without looking at the outbox (edits and forgets by
/// the API are not announced to it).
const POLL: Duration = Duration::from_millis(500);

/// Run until shutdown.
pub async fn run(s: Arc<Share>, b: Arc<Broker>, mut wake: broadcast::Receiver<Announce>) {
    let mut attempt = 0u32;
    loop {
        let round = round(&s, &b).await;
        let wait = match round {
            Ok(0) => {
                attempt = 0;
                None
            }
            Ok(_) => {
                attempt = 0;
                continue;
            }
            Err(e) => {
                attempt += 1;
                tracing::warn!(error = %e, "team memory: publishing paused");
                Some(backoff(attempt))
            }
        };
        tokio::select! {
            _ = s.shutdown.cancelled() => return,
            _ = s.kick.notified() => {}
            _ = wake.recv(), if wait.is_none() => {}
            _ = tokio::time::sleep(wait.unwrap_or(POLL)) => {}
        }
    }
}

/// Publish one batch; how many rows it took.
async fn round(s: &Arc<Share>, b: &Broker) -> anyhow::Result<usize> {
    let me = s.member.id.public_hex().to_string();
    let prompts = s.prompts;
    let rows = s
        .with_conn(move |c| outbox::next(c, &me, prompts, BATCH))
        .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    // Awake until the batch is on the broker (or the broker is found away).
    let _busy = s.activity.enter();
    if !b.connected() {
        anyhow::bail!("not connected to the broker");
    }
    b.stream().await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let mut nothing = Vec::new();
    let mut pending = Vec::new();
    for r in rows {
        let Some(op) = r.op else {
            nothing.push(r.row);
            continue;
        };
        let subject = crypto::subject(&b.team, &s.key, &r.portable);
        let payload = Payload {
            name: s.member.name.clone(),
            host: s.member.host.clone(),
            portable: r.portable,
            op,
        };
        let raw = match crypto::seal(&s.member.id, &s.key, &subject, &payload, now) {
            Ok(raw) => raw,
            Err(e) => {
                refuse(s, r.row, e).await?;
                continue;
            }
        };
        // The client refuses a message over the server's max payload before sending it: as
        // an error of the round, the row would be retried forever.
        let limit = (super::broker::MAX_MESSAGE as usize).min(b.client.server_info().max_payload);
        if raw.len() > limit {
            let why = format!(
                "{} bytes is over the broker's limit ({} bytes)",
                raw.len(),
                limit
            );
            refuse(s, r.row, why).await?;
            continue;
        }
        let msg = jetstream::message::PublishMessage::build()
            .payload(raw.into())
            .message_id(format!("{}:{}", s.member.id.public_hex(), r.row));
        let ack = tokio::time::timeout(ACK_TIMEOUT, b.js.send_publish(subject, msg))
            .await
            .map_err(|_| anyhow::anyhow!("no room to publish within 15 s"))??;
        pending.push((r.row, ack));
    }
    let skipped = nothing.len();
    let mut acked = nothing;
    let n = acked.len() + pending.len();
    let mut failure = None;
    for (row, ack) in pending {
        match tokio::time::timeout(ACK_TIMEOUT, std::future::IntoFuture::into_future(ack)).await {
            Ok(Ok(_)) => acked.push(row),
            Ok(Err(e)) if e.kind() == jetstream::context::PublishErrorKind::MaxPayloadExceeded => {
                refuse(s, row, e.to_string()).await?;
            }
            Ok(Err(e)) => {
                let why = e.to_string();
                failure.get_or_insert_with(|| why.clone());
                s.with_conn(move |c| outbox::failed(c, row, &why)).await?;
            }
            Err(_) => {
                failure.get_or_insert_with(|| "no ack within 15 s".to_string());
            }
        }
    }
    let published = (acked.len() - skipped) as u64;
    s.with_conn(move |c| outbox::done(c, &acked)).await?;
    s.published.fetch_add(published, Relaxed);
    match failure {
        Some(why) => anyhow::bail!(why),
        None => Ok(n),
    }
}

/// Drop a row the broker can never take, with its reason logged and counted (`refused` in
/// `/v1/health`'s `share`).
async fn refuse(s: &Arc<Share>, row: i64, why: String) -> anyhow::Result<()> {
    s.with_conn(move |c| outbox::refused(c, row, &why)).await?;
    s.refused.fetch_add(1, Relaxed);
    Ok(())
}
