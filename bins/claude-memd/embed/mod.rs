//! Semantic recall: an embedding model inside claude-memd ([`model`], [`bert`]), vectors for
//! every record kept in the database and in memory ([`vectors`]), the background worker
//! that makes them ([`worker`]), and hybrid search ([`query`], [`fusion`]).
//!
//! The model is data in `$STATE/models/all-MiniLM-L6-v2/` (`claudectl mem model install`).
//! Without it everything is lexical. It is loaded on first need (a record to embed or a
//! semantic query), in this process: no second process, no network.

#[cfg(test)]
mod bench;
pub mod bert;
pub mod fusion;
pub mod gelu;
pub mod index;
pub mod model;
pub mod prompt;
pub mod query;
pub mod query_cache;
#[cfg(test)]
mod recall;
pub mod vectors;
pub mod worker;

use index::Index;
use model::{Embedder, ModelError};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

/// What tells one set of model files from another without reading them: sizes and times.
type Stamp = Vec<(u64, Option<SystemTime>)>;

fn stamp(dir: &Path) -> Option<Stamp> {
    model::FILES
        .iter()
        .map(|f| {
            let m = std::fs::metadata(dir.join(f)).ok()?;
            Some((m.len(), m.modified().ok()))
        })
        .collect()
}

enum Slot {
    /// Not loaded (absent, or not needed yet).
    Unloaded,
    /// Loading failed for these files; tried again when they change.
    Failed(String, Stamp),
    /// Loaded from these files.
    Ready(Arc<Embedder>, Stamp),
}

/// Backfill progress, for `status`.
#[derive(Clone, Default)]
struct Progress {
    records: u64,
    embedded: u64,
}

/// The semantic side of claude-memd, shared by the worker and the routes.
pub struct Semantic {
    dir: PathBuf,
    slot: Mutex<Slot>,
    known: Mutex<Option<(Stamp, String)>>,
    index: RwLock<Index>,
    progress: Mutex<Progress>,
    wake: worker::Wake,
    /// Someone wants the model and index loaded (a prompt found them not ready and did not wait).
    warm: std::sync::atomic::AtomicBool,
    /// One thread for query embeddings: candle would otherwise split each of a short
    /// query's ~40 small matrix products across threads, and on a busy machine waiting for
    /// the other thread to be scheduled costs more than the product.
    query_pool: Option<rayon::ThreadPool>,
    /// Recent search queries' embeddings.
    queries: Mutex<query_cache::QueryCache>,
}

/// Why a semantic query cannot be answered.
#[derive(Debug, thiserror::Error)]
pub enum Unavailable {
    /// No model installed.
    #[error("semantic search needs an embedding model: run `claudectl mem model install` (lexical search works without one)")]
    Absent,
    /// The model would not load.
    #[error("the embedding model does not load ({0}); reinstall it with `claudectl mem model install` (lexical search still works)")]
    Broken(String),
}

impl Semantic {
    /// The model in `dir` (`$STATE/models/all-MiniLM-L6-v2`); nothing is read yet.
    pub fn new(dir: PathBuf) -> Arc<Semantic> {
        Arc::new(Semantic {
            dir,
            slot: Mutex::new(Slot::Unloaded),
            known: Mutex::new(None),
            index: RwLock::new(Index::default()),
            progress: Mutex::new(Progress::default()),
            wake: worker::Wake::default(),
            warm: Default::default(),
            query_pool: rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .thread_name(|_| "memd-embed-query".into())
                .build()
                .ok(),
            queries: Mutex::default(),
        })
    }

    /// Whether model files are installed (loaded or not).
    pub fn installed(&self) -> bool {
        stamp(&self.dir).is_some()
    }

    /// The installed model's id, without loading it (its files are digested again only
    /// when they change).
    pub fn current_id(&self) -> Result<String, Unavailable> {
        let now = stamp(&self.dir).ok_or(Unavailable::Absent)?;
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((s, id)) = &*known {
            if *s == now {
                return Ok(id.clone());
            }
        }
        let id = model::id_of(&self.dir).map_err(|e| Unavailable::Broken(describe(&e)))?;
        *known = Some((now, id.clone()));
        Ok(id)
    }

    /// The model, loaded now if needed; loaded again when its files changed.
    pub fn model(&self) -> Result<Arc<Embedder>, Unavailable> {
        let now = stamp(&self.dir).ok_or(Unavailable::Absent)?;
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        match &*slot {
            Slot::Ready(m, s) if *s == now => return Ok(m.clone()),
            Slot::Failed(e, s) if *s == now => return Err(Unavailable::Broken(e.clone())),
            _ => {}
        }
        // Free the old model before reading the new one: two would double the memory.
        *slot = Slot::Unloaded;
        let started = std::time::Instant::now();
        match Embedder::load(&self.dir) {
            Ok(m) => {
                let m = Arc::new(m);
                tracing::info!(
                    model = m.id(),
                    ms = started.elapsed().as_millis() as u64,
                    "embedding model loaded"
                );
                *slot = Slot::Ready(m.clone(), now);
                Ok(m)
            }
            Err(e) => {
                let e = describe(&e);
                tracing::warn!(error = %e, "embedding model does not load; search stays lexical");
                *slot = Slot::Failed(e.clone(), now);
                Err(Unavailable::Broken(e))
            }
        }
    }

