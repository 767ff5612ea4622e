//! Broker mode: NATS JetStream through `async-nats`.
//!
//! - One stream per mesh (`MESH_<mesh>`, subjects `mesh.<mesh>.>`): DMs on
//!   `mesh.<mesh>.dm.<key>`, broadcasts on `mesh.<mesh>.all`, groups on `mesh.<mesh>.g.<g>`,
//!   topics on `mesh.<mesh>.t.<t>`. Publishes carry `Nats-Msg-Id` so a retry after a lost ack
//!   is a broker-side duplicate; the stream sequence is the `broker_message_id`.
//! - One durable pull consumer per member, explicit ack, acked only after the inbox commit:
//!   what arrives while a member is offline waits on the broker.
//! - The client reconnects by itself with backoff and pings at the heartbeat interval (a NAT
//!   that silently drops the connection is noticed within two pings); connection changes
//!   become `broker_status` events.

use crate::crypto::{self, Inner, OpenError};
use crate::inbox::{self, Incoming};
use crate::mesh::{message_event, Mesh};
use crate::outbox::Claimed;
use async_nats::connection::State;
use async_nats::jetstream::{self, consumer, stream, AckKind};
use async_nats::Event;
use futures::{FutureExt, StreamExt};
use rusqlite::TransactionBehavior;
use std::sync::Arc;
use std::time::Duration;

/// How long a publish waits for its ack.
const ACK_TIMEOUT: Duration = Duration::from_secs(15);

/// The JetStream duplicate window: retries within it are answered as duplicates.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// Most broker messages stored in one inbox transaction.
const RECEIVE_BATCH: usize = 128;

/// Largest envelope the stream accepts (bodies are limited far below this).
const MAX_MESSAGE: i32 = 1 << 20;

/// Why a publish did not happen.
#[derive(Debug)]
pub enum PublishFailure {
    /// The broker is unreachable or not answering: not the message's fault, not counted.
    Outage(String),
    /// The broker refused this message for a reason that may pass.
    Transient(String),
    /// It can never be sent (too large, recipient key unusable).
    Permanent(String),
}

/// A connected (or reconnecting) broker.
pub struct Broker {
    client: async_nats::Client,
    js: jetstream::Context,
    mesh: String,
    mesh_key: [u8; 32],
    boxes: crypto::Boxes,
    url: String,
    /// Presence heartbeat interval.
    pub heartbeat: Duration,
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((100u64 << attempt.min(6)).min(5_000))
}

