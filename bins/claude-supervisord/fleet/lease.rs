//! Keeping the leases this host holds: renewed every third of `lease_secs` by
//! compare-and-set; a key found taken by another host is given up and its process here
//! stopped, so two hosts never run the same conversation. After a restart, the keys the
//! bucket still gives to this host are adopted.

use super::placement::{now_ms, Cas, Record};
use super::Fleet;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub async fn run(fleet: Arc<Fleet>, shutdown: CancellationToken) {
    let every = fleet.lease / 3;
    let mut adopted = false;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => {
                // Best effort within the drain: other hosts need not wait for the leases.
                let _ = tokio::time::timeout(Duration::from_secs(2), fleet.release_all()).await;
                return;
            }
            _ = tokio::time::sleep(every) => {}
        }
        if !fleet.connected() {
            continue;
        }
        if !adopted {
            match fleet.adopt().await {
                Ok(n) => {
                    adopted = true;
                    if n > 0 {
                        tracing::info!("{n} sessions of this host's previous run adopted");
                    }
                }
                Err(e) => tracing::warn!("cannot read the placement bucket: {e}"),
            }
        }
        fleet.renew_all().await;
    }
}

impl Fleet {
    /// Take the records that name this host into the renewed set.
    async fn adopt(&self) -> Result<usize, String> {
        let all = self.placement.list().await?;
        let mut owned = self.owned();
        let mut n = 0;
        for (r, rev) in all {
            if r.host == self.host && !owned.contains_key(&r.key) {
                owned.insert(r.key.clone(), (r, rev));
                n += 1;
            }
        }
        Ok(n)
    }

    /// End every lease this host holds (it is stopping): the next ask of each key may be
    /// placed elsewhere at once, resuming from its stored transcript.
    async fn release_all(&self) {
        let keys: Vec<(Record, u64)> = self.owned().drain().map(|(_, v)| v).collect();
        for (mut rec, rev) in keys {
            rec.lease_until_ms = 0;
            if let Err(e) = self.placement.update(&rec, rev).await {
                tracing::debug!(SESSION_KEY = %rec.key, "lease not released: {e}");
            }
        }
    }

    async fn renew_all(&self) {
        let keys: Vec<(String, Record, u64)> = self
            .owned()
            .iter()
            .map(|(k, (r, rev))| (k.clone(), r.clone(), *rev))
            .collect();
        for (key, mut rec, rev) in keys {
            rec.lease_until_ms = now_ms() + self.lease.as_millis() as i64;
            match self.placement.update(&rec, rev).await {
                Ok(Cas::Done(new)) => {
                    let mut owned = self.owned();
                    // An ask may have renewed it meanwhile; keep the newest.
                    if owned.get(&key).is_some_and(|(_, r)| *r == rev) {
                        owned.insert(key, (rec, new));
                    }
                }
                Ok(Cas::Lost) => self.recheck(&key).await,
                Err(e) => {
                    tracing::debug!(SESSION_KEY = %key, "lease not renewed: {e}");
                }
            }
        }
    }

    /// A renewal lost its compare-and-set: an ask renewed it (still ours) or another host
    /// took the key.
    async fn recheck(&self, key: &str) {
        match self.placement.get(key).await {
            Ok(Some((r, rev))) if r.host == self.host => {
                self.owned().insert(key.into(), (r, rev));
            }
            Ok(other) => {
                let to = other
                    .map(|(r, _)| r.host)
                    .unwrap_or_else(|| "nobody".into());
                tracing::warn!(SESSION_KEY = %key, to = %to, "session taken over by another host; stopping it here");
                self.owned().remove(key);
                self.stop_local(key);
            }
            Err(e) => tracing::debug!(SESSION_KEY = %key, "lease check: {e}"),
        }
    }
}
