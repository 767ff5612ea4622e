//! Broker mode: NATS JetStream through `async-nats`.
//!
//! - One stream per mesh (`MESH_<mesh>`, subjects `mesh.<mesh>.>`): DMs on
//!   `mesh.<mesh>.dm.<key>`, broadcasts on `mesh.<mesh>.all`, groups on `mesh.<mesh>.g.<g>`,
//!   topics on `mesh.<mesh>.t.<t>`. Publishes carry `Nats-Msg-Id` so a retry after a lost ack
//!   is a broker-side duplicate; the stream sequence is the `broker_message_id`.
//! - One durable pull consumer per member, acked (cumulatively) only after the inbox commit:
//!   what arrives while a member is offline waits on the broker.
//! - The client reconnects by itself with backoff and pings at the heartbeat interval (a NAT
//!   that silently drops the connection is noticed within two pings); connection changes
//!   become `broker_status` events.
//!
//! This module knows the broker, not the daemon: the consumer that stores what arrives is
//! [`crate::receive`].

use crate::clock::now_ms;
use crate::crypto::{self, Envelope, Inner, OpenError};
use crate::identity::Identity;
use crate::outbox::Claimed;
use async_nats::connection::State;
use async_nats::jetstream::{self, stream};
use async_nats::Event;
use claude_daemons::config::MeshConfig;
use std::sync::Arc;
use std::time::Duration;

/// How long a publish waits for its ack.
const ACK_TIMEOUT: Duration = Duration::from_secs(15);

/// The JetStream duplicate window: retries within it are answered as duplicates.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// How long the stream keeps a message for a member that is away.
pub const STREAM_MAX_AGE: Duration = Duration::from_secs(7 * 86_400);

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

/// Connection changes: (`connected`, `disconnected`, `lame_duck`, `closed`, `error`; detail).
pub type StatusEvents = tokio::sync::mpsc::UnboundedReceiver<(&'static str, String)>;

/// A connected (or reconnecting) broker.
pub struct Broker {
    client: async_nats::Client,
    js: jetstream::Context,
    mesh: String,
    mesh_key: [u8; 32],
    boxes: crypto::Boxes,
    /// Whether the mesh stream is known to exist (see [`Broker::ensure_ready`]).
    stream_ready: std::sync::atomic::AtomicBool,
    /// Presence heartbeat interval.
    pub heartbeat: Duration,
}

/// The wait before reconnect or re-subscribe attempt `attempt`: 100 ms doubling to 5 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((100u64 << attempt.min(6)).min(5_000))
}

