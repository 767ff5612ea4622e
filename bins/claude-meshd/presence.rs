//! Presence in broker mode: a JetStream key-value bucket holding one record per Claude
//! session (`<member key>.<hex session id>`), refreshed every heartbeat. A watch turns new
//! records into `peer_join`; "left" is derived from the heartbeat's age (three missed
//! heartbeats), because nats-server 2.9 has no per-key TTL or expiry markers.

use crate::broker::Broker;
use crate::clock::now_ms;
use crate::identity::hex;
use crate::mesh::Mesh;
use async_nats::jetstream::{self, kv, stream};
use claude_daemons::api::mesh::Peer;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// What a presence record holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    /// The session as peers list it.
    pub peer: Peer,
    /// When it was written (Unix ms).
    pub heartbeat_ms: i64,
}

/// The bucket name for a mesh.
pub fn bucket(mesh: &str) -> String {
    format!("mesh_{mesh}_presence")
}

/// Open the presence bucket, creating it if needed.
///
/// The one place that knows about the nats-server 2.9 work-around: async-nats'
/// `create_key_value` reads account info in a shape 2.9.10 does not send, so when it fails
/// we create the bucket's backing stream ourselves (the layout KV clients expect) and bind
/// to it. Newer servers take the normal path.
pub async fn open_bucket(
    js: &jetstream::Context,
    name: &str,
    max_age: Duration,
) -> anyhow::Result<kv::Store> {
    if let Ok(store) = js.get_key_value(name).await {
        return Ok(store);
    }
    let normal = js
        .create_key_value(kv::Config {
            bucket: name.into(),
            history: 1,
            max_age,
            ..Default::default()
        })
        .await;
    match normal {
        Ok(store) => Ok(store),
        Err(e) => {
            tracing::debug!(error = %e, "create_key_value failed; creating the KV stream directly");
            js.get_or_create_stream(stream::Config {
                name: format!("KV_{name}"),
                subjects: vec![format!("$KV.{name}.>")],
                max_messages_per_subject: 1,
                max_age,
                allow_rollup: true,
                deny_delete: true,
                allow_direct: true,
                discard: stream::DiscardPolicy::New,
                ..Default::default()
            })
            .await
            .map_err(|e| anyhow::anyhow!("presence stream: {e}"))?;
            js.get_key_value(name)
                .await
                .map_err(|e| anyhow::anyhow!("presence bucket: {e}"))
        }
    }
}

fn key_of(p: &Peer) -> String {
    format!("{}.{}", p.key, hex(p.session_id.as_bytes()))
}

/// Write one session's record.
pub async fn put(store: &kv::Store, p: &Peer) -> anyhow::Result<()> {
    let rec = Record {
        peer: p.clone(),
        heartbeat_ms: now_ms(),
    };
    store
        .put(key_of(p), serde_json::to_vec(&rec)?.into())
        .await
        .map_err(|e| anyhow::anyhow!("presence put: {e}"))?;
    Ok(())
}

/// Heartbeats, the watch and the sweep, until shutdown; restarts after broker trouble.
pub async fn run(
    mesh: Arc<Mesh>,
    broker: Arc<Broker>,
    mut changed: tokio::sync::mpsc::UnboundedReceiver<Peer>,
) {
    let name = bucket(broker.mesh());
    let hb = broker.heartbeat;
    loop {
        let r = tokio::select! {
            _ = mesh.ctx.shutdown.cancelled() => return,
            r = run_once(&mesh, &broker, &name, hb, &mut changed) => r,
        };
        if let Err(e) = r {
            tracing::warn!(error = %e, "presence stopped; retrying");
        }
        tokio::select! {
            _ = mesh.ctx.shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

async fn run_once(
    mesh: &Arc<Mesh>,
    broker: &Arc<Broker>,
    name: &str,
    hb: Duration,
    changed: &mut tokio::sync::mpsc::UnboundedReceiver<Peer>,
) -> anyhow::Result<()> {
    let store = open_bucket(broker.js(), name, Duration::from_secs(86_400)).await?;
    let mut watch = store
        .watch_all()
        .await
        .map_err(|e| anyhow::anyhow!("watch: {e}"))?;
    let stale_after = hb.as_millis() as i64 * 3;
    let me = mesh.identity.public_hex().to_string();
    // The watch only sees updates: read what is there now, so peers that are offline (but
    // known by name) resolve right after a restart.
    let mut keys = store
        .keys()
        .await
        .map_err(|e| anyhow::anyhow!("keys: {e}"))?;
    while let Some(k) = keys.next().await {
        let k = k.map_err(|e| anyhow::anyhow!("keys: {e}"))?;
        if let Some(v) = store
            .get(k.clone())
            .await
            .map_err(|e| anyhow::anyhow!("get: {e}"))?
        {
            learn(mesh, &me, &k, &v, stale_after).await;
        }
    }
    let mut tick = tokio::time::interval(hb);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                for p in mesh.peers.locals().into_iter().filter(|p| p.online) {
                    put(&store, &p).await?;
                }
                for p in mesh.peers.expire_remote(now_ms() - stale_after) {
                    tracing::info!(peer = %p.name, key = %p.key, "peer left (heartbeat too old)");
                    mesh.emit_peer("peer_leave", &p).await;
                }
            }
            Some(p) = changed.recv() => put(&store, &p).await?,
            e = watch.next() => {
                let Some(e) = e else { anyhow::bail!("presence watch ended") };
                let e = e.map_err(|e| anyhow::anyhow!("watch: {e}"))?;
                if e.operation == kv::Operation::Put {
                    learn(mesh, &me, &e.key, &e.value, stale_after).await;
                }
            }
        }
    }
}

/// Take in one presence record of another member.
async fn learn(mesh: &Arc<Mesh>, me: &str, key: &str, value: &[u8], stale_after: i64) {
    if key.starts_with(me) {
        return;
    }
    let Ok(mut rec) = serde_json::from_slice::<Record>(value) else {
        tracing::warn!(%key, "ignored a malformed presence record");
        return;
    };
    if !key.starts_with(&rec.peer.key) {
        tracing::warn!(%key, "ignored a presence record filed under another key");
        return;
    }
    rec.peer.local = false;
    rec.peer.online = rec.peer.online && now_ms() - rec.heartbeat_ms < stale_after;
    rec.peer.last_seen_at = crate::clock::text(rec.heartbeat_ms);
    let p = rec.peer.clone();
    if let Some(kind) = mesh.peers.upsert_remote(rec.peer, rec.heartbeat_ms) {
        tracing::info!(peer = %p.name, key = %p.key, "{kind}");
        mesh.emit_peer(kind, &p).await;
    }
}