    /// Make the in-memory index hold `m`'s vectors (read from the database after a model
    /// change or at first use).
    pub fn ensure_index(&self, conn: &rusqlite::Connection, m: &Embedder) -> rusqlite::Result<()> {
        if self.index.read().unwrap_or_else(|e| e.into_inner()).model() == m.id() {
            return Ok(());
        }
        let mut ix = self.index.write().unwrap_or_else(|e| e.into_inner());
        if ix.model() != m.id() {
            *ix = vectors::load_index(conn, m.id(), m.dims())?;
        }
        Ok(())
    }

    /// The model and its index when both are in memory, without waiting for either; when
    /// they are not (and a model is installed), the background worker is asked to load them
    /// and `None` says: answer without them this time.
    pub fn ready(&self) -> Option<Arc<Embedder>> {
        let now = stamp(&self.dir)?;
        let model = match self.slot.try_lock().as_deref() {
            Ok(Slot::Ready(m, s)) if *s == now => Some(m.clone()),
            Ok(Slot::Failed(_, s)) if *s == now => return None,
            _ => None,
        };
        let indexed = model
            .as_ref()
            .is_some_and(|m| self.index.try_read().is_ok_and(|ix| ix.model() == m.id()));
        if !indexed {
            self.warm.store(true, std::sync::atomic::Ordering::Relaxed);
            self.wake();
            return None;
        }
        model
    }

    /// Whether a load was asked for since the last call.
    fn take_warm(&self) -> bool {
        self.warm.swap(false, std::sync::atomic::Ordering::Relaxed)
    }

    /// The in-memory index.
    pub fn index(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(|e| e.into_inner())
    }

    fn index_mut(&self) -> std::sync::RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The kept embedding `model` gave the query `text`, if any.
    pub fn recent_query(&self, model: &str, text: &str) -> Option<Vec<i8>> {
        let mut c = self.queries.lock().unwrap_or_else(|e| e.into_inner());
        c.get(model, text)
    }

    /// Keep a query's embedding for the next time it is asked.
    pub fn keep_query(&self, model: &str, text: &str, v: &[i8]) {
        let mut c = self.queries.lock().unwrap_or_else(|e| e.into_inner());
        c.put(model, text, v);
    }

    /// Forget the kept query embeddings (benchmarks time the model, not the cache).
    #[cfg(test)]
    pub fn forget_queries(&self) {
        *self.queries.lock().unwrap_or_else(|e| e.into_inner()) = Default::default();
    }

    /// Run `f` (a query's embedding) on the query thread.
    pub fn on_query_thread<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        match &self.query_pool {
            Some(p) => p.install(f),
            None => f(),
        }
    }

    /// New records may need vectors.
    pub fn wake(&self) {
        self.wake.wake();
    }

    /// For `GET /v1/health` (and so `claudectl status`).
    pub fn details(&self) -> Value {
        let p = self
            .progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let installed = self.installed();
        // Health must not wait for a model being read (a second or more on a busy machine).
        let slot = match self.slot.try_lock() {
            Ok(g) => Some(g),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        };
        let (state, model, error) = match slot.as_deref() {
            _ if !installed => ("absent", None, None),
            Some(Slot::Ready(m, _)) => ("ready", Some(m.id().to_owned()), None),
            Some(Slot::Failed(e, _)) => ("error", None, Some(e.clone())),
            Some(Slot::Unloaded) => ("installed", None, None),
            None => ("loading", None, None),
        };
        let mut v = json!({
            "state": state,
            "model": model,
            "dir": self.dir,
            "records": p.records,
            "embedded": p.embedded,
        });
        if let Some(e) = error {
            v["error"] = e.into();
        }
        if !installed {
            v["hint"] = "semantic recall is off: run `claudectl mem model install`".into();
        }
        v
    }
}

/// Fix the number of threads candle's matrix products use, once, before any thread starts
/// (`main` calls this first). Unless `RAYON_NUM_THREADS` is set, candle 0.11 works that
/// number out again for every product, and on Linux machines without `cpu_capacity` in
/// sysfs (most VMs) that means parsing `/proc/cpuinfo`: some forty times per embedding,
/// a tenth of a query's time in the profile. The value set is the one candle would find.
///
/// candle's own pool for element-wise ops (`CANDLE_NUM_THREADS`) gets no workers: its
/// threads spin for a while after every op, whoever started them, and at the priority of
/// whichever thread first used it; the background embedder runs one model per core
/// instead, each op on its own thread (see [`worker`]).
pub fn settle_threads() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let n = candle_core::utils::get_num_threads();
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    }
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
}

/// A load error with its causes, on one line.
fn describe(e: &ModelError) -> String {
    let mut s = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let c_s = c.to_string();
        if !s.contains(&c_s) {
            s = format!("{s}: {c_s}");
        }
        cause = c.source();
    }
    s
}