impl Broker {
    /// Connect (in the background: a broker that is down at start is retried forever) as
    /// member `member` (its key, hex); returns the broker and its connection changes.
    pub async fn connect(
        cfg: &MeshConfig,
        member: &str,
        url: &str,
    ) -> anyhow::Result<(Arc<Broker>, StatusEvents)> {
        let heartbeat = Duration::from_secs(cfg.heartbeat_secs.max(1));
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<(&'static str, String)>();
        let client = async_nats::ConnectOptions::new()
            .name(format!("claude-meshd {}", &member[..16]))
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
        // main refuses to start in broker mode without a secret.
        let secret = cfg.mesh_secret.clone().unwrap_or_default();
        let js = jetstream::new(client.clone());
        let broker = Arc::new(Broker {
            client,
            js,
            mesh: cfg.mesh.clone(),
            mesh_key: crypto::mesh_key(&cfg.mesh, &secret),
            boxes: crypto::Boxes::default(),
            stream_ready: std::sync::atomic::AtomicBool::new(false),
            heartbeat,
        });
        Ok((broker, rx))
    }

    /// Verify and open an envelope received from the broker: its messages, in order.
    pub fn open(&self, id: &Identity, raw: &[u8]) -> Result<(Envelope, Vec<Inner>), OpenError> {
        crypto::open(id, &self.boxes, &self.mesh_key, raw)
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

    /// The mesh stream's name.
    pub fn stream_name(&self) -> String {
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

    /// Make sure the mesh stream exists before publishing into it. Pipelined publishes
    /// written before the stream exists fail ("no responders") while later ones are stored:
    /// their retry would land out of order.
    pub async fn ensure_ready(&self) -> anyhow::Result<()> {
        use std::sync::atomic::Ordering;
        if !self.stream_ready.load(Ordering::Acquire) {
            self.ensure_stream().await?;
            self.stream_ready.store(true, Ordering::Release);
        }
        Ok(())
    }

    /// Create the mesh stream if it does not exist.
    pub async fn ensure_stream(&self) -> anyhow::Result<stream::Stream> {
        let s = self
            .js
            .get_or_create_stream(stream::Config {
                name: self.stream_name(),
                subjects: vec![format!("mesh.{}.>", self.mesh)],
                duplicate_window: DUPLICATE_WINDOW,
                max_age: STREAM_MAX_AGE,
                max_message_size: MAX_MESSAGE,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| anyhow::anyhow!("mesh stream: {e}"))?;
        Ok(s)
    }

    /// The most envelope bytes a publish may take: the server's `max_payload`, within the
    /// stream's own limit.
    pub fn max_payload(&self) -> usize {
        self.client
            .server_info()
            .max_payload
            .clamp(1, MAX_MESSAGE as usize)
    }

    /// Seal outbox rows as member `id` — one row, or consecutive DMs to one destination as
    /// one grouped envelope — and write it to the connection; returns the pending ack.
    /// `from_name` gives the name a sending session shows as. Publishes started in order on
    /// the one connection reach the stream in that order.
    pub async fn start_publish(
        &self,
        id: &Identity,
        rows: &[Claimed],
        from_name: impl Fn(Option<&str>) -> String,
    ) -> Result<PendingAck, PublishFailure> {
        if !self.connected() {
            return Err(PublishFailure::Outage("not connected to the broker".into()));
        }
        let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
            return Err(PublishFailure::Permanent("nothing to publish".into()));
        };
        let kind = first.resolved.kind();
        let dest = first.resolved.canonical();
        let inner = |row: &Claimed| Inner {
            client_message_id: row.client_message_id.clone(),
            from_name: from_name(row.from_session.as_deref()),
            from_session: row.from_session.clone(),
            body: row.body.clone(),
            priority: row.priority,
            reply_to: row.reply_to.clone(),
            meta: row.meta.clone(),
            created_at: row.created_at.clone(),
        };
        let (sealed, msg_id) = if rows.len() == 1 {
            let sealed = crypto::seal(
                id,
                &self.boxes,
                &self.mesh_key,
                kind,
                &dest,
                &inner(first),
                now_ms(),
            );
            // Namespaced by the sender: the stream's dedupe is stream-wide, and two members
            // may well both use `Idempotency-Key: retry-1`.
            (
                sealed,
                format!("{}:{}", id.public_hex(), first.client_message_id),
            )
        } else {
            let inners: Vec<Inner> = rows.iter().map(inner).collect();
            let sealed = crypto::seal_group(id, &self.boxes, &dest, &inners, now_ms());
            (sealed, group_msg_id(id.public_hex(), rows))
        };
        let env = sealed.map_err(|e| PublishFailure::Permanent(e.to_string()))?;
        let payload =
            serde_json::to_vec(&env).map_err(|e| PublishFailure::Permanent(e.to_string()))?;
        let publish = jetstream::message::PublishMessage::build()
            .payload(payload.into())
            .message_id(msg_id);
        let subject = self.subject(kind, &dest);
        match tokio::time::timeout(ACK_TIMEOUT, self.js.send_publish(subject, publish)).await {
            Err(_) => Err(PublishFailure::Outage(
                "no room to publish within 15 s".into(),
            )),
            Ok(Err(e)) => Err(classify(&e)),
            Ok(Ok(fut)) => Ok(PendingAck {
                fut,
                cmid: last.client_message_id.clone(),
            }),
        }
    }
}

/// The `Nats-Msg-Id` of a grouped publish: the same rows grouped again (a retry) get the
/// same id, so the stream answers a duplicate; rows grouped otherwise get another, and the
/// receiver's `seen` table drops the messages it already has.
fn group_msg_id(member: &str, rows: &[Claimed]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for r in rows {
        h.update(r.client_message_id.as_bytes());
        h.update([0]);
    }
    format!("{member}:g:{}", crate::identity::hex(&h.finalize()[..16]))
}

/// A publish written to the connection, its ack not yet read.
pub struct PendingAck {
    fut: jetstream::context::PublishAckFuture,
    cmid: String,
}

impl PendingAck {
    /// Wait for the ack (at most 15 s); the stream sequence.
    pub async fn ack(self) -> Result<i64, PublishFailure> {
        match tokio::time::timeout(ACK_TIMEOUT, std::future::IntoFuture::into_future(self.fut))
            .await
        {
            Err(_) => Err(PublishFailure::Outage("no ack within 15 s".into())),
            Ok(Ok(a)) => {
                if a.duplicate {
                    tracing::debug!(seq = a.sequence, cmid = %self.cmid, "broker said duplicate");
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
