//! The hosts of the fleet and how loaded each is: this host's figures are what its
//! service's `$SRV.STATS` carries; the others' are gathered the same way.

use super::placement::now_ms;
use super::wire::SERVICE;
use super::Fleet;
use claude_daemons::api::supervisor::{FleetHost, FleetSession, FleetView};
use futures::StreamExt;
use std::time::Duration;

impl Fleet {
    /// This host's capacity and load.
    pub fn load(&self) -> FleetHost {
        let all = self.pool.all();
        FleetHost {
            fleet: self.name.clone(),
            host: self.host.clone(),
            version: env!("CARGO_PKG_VERSION").into(),
            max_processes: self.pool.max_processes(),
            children: self.pool.children(),
            busy: all.iter().filter(|(_, h)| h.live().busy).count(),
            sessions: self.owned().len(),
            free: self.free(),
        }
    }

    /// Every host of this fleet that answers `$SRV.STATS` within `window`, by name.
    pub async fn hosts(&self, window: Duration) -> Vec<FleetHost> {
        let inbox = self.client.new_inbox();
        let Ok(mut sub) = self.client.subscribe(inbox.clone()).await else {
            return Vec::new();
        };
        let subject = format!("$SRV.STATS.{SERVICE}");
        if self
            .client
            .publish_with_reply(subject, inbox, "".into())
            .await
            .is_err()
        {
            return Vec::new();
        }
        let mut found: Vec<FleetHost> = Vec::new();
        let until = tokio::time::Instant::now() + window;
        while let Ok(Some(msg)) = tokio::time::timeout_at(until, sub.next()).await {
            let Ok(stats) = serde_json::from_slice::<serde_json::Value>(&msg.payload) else {
                continue;
            };
            let load = stats["endpoints"]
                .as_array()
                .into_iter()
                .flatten()
                .find_map(|e| serde_json::from_value::<FleetHost>(e["data"].clone()).ok());
            if let Some(h) = load.filter(|h| h.fleet == self.name) {
                if !found.iter().any(|f| f.host == h.host) {
                    found.push(h);
                }
            }
        }
        found.sort_by(|a, b| a.host.cmp(&b.host));
        found
    }

    /// `GET /v1/fleet`: the hosts and where every session lives.
    pub async fn view(&self) -> FleetView {
        let connected = self.connected();
        let (hosts, records) = if connected {
            let (h, r) = tokio::join!(
                self.hosts(Duration::from_millis(500)),
                self.placement.list()
            );
            (h, r)
        } else {
            (vec![self.load()], Err("the broker is unreachable".into()))
        };
        let now = now_ms();
        let (sessions, error) = match records {
            Ok(rs) => {
                let mut s: Vec<FleetSession> = rs
                    .into_iter()
                    .map(|(r, rev)| FleetSession {
                        lease_ms: (r.lease_until_ms - now).max(0) as u64,
                        live: r.live(now),
                        key: r.key,
                        host: r.host,
                        revision: rev,
                        transcript: r.transcript,
                    })
                    .collect();
                s.sort_by(|a, b| a.key.cmp(&b.key));
                (s, None)
            }
            Err(e) => (Vec::new(), Some(e)),
        };
        FleetView {
            fleet: self.name.clone(),
            host: self.host.clone(),
            connected,
            hosts,
            sessions,
            error,
        }
    }
}
