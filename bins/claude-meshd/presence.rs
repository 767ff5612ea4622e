//! Presence in broker mode: a JetStream key-value bucket holding one record per Claude
//! session (`<member key>.<hex session id>`), refreshed every heartbeat. A watch turns new
//! records into `peer_join`; "left" is derived from the heartbeat's age (three missed
//! heartbeats), because nats-server 2.9 has no per-key TTL or expiry markers.
//!
//! Records are signed ([`crate::presence_record`]); what does not verify, is not from a
//! member of `[mesh] members`, or claims a name or session bound to another key is logged.

use crate::broker::Broker;
use crate::clock::now_ms;
use crate::mesh::Mesh;
use crate::peers::Upsert;
use crate::presence_record;
use async_nats::jetstream::kv;
use claude_daemons::api::mesh::Peer;
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How far ahead of this clock a record's heartbeat may be (clock skew between machines).
const MAX_SKEW_MS: i64 = 5 * 60_000;

/// One warning per subject of complaint per this long; the rest go to the debug log (a
/// forger re-writing every heartbeat must not flood the journal).
const COMPLAIN_EVERY_MS: i64 = 60_000;

/// Rate-limits warnings about one bucket key or member key.
#[derive(Default)]
struct Complaints(Mutex<HashMap<String, i64>>);

impl Complaints {
    /// Whether a warning about `about` is due now (otherwise log at debug level).
    fn due(&self, about: &str) -> bool {
        let now = now_ms();
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() > 4096 {
            m.retain(|_, t| now - *t < COMPLAIN_EVERY_MS);
        }
        match m.get(about) {
            Some(t) if now - t < COMPLAIN_EVERY_MS => false,
            _ => {
                m.insert(about.to_string(), now);
                true
            }
        }
    }
}

macro_rules! complain {
    ($c:expr, $about:expr, $($arg:tt)+) => {
        if $c.due($about) {
            tracing::warn!($($arg)+);
        } else {
            tracing::debug!($($arg)+);
        }
    };
}

/// The bucket name for a mesh.
pub fn bucket(mesh: &str) -> String {
    format!("mesh_{mesh}_presence")
}

/// Open the presence bucket, creating it if needed (nats-server 2.9 included).
pub use claude_daemons::nats::open_kv_bucket as open_bucket;

/// Write one session's record, signed.
pub async fn put(store: &kv::Store, mesh: &Mesh, p: &Peer) -> anyhow::Result<()> {
    let raw = presence_record::sign(&mesh.identity, &mesh.mesh, p, now_ms());
    store
        .put(
            presence_record::kv_key(mesh.identity.public_hex(), &p.session_id),
            raw.into(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("presence put: {e}"))?;
    Ok(())
}

/// Write this member's own record, signed: the member is known (and addressable by name)
/// whether or not it runs sessions.
pub async fn put_member(store: &kv::Store, mesh: &Mesh) -> anyhow::Result<()> {
    let raw = presence_record::sign_member(
        &mesh.identity,
        &mesh.mesh,
        &mesh.peers.me_member(),
        now_ms(),
    );
    store
        .put(
            presence_record::member_kv_key(mesh.identity.public_hex()),
            raw.into(),
        )
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
    let complaints = Complaints::default();
    // The watch only sees updates: read what is there now, so peers that are offline (but
    // known by name) resolve right after a restart.
    // Our own record first: however long reading the others takes, peers see us at once.
    put_member(&store, mesh).await?;
    resync(&store, mesh, &complaints, stale_after).await?;
    let mut tick = tokio::time::interval(hb);
    let mut ticks: u64 = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                ticks += 1;
                // Presence is soft state and a watch can go quiet without an error (seen in
                // CI: a record written while the watch was being set up never arrived). Every
                // few heartbeats the bucket is read again; `learn` ignores what it already
                // holds, so this only fills gaps.
                if ticks % RESYNC_EVERY == 0 {
                    resync(&store, mesh, &complaints, stale_after).await?;
                }
                put_member(&store, mesh).await?;
                for p in mesh.peers.locals().into_iter().filter(|p| p.online) {
                    put(&store, mesh, &p).await?;
                }
                for m in mesh.peers.records().expire(now_ms() - stale_after) {
                    tracing::info!(member = %m.name, key = %m.key, "member left (heartbeat too old)");
                }
                for p in mesh.peers.expire_remote(now_ms() - stale_after) {
                    tracing::info!(peer = %p.name, key = %p.key, "peer left (heartbeat too old)");
                    mesh.emit_peer("peer_leave", &p).await;
                }
            }
            Some(p) = changed.recv() => put(&store, mesh, &p).await?,
            e = watch.next() => {
                let Some(e) = e else { anyhow::bail!("presence watch ended") };
                let e = e.map_err(|e| anyhow::anyhow!("watch: {e}"))?;
                if e.operation == kv::Operation::Put {
                    learn(mesh, &complaints, &e.key, &e.value, stale_after).await;
                }
            }
        }
    }
}

/// Every this many heartbeats the whole bucket is read again (see `run_once`).
const RESYNC_EVERY: u64 = 3;

/// Longest a read of the whole bucket may take. Listing keys runs an ordered consumer whose
/// stream can stall without an error; this loop also sends the heartbeats, so a stalled
/// read must end (presence restarts) rather than silence this member (a member record never
/// arrived in a full-suite run beside `stress --cpu 4`).
const RESYNC_TIMEOUT: Duration = Duration::from_secs(10);

