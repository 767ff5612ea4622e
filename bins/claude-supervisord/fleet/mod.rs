//! A fleet of supervisors on one NATS broker (`[supervisor] broker_url`): each session key
//! lives on one host at a time, asks for it go there, and a new key goes where there is
//! room. Absent `broker_url`, none of this runs.
//!
//! - `connect.rs`: the broker keys, checked, and the connection options;
//! - `placement.rs`: the key → host bucket, changed only by compare-and-set;
//! - `route.rs`: where an ask runs (here, its owner, or a host with room);
//! - `lease.rs`: renewing the leases this host holds, giving up lost ones;
//! - `service.rs`: this host as a NATS micro-service (`$SRV.PING/INFO/STATS`) answering
//!   the other hosts;
//! - `remote.rs`: asks and interrupts sent to another host;
//! - `transcripts.rs`: transcripts in the object store, stored after each turn and
//!   restored by the host that takes a session over;
//! - `hosts.rs`: the hosts of the fleet and their load;
//! - `wire.rs`: subjects and message bodies between hosts.

mod connect;
mod hosts;
mod lease;
mod placement;
mod remote;
mod route;
mod service;
mod transcripts;
mod wire;

pub use route::Route;

use crate::pool::Pool;
use crate::turn::{TurnError, TurnEvent};
use async_nats::connection::State;
use claude_daemons::api::supervisor::SessionOptions;
use claude_daemons::config::{SupervisorConfig, WhenFull};
use placement::{Placement, Record};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

/// Runs a turn another host sent here: (key, ask body, stream) → its events.
pub type Runner = Arc<
    dyn Fn(
            String,
            serde_json::Value,
            bool,
        )
            -> Pin<Box<dyn Future<Output = Result<UnboundedReceiver<TurnEvent>, TurnError>> + Send>>
        + Send
        + Sync,
>;

/// Answers a request about a session held here that another host forwarded:
/// (method, path, body) → (status, body).
pub type HttpRunner = Arc<
    dyn Fn(String, String, Vec<u8>) -> Pin<Box<dyn Future<Output = (u16, Vec<u8>)> + Send>>
        + Send
        + Sync,
>;

/// How long a key placed here counts against the room before its process exists.
const RESERVATION: Duration = Duration::from_secs(30);

/// This host's membership of the fleet.
pub struct Fleet {
    pub name: String,
    pub host: String,
    client: async_nats::Client,
    placement: Placement,
    transcripts: transcripts::Transcripts,
    pool: Pool,
    lease: Duration,
    when_full: WhenFull,
    workspace_map: BTreeMap<String, String>,
    /// The keys this host holds: the record written and its revision.
    owned: Mutex<HashMap<String, (Record, u64)>>,
    /// Keys placed here whose process is not started yet.
    reserved: Mutex<HashMap<String, Instant>>,
    runner: OnceLock<Runner>,
    http: OnceLock<HttpRunner>,
}

/// Join the fleet `cfg` names, if any: connect (in the background: a broker that is down
/// is retried forever), register the service, keep the leases.
pub fn start(
    cfg: &SupervisorConfig,
    pool: Pool,
    shutdown: CancellationToken,
) -> Result<Option<Arc<Fleet>>, String> {
    let Some(settings) = connect::check(cfg)? else {
        return Ok(None);
    };
    let options = connect::options(cfg, &settings)?;
    // With retry_on_initial_connect this only parses the URL and starts the connection
    // task; nothing waits on the network.
    let client = futures::executor::block_on(options.connect(settings.url.as_str()))
        .map_err(|e| format!("[supervisor] broker_url = {:?}: {e}", settings.url))?;
    let js = async_nats::jetstream::new(client.clone());
    let fleet = Arc::new(Fleet {
        placement: Placement::new(js.clone(), &settings.fleet),
        transcripts: transcripts::Transcripts::new(js, &settings.fleet),
        name: settings.fleet,
        host: settings.host,
        client,
        pool,
        lease: Duration::from_secs(cfg.lease_secs),
        when_full: cfg.when_full,
        workspace_map: cfg.workspace_map.clone(),
        owned: Mutex::new(HashMap::new()),
        reserved: Mutex::new(HashMap::new()),
        runner: OnceLock::new(),
        http: OnceLock::new(),
    });
    tracing::info!(fleet = %fleet.name, host = %fleet.host, broker = %settings.url, "joining the fleet");
    tokio::spawn(service::run(fleet.clone(), shutdown.clone()));
    tokio::spawn(lease::run(fleet.clone(), shutdown));
    Ok(Some(fleet))
}

