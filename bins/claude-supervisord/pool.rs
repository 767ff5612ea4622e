//! The pool: sessions by key, the `max_processes` slots, eviction of the least recently used
//! idle child when a turn needs room, and stopping everything at shutdown.

use crate::events::Events;
use crate::handle::{Command, Live, SessionHandle};
use crate::settings::Settings;
use claude_daemons::config::SupervisorConfig;
use claude_daemons::daemon::Activity;
use claude_daemons::paths::Paths;
use claude_daemons::store::Db;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// Shared by the HTTP handlers and every session task.
pub struct PoolInner {
    pub config: SupervisorConfig,
    /// Where interactive children's files go, and the socket their Stop hook calls.
    pub paths: Paths,
    pub db: Db,
    pub events: Events,
    pub activity: Activity,
    pub shutdown: CancellationToken,
    slots: Arc<Semaphore>,
    sessions: Mutex<HashMap<String, SessionHandle>>,
}

pub type Pool = Arc<PoolInner>;

pub fn new(
    config: SupervisorConfig,
    paths: Paths,
    db: Db,
    activity: Activity,
    shutdown: CancellationToken,
) -> Pool {
    let slots = Arc::new(Semaphore::new(config.max_processes.max(1)));
    let pool = Arc::new(PoolInner {
        config,
        paths,
        db,
        events: Events::new(),
        activity,
        shutdown: shutdown.clone(),
        slots,
        sessions: Mutex::new(HashMap::new()),
    });
    let p = pool.clone();
    tokio::spawn(async move {
        shutdown.cancelled().await;
        p.stop_everything();
    });
    pool
}

impl PoolInner {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, SessionHandle>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The session task for `key` (its settings brought up to date), started by `start`
    /// if there is none; `None` while shutting down.
    pub fn handle(
        &self,
        key: &str,
        settings: &Settings,
        start: impl FnOnce() -> SessionHandle,
    ) -> Option<SessionHandle> {
        if self.shutdown.is_cancelled() {
            return None;
        }
        let mut map = self.map();
        if let Some(h) = map.get(key) {
            if !h.tx.is_closed() {
                h.set_settings(settings.clone());
                return Some(h.clone());
            }
        }
        let h = start();
        map.insert(key.into(), h.clone());
        Some(h)
    }

    /// The running session task for `key`, if any.
    pub fn get(&self, key: &str) -> Option<SessionHandle> {
        self.map().get(key).filter(|h| !h.tx.is_closed()).cloned()
    }

    /// Forget a stopped session's task (only if it is still the one given).
    pub fn remove(&self, key: &str, handle: &SessionHandle) {
        let mut map = self.map();
        if map.get(key).is_some_and(|h| h.tx.same_channel(&handle.tx)) {
            map.remove(key);
        }
    }

    /// Let an idle session task end: only if nothing but the map holds its sender (so no
    /// handler is about to send) and nothing waits in its queue. Decided under the map lock,
    /// which every new handle is taken under.
    pub fn retire(
        &self,
        key: &str,
        live: &Arc<Mutex<Live>>,
        rx: &mpsc::UnboundedReceiver<Command>,
    ) -> bool {
        let mut map = self.map();
        let Some(h) = map.get(key).filter(|h| Arc::ptr_eq(&h.live, live)) else {
            return true;
        };
        if h.tx.strong_count() > 1 || !rx.is_empty() {
            return false;
        }
        map.remove(key);
        true
    }

    pub fn all(&self) -> Vec<(String, SessionHandle)> {
        self.map()
            .iter()
            .map(|(k, h)| (k.clone(), h.clone()))
            .collect()
    }

    /// A slot for a new child. With a `deadline` (a turn is waiting), evict the least
    /// recently used idle child of another session and wait for its slot; without one, take
    /// a free slot or nothing.
    pub async fn acquire_slot(
        &self,
        key: &str,
        deadline: Option<Instant>,
    ) -> Option<OwnedSemaphorePermit> {
        loop {
            if let Ok(p) = self.slots.clone().try_acquire_owned() {
                return Some(p);
            }
            let deadline = deadline?;
            let evicted = self.evict_one(key);
            let wait = if evicted {
                Duration::from_secs(2)
            } else {
                Duration::from_millis(200)
            };
            tokio::select! {
                p = self.slots.clone().acquire_owned() => return p.ok(),
                _ = tokio::time::sleep(wait) => {}
                _ = tokio::time::sleep_until(deadline.into()) => return None,
                _ = self.shutdown.cancelled() => return None,
            }
        }
    }

    fn evict_one(&self, except: &str) -> bool {
        let map = self.map();
        let victim = map
            .iter()
            .filter(|(k, _)| k.as_str() != except)
            .filter_map(|(_, h)| {
                let l = h.live();
                (l.pid.is_some() && !l.busy && l.state == "ready" && !l.evicting)
                    .then_some((l.last_used, h))
            })
            .min_by_key(|(t, _)| *t);
        match victim {
            Some((_, h)) => {
                h.live.lock().unwrap_or_else(|p| p.into_inner()).evicting = true;
                h.tx.send(Command::Evict).is_ok()
            }
            None => false,
        }
    }

    fn stop_everything(&self) {
        for (_, h) in self.all() {
            let _ = h.tx.send(Command::Shutdown);
        }
    }

    /// Live children (for health and status).
    pub fn children(&self) -> usize {
        self.max_processes() - self.slots.available_permits()
    }

    pub fn max_processes(&self) -> usize {
        self.config.max_processes.max(1)
    }
}