/// Read every record in the bucket and learn it, within [`RESYNC_TIMEOUT`].
async fn resync(
    store: &kv::Store,
    mesh: &Arc<Mesh>,
    complaints: &Complaints,
    stale_after: i64,
) -> anyhow::Result<()> {
    tokio::time::timeout(
        RESYNC_TIMEOUT,
        read_all(store, mesh, complaints, stale_after),
    )
    .await
    .map_err(|_| anyhow::anyhow!("reading the presence bucket took over {RESYNC_TIMEOUT:?}"))?
}

async fn read_all(
    store: &kv::Store,
    mesh: &Arc<Mesh>,
    complaints: &Complaints,
    stale_after: i64,
) -> anyhow::Result<()> {
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
            learn(mesh, complaints, &k, &v, stale_after).await;
        }
    }
    Ok(())
}

/// Take in one presence record of another member: verify, check membership and bindings,
/// then store it within the bounds.
async fn learn(
    mesh: &Arc<Mesh>,
    complaints: &Complaints,
    key: &str,
    value: &[u8],
    stale_after: i64,
) {
    if presence_record::is_member_key(key) {
        return learn_member(mesh, complaints, key, value, stale_after).await;
    }
    let rec = match presence_record::verify(&mesh.mesh, key, value) {
        Ok(r) => r,
        Err(why) => {
            complain!(complaints, key, %key, reason = %why, "dropped a presence record");
            return;
        }
    };
    let mut peer = rec.peer;
    if peer.key == mesh.identity.public_hex() {
        return;
    }
    if !mesh.peers.admits(&peer.key) {
        complain!(complaints, &peer.key, member = %peer.key, name = %peer.name,
            "dropped a presence record of a key outside [mesh] members");
        return;
    }
    let now = now_ms();
    if rec.heartbeat_ms > now + MAX_SKEW_MS {
        complain!(complaints, key, %key, ahead_ms = rec.heartbeat_ms - now,
            "dropped a presence record from the future (clock skew over 5 minutes)");
        return;
    }
    let (conflicts, writes) = mesh.peers.observe(&peer);
    for c in conflicts {
        let about = format!("{:?}:{}:{}", c.kind, c.value, peer.key);
        complain!(complaints, &about, kind = ?c.kind, value = %c.value, claimed_by = %peer.key,
            bound_to = %c.bound,
            "a name or session first seen with one member key is claimed by another; it stays with the first (sends by name answer 409)");
    }
    if !writes.is_empty() {
        let r = mesh
            .db
            .call(move |c| crate::bindings::store(c, &writes))
            .await;
        if let Err(e) = r
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()))
        {
            tracing::warn!(error = %e, "cannot record a name binding");
        }
    }
    peer.local = false;
    peer.online = peer.online && now - rec.heartbeat_ms < stale_after;
    peer.last_seen_at = crate::clock::text(rec.heartbeat_ms);
    match mesh.peers.upsert_remote(peer.clone(), rec.heartbeat_ms) {
        Upsert::Stale => {
            tracing::debug!(%key, "ignored a presence record older than the one held");
        }
        Upsert::Stored { change, evicted } => {
            for p in evicted {
                complain!(complaints, &p.key, member = %p.key, session = %p.session_id,
                    "too many remote sessions: forgot the least recently heard");
            }
            if let Some(kind) = change {
                tracing::info!(peer = %peer.name, key = %peer.key, "{kind}");
                mesh.emit_peer(kind, &peer).await;
            }
        }
    }
}

/// Take in another member's own record: verify, check membership and the name binding,
/// then store it.
async fn learn_member(
    mesh: &Arc<Mesh>,
    complaints: &Complaints,
    key: &str,
    value: &[u8],
    stale_after: i64,
) {
    let rec = match presence_record::verify_member(&mesh.mesh, key, value) {
        Ok(r) => r,
        Err(why) => {
            complain!(complaints, key, %key, reason = %why, "dropped a member record");
            return;
        }
    };
    let mut m = rec.member;
    if m.key == mesh.identity.public_hex() {
        return;
    }
    if !mesh.peers.admits(&m.key) {
        complain!(complaints, &m.key, member = %m.key, name = %m.name,
            "dropped a member record of a key outside [mesh] members");
        return;
    }
    let now = now_ms();
    if rec.heartbeat_ms > now + MAX_SKEW_MS {
        complain!(complaints, key, %key, ahead_ms = rec.heartbeat_ms - now,
            "dropped a member record from the future (clock skew over 5 minutes)");
        return;
    }
    let (conflict, write) = mesh.peers.observe_member(&m);
    if let Some(c) = conflict {
        let about = format!("{:?}:{}:{}", c.kind, c.value, m.key);
        complain!(complaints, &about, value = %c.value, claimed_by = %m.key, bound_to = %c.bound,
            "a member name first seen with one key is claimed by another; it stays with the first (sends by name answer 409)");
    }
    if let Some(w) = write {
        let r = mesh.db.call(move |c| crate::bindings::store(c, &[w])).await;
        if let Err(e) = r
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()))
        {
            tracing::warn!(error = %e, "cannot record a name binding");
        }
    }
    m.local = false;
    m.online = m.online && now - rec.heartbeat_ms < stale_after;
    m.last_seen_at = crate::clock::text(rec.heartbeat_ms);
    let (name, k) = (m.name.clone(), m.key.clone());
    if mesh.peers.records().upsert(m, rec.heartbeat_ms) {
        tracing::info!(member = %name, key = %k, "member joined");
        mesh.emit("member_join", serde_json::json!({"key": k, "name": name}))
            .await;
    }
}