impl Fleet {
    /// What runs turns other hosts send here (set once the API exists).
    pub fn set_runner(&self, r: Runner) {
        let _ = self.runner.set(r);
    }

    /// What answers requests other hosts forward here.
    pub fn set_http(&self, r: HttpRunner) {
        let _ = self.http.set(r);
    }

    pub fn connected(&self) -> bool {
        self.client.connection_state() == State::Connected
    }

    fn owned(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Record, u64)>> {
        self.owned.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Process slots free here: not taken by a child, nor promised to a key placed here.
    pub fn free(&self) -> usize {
        let mut r = self.reserved.lock().unwrap_or_else(|p| p.into_inner());
        r.retain(|k, at| {
            at.elapsed() < RESERVATION && self.pool.get(k).is_none_or(|h| h.live().pid.is_none())
        });
        self.pool
            .max_processes()
            .saturating_sub(self.pool.children() + r.len())
    }

    fn reserve(&self, key: &str) {
        self.reserved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.into(), Instant::now());
    }

    /// The key's process was stopped here: it no longer holds a slot, started or not.
    pub fn release(&self, key: &str) {
        self.reserved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    /// A workspace path of another host as it is here (`[supervisor] workspace_map`; the
    /// longest matching prefix wins).
    pub fn map_path(&self, path: &str) -> String {
        map_with(&self.workspace_map, path)
    }

    /// Map every path of `o` through [`Fleet::map_path`].
    pub fn map_options(&self, o: &mut SessionOptions) {
        if let Some(c) = &mut o.cwd {
            *c = self.map_path(c);
        }
        if let Some(dirs) = &mut o.add_dirs {
            for d in dirs {
                *d = self.map_path(d);
            }
        }
    }

    /// Stop this host's process of a key another host holds now.
    fn stop_local(&self, key: &str) {
        if let Some(h) = self.pool.get(key) {
            let (reply, _) = tokio::sync::oneshot::channel();
            let _ = h.tx.send(crate::handle::Command::Stop {
                forget: false,
                reply,
            });
        }
    }

    /// Forget `key`'s placement (its session was deleted here).
    pub async fn forget(&self, key: &str) {
        if self.owned().remove(key).is_some() {
            if let Err(e) = self.placement.delete(key).await {
                tracing::warn!(SESSION_KEY = %key, "cannot drop the placement: {e}");
            }
        }
    }
}

fn map_with(map: &BTreeMap<String, String>, path: &str) -> String {
    let hit = map
        .iter()
        .map(|(from, to)| (from.trim_end_matches('/'), to))
        .filter(|(from, _)| path == *from || path.starts_with(&format!("{from}/")))
        .max_by_key(|(from, _)| from.len());
    match hit {
        Some((from, to)) => format!("{}{}", to.trim_end_matches('/'), &path[from.len()..]),
        None => path.to_string(),
    }
}

fn unavailable(why: impl std::fmt::Display) -> TurnError {
    TurnError::new(
        "fleet_unavailable",
        format!("the fleet's broker cannot place this session: {why}"),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn workspace_paths_map_by_longest_prefix() {
        let mut m = std::collections::BTreeMap::new();
        m.insert("/home/ann".to_string(), "/srv/ann".to_string());
        m.insert("/home/ann/src/".to_string(), "/build".to_string());
        let map = |p: &str| super::map_with(&m, p);
        assert_eq!(map("/home/ann/x"), "/srv/ann/x");
        assert_eq!(map("/home/ann"), "/srv/ann");
        assert_eq!(map("/home/ann/src/y"), "/build/y");
        assert_eq!(map("/home/annie"), "/home/annie");
        assert_eq!(map("/tmp"), "/tmp");
    }
}