impl Broker {
    /// Connect (in the background: a broker that is down at start is retried forever) and
    /// report connection changes as `broker_status` events.
    pub async fn connect(mesh: &Arc<Mesh>, url: &str) -> anyhow::Result<Arc<Broker>> {
        let cfg = &mesh.ctx.config.mesh;
        let heartbeat = Duration::from_secs(cfg.heartbeat_secs.max(1));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(&'static str, String)>();
        let client = async_nats::ConnectOptions::new()
            .name(format!(
                "claude-meshd {}",
                &mesh.identity.public_hex()[..16]
            ))
            .retry_on_initial_connect()
            .max_reconnects(None)
            // Pings keep NAT mappings alive and find a silently dead connection; under a
            // second they only make a loaded machine reconnect for nothing.
            .ping_interval(heartbeat.max(Duration::from_secs(5)))
            .connection_timeout(Duration::from_secs(5))
            .reconnect_delay_callback(|n| backoff(n as u32))
            .event_callback(move |e| {
                let tx = tx.clone();
                async move {
                    let state = match &e {
                        Event::Connected => "connected",
                        Event::Disconnected => "disconnected",
                        Event::LameDuckMode => "lame_duck",
                        Event::Closed => "closed",
                        Event::ServerError(_) => "error",
                        // Each failed reconnect attempt: a log line, not an event.
                        _ => {
                            tracing::debug!(event = %e, "broker client event");
                            return;
                        }
                    };
                    let _ = tx.send((state, e.to_string()));
                }
            })
            .connect(url)
            .await?;
        let secret = cfg.mesh_secret.clone().unwrap_or_default();
        if secret.is_empty() {
            tracing::warn!("no [mesh] mesh_secret: group, topic and broadcast messages are encrypted with a key derived from the mesh name only");
        }
        let js = jetstream::new(client.clone());
        let broker = Arc::new(Broker {
            client,
            js,
            mesh: mesh.mesh.clone(),
            mesh_key: crypto::mesh_key(&mesh.mesh, &secret),
            boxes: crypto::Boxes::default(),
            url: url.into(),
            heartbeat,
        });
        let m = mesh.clone();
        let url = broker.url.clone();
        tokio::spawn(async move {
            while let Some((state, detail)) = rx.recv().await {
                tracing::info!(broker = %url, %state, %detail, "broker status");
                m.emit(
                    "broker_status",
                    serde_json::json!({"state": state, "detail": detail, "url": url}),
                )
                .await;
                if state == "connected" {
                    m.wake.notify_one();
                }
            }
        });
        Ok(broker)
    }

    /// Whether the connection is up.
    pub fn connected(&self) -> bool {
        self.client.connection_state() == State::Connected
    }

    /// The JetStream context.
    pub fn js(&self) -> &jetstream::Context {
        &self.js
    }

    /// The mesh name.
    pub fn mesh(&self) -> &str {
        &self.mesh
    }

    fn stream_name(&self) -> String {
        format!("MESH_{}", self.mesh)
    }

    /// The subject a destination publishes to.
    pub fn subject(&self, kind: &str, dest: &str) -> String {
        let m = &self.mesh;
        match kind {
            "dm" => format!("mesh.{m}.dm.{}", dest.split('/').next().unwrap_or("")),
            "group" => format!("mesh.{m}.g.{}", dest.trim_start_matches('@')),
            "topic" => format!("mesh.{m}.t.{}", dest.trim_start_matches('#')),
            _ => format!("mesh.{m}.all"),
        }
    }

    /// Create the mesh stream if it does not exist.
    pub async fn ensure_stream(&self) -> anyhow::Result<stream::Stream> {
        let s = self
            .js
            .get_or_create_stream(stream::Config {
                name: self.stream_name(),
                subjects: vec![format!("mesh.{}.>", self.mesh)],
                duplicate_window: DUPLICATE_WINDOW,
                max_age: Duration::from_secs(7 * 86_400),
                max_message_size: MAX_MESSAGE,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| anyhow::anyhow!("mesh stream: {e}"))?;
        Ok(s)
    }

    /// Seal and publish one outbox row; returns the stream sequence.
    pub async fn publish(&self, mesh: &Mesh, row: &Claimed) -> Result<i64, PublishFailure> {
        if !self.connected() {
            return Err(PublishFailure::Outage("not connected to the broker".into()));
        }
        let kind = row.resolved.kind();
        let dest = row.resolved.canonical();
        let inner = Inner {
            client_message_id: row.client_message_id.clone(),
            from_name: mesh.sender_name(row.from_session.as_deref()),
            from_session: row.from_session.clone(),
            body: row.body.clone(),
            priority: row.priority,
            reply_to: row.reply_to.clone(),
            meta: row.meta.clone(),
            created_at: row.created_at.clone(),
        };
        let env = crypto::seal(
            &mesh.identity,
            &self.boxes,
            &self.mesh_key,
            kind,
            &dest,
            &inner,
        )
        .map_err(|e| PublishFailure::Permanent(e.to_string()))?;
        let payload =
            serde_json::to_vec(&env).map_err(|e| PublishFailure::Permanent(e.to_string()))?;
        // Namespaced by the sender: the stream's dedupe is stream-wide, and two members may
        // well both use `Idempotency-Key: retry-1`.
        let msg_id = format!("{}:{}", mesh.identity.public_hex(), row.client_message_id);
        let publish = jetstream::message::PublishMessage::build()
            .payload(payload.into())
            .message_id(msg_id);
        let subject = self.subject(kind, &dest);
        let ack = async {
            let fut = self.js.send_publish(subject, publish).await?;
            fut.await
        };
        match tokio::time::timeout(ACK_TIMEOUT, ack).await {
            Err(_) => Err(PublishFailure::Outage("no ack within 15 s".into())),
            Ok(Ok(a)) => {
                if a.duplicate {
                    tracing::debug!(seq = a.sequence, cmid = %row.client_message_id, "broker said duplicate");
                }
                Ok(a.sequence as i64)
            }
            Ok(Err(e)) => Err(classify(&e)),
        }
    }
}

fn classify(e: &jetstream::context::PublishError) -> PublishFailure {
    use jetstream::context::PublishErrorKind as K;
    let text = e.to_string();
    let lower = text.to_ascii_lowercase();
    match e.kind() {
        K::MaxPayloadExceeded => PublishFailure::Permanent(format!("too large: {text}")),
        _ if lower.contains("too large")
            || lower.contains("exceeds maximum")
            || lower.contains("maximum payload") =>
        {
            PublishFailure::Permanent(format!("too large: {text}"))
        }
        K::TimedOut | K::BrokenPipe | K::MaxAckPending | K::StreamNotFound => {
            PublishFailure::Outage(text)
        }
        _ if lower.contains("no responders")
            || lower.contains("disconnected")
            || lower.contains("timed out") =>
        {
            PublishFailure::Outage(text)
        }
        _ => PublishFailure::Transient(text),
    }
}

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
            filter_subject: format!("mesh.{}.>", broker.mesh),
            ack_policy: consumer::AckPolicy::Explicit,
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
        let mut terminate = Vec::with_capacity(batch.len());
        for m in &batch {
            let seq = m.info().map(|i| i.stream_sequence as i64).ok();
            match open_one(mesh, broker, &m.payload, seq) {
                Ok(Some(incoming)) => {
                    keep.push(incoming);
                    terminate.push(false);
                }
                Ok(None) => terminate.push(false),
                Err(why) => {
                    tracing::warn!(seq, subject = %m.subject, reason = %why, "rejected a broker message; nothing stored");
                    terminate.push(true);
                }
            }
        }
        // Not acked on failure: the consumer is recreated from its ack floor.
        store(mesh, keep)
            .await
            .map_err(|e| anyhow::anyhow!("inbox: {e}"))?;
        for (m, term) in batch.iter().zip(terminate) {
            let r = if term {
                m.ack_with(AckKind::Term).await
            } else {
                m.ack().await
            };
            r.map_err(|e| anyhow::anyhow!("ack: {e}"))?;
        }
    }
}

