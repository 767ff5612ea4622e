//! Where each session key lives: a JetStream key-value bucket `csup_<fleet>_placement`,
//! session key (hex) → [`Record`] (host, lease, transcript revision). Every change is a
//! compare-and-set on the entry's revision, so two hosts never both win a key.

use async_nats::jetstream::{self, kv};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::sync::OnceCell;

/// How long one bucket operation may take before the broker counts as unreachable.
const OP_TIMEOUT: Duration = Duration::from_secs(5);

/// One session key's placement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub key: String,
    pub host: String,
    /// Unix ms until which `host` holds the key; after it, another host may take it.
    pub lease_until_ms: i64,
    /// Object id (nuid) of the transcript last stored for the key, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript: Option<String>,
    /// What another host needs to resume the session: its Claude session id, workspace
    /// and options (set with the transcript).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<Resume>,
}

/// The session a stored transcript belongs to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resume {
    pub session_id: String,
    pub options: claude_daemons::api::supervisor::SessionOptions,
}

impl Record {
    pub fn live(&self, now_ms: i64) -> bool {
        self.lease_until_ms > now_ms
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The bucket key of a session key: session keys may hold `: @ +`, bucket keys may not.
pub fn kv_key(key: &str) -> String {
    key.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The bucket, opened on first use (the broker may be down when the daemon starts).
pub struct Placement {
    js: jetstream::Context,
    bucket: String,
    store: OnceCell<kv::Store>,
}

/// What a compare-and-set did.
pub enum Cas {
    /// Written; the entry's new revision.
    Done(u64),
    /// Someone else wrote first.
    Lost,
}

fn timed_out<T>(r: Result<T, tokio::time::error::Elapsed>) -> Result<T, String> {
    r.map_err(|_| "the broker did not answer within 5 s".to_string())
}

impl Placement {
    pub fn new(js: jetstream::Context, fleet: &str) -> Placement {
        Placement {
            js,
            bucket: format!("csup_{fleet}_placement"),
            store: OnceCell::new(),
        }
    }

    async fn store(&self) -> Result<&kv::Store, String> {
        self.store
            .get_or_try_init(|| async {
                let open =
                    claude_daemons::nats::open_kv_bucket(&self.js, &self.bucket, Duration::ZERO);
                timed_out(tokio::time::timeout(OP_TIMEOUT, open).await)?.map_err(|e| e.to_string())
            })
            .await
    }

    /// The record of `key` and its revision.
    pub async fn get(&self, key: &str) -> Result<Option<(Record, u64)>, String> {
        let store = self.store().await?;
        let e = timed_out(tokio::time::timeout(OP_TIMEOUT, store.entry(kv_key(key))).await)?
            .map_err(|e| format!("placement bucket: {e}"))?;
        Ok(e.filter(|e| e.operation == kv::Operation::Put)
            .and_then(|e| Some((serde_json::from_slice(&e.value).ok()?, e.revision))))
    }

    /// Write `rec` if the key has no record.
    pub async fn create(&self, rec: &Record) -> Result<Cas, String> {
        let store = self.store().await?;
        let body = serde_json::to_vec(rec).expect("record serializes");
        let r = timed_out(
            tokio::time::timeout(OP_TIMEOUT, store.create(kv_key(&rec.key), body.into())).await,
        )?;
        match r {
            Ok(rev) => Ok(Cas::Done(rev)),
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => Ok(Cas::Lost),
            Err(e) => Err(format!("placement bucket: {e}")),
        }
    }

    /// Replace the record if it is still at `revision`.
    pub async fn update(&self, rec: &Record, revision: u64) -> Result<Cas, String> {
        let store = self.store().await?;
        let body = serde_json::to_vec(rec).expect("record serializes");
        let r = timed_out(
            tokio::time::timeout(
                OP_TIMEOUT,
                store.update(kv_key(&rec.key), body.into(), revision),
            )
            .await,
        )?;
        match r {
            Ok(rev) => Ok(Cas::Done(rev)),
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(Cas::Lost),
            Err(e) => Err(format!("placement bucket: {e}")),
        }
    }

    /// Drop the record of `key` (a forgotten session).
    pub async fn delete(&self, key: &str) -> Result<(), String> {
        let store = self.store().await?;
        timed_out(tokio::time::timeout(OP_TIMEOUT, store.delete(kv_key(key))).await)?
            .map_err(|e| format!("placement bucket: {e}"))
    }

    /// Every record with its revision.
    pub async fn list(&self) -> Result<Vec<(Record, u64)>, String> {
        use futures::StreamExt;
        let store = self.store().await?;
        let keys = timed_out(tokio::time::timeout(OP_TIMEOUT, store.keys()).await)?
            .map_err(|e| format!("placement bucket: {e}"))?;
        let keys: Vec<String> = timed_out(
            tokio::time::timeout(OP_TIMEOUT, keys.filter_map(|k| async { k.ok() }).collect()).await,
        )?;
        let mut out = Vec::with_capacity(keys.len());
        for k in keys {
            let e = timed_out(tokio::time::timeout(OP_TIMEOUT, store.entry(k)).await)?
                .map_err(|e| format!("placement bucket: {e}"))?;
            if let Some(e) = e.filter(|e| e.operation == kv::Operation::Put) {
                if let Ok(r) = serde_json::from_slice(&e.value) {
                    out.push((r, e.revision));
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_session_key_is_a_bucket_key() {
        let k = kv_key("agent::chat@x+1");
        assert!(k.bytes().all(|b| b.is_ascii_hexdigit()), "{k}");
        assert_ne!(kv_key("a"), kv_key("b"));
    }
}