/// Verify and decrypt one broker message. `Ok(None)`: not for this member (a DM for
/// another key, a group or topic no local session follows). `Err`: forged or unreadable.
fn open_one(
    mesh: &Arc<Mesh>,
    broker: &Broker,
    raw: &[u8],
    seq: Option<i64>,
) -> Result<Option<Incoming>, String> {
    let (env, inner) = match crypto::open(&mesh.identity, &broker.boxes, &broker.mesh_key, raw) {
        Ok(x) => x,
        Err(OpenError::NotForUs) => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
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
        return Ok(None);
    }
    if inner.body.len() > claude_daemons::api::mesh::MAX_BODY_BYTES
        || !crate::mesh::valid_client_id(&inner.client_message_id)
    {
        return Err("fields out of bounds".into());
    }
    Ok(Some(Incoming {
        from_key: env.from,
        from_name: inner.from_name,
        from_session: inner.from_session,
        client_message_id: inner.client_message_id,
        broker_message_id: seq,
        kind: env.kind,
        to: env.to,
        body: inner.body,
        priority: inner.priority,
        reply_to: inner.reply_to,
        meta: inner.meta,
        created_at: inner.created_at,
    }))
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
                let (id, new) = inbox::insert(&tx, m)?;
                if new {
                    evs.push(message_event(&tx, id)?);
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
