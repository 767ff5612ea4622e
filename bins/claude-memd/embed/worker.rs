//! The background embedder: after records are stored (and once at start, for a backfill
//! after a model was installed or changed) it embeds what has no vector from the current
//! model, in small batches, on threads at the lowest CPU priority, so that intake and hook
//! answers never wait for it. A forgotten record's vector leaves memory here (the database
//! triggers remove the stored one).

use super::vectors::{self, Kind, Pending};
use super::Semantic;
use crate::announce::Announcer;
use rusqlite::Connection;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Records per batch: big enough for the matrix code to pay, small enough that each write
/// transaction is short.
const BATCH: usize = 16;

/// How often the worker looks for model files installed, changed or removed meanwhile.
const POLL: Duration = Duration::from_secs(3);

/// Wakes the worker.
#[derive(Default)]
pub struct Wake {
    flag: Mutex<bool>,
    cond: Condvar,
}

impl Wake {
    /// Work may be waiting.
    pub fn wake(&self) {
        *self.flag.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.cond.notify_one();
    }

    /// Wait until woken or `timeout`; whether woken.
    fn wait(&self, timeout: Duration) -> bool {
        let flag = self.flag.lock().unwrap_or_else(|e| e.into_inner());
        let (mut flag, _) = self
            .cond
            .wait_timeout_while(flag, timeout, |f| !*f)
            .unwrap_or_else(|e| e.into_inner());
        std::mem::replace(&mut *flag, false)
    }
}

/// Start the worker on `conn` (its own connection: reads and vector writes) and the
/// listener that wakes it for new records.
pub fn start(sem: Arc<Semantic>, conn: Connection, announce: &Announcer) -> std::io::Result<()> {
    let pool = rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("memd-embed-{i}"))
        .start_handler(|_| lowest_priority())
        .build()
        .map_err(std::io::Error::other)?;
    let mut rx = announce.subscribe();
    let s = sem.clone();
    std::thread::Builder::new()
        .name("memd-embed-listen".into())
        .spawn(move || loop {
            use tokio::sync::broadcast::error::RecvError;
            match rx.blocking_recv() {
                Ok(a) if a.name == "record-deleted" => {
                    let kind = a.data["record"]
                        .as_str()
                        .and_then(|r| Kind::ALL.into_iter().find(|k| k.name() == r));
                    if let (Some(kind), Some(id)) = (kind, a.data["id"].as_i64()) {
                        s.index_mut().remove(kind, id);
                    }
                }
                Ok(a) if a.name.ends_with("-created") => s.wake(),
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => s.wake(),
                Err(RecvError::Closed) => return,
            }
        })?;
    std::thread::Builder::new()
        .name("memd-embed".into())
        .spawn(move || {
            lowest_priority();
            run(&sem, conn, &pool)
        })?;
    Ok(())
}

fn run(sem: &Semantic, mut conn: Connection, pool: &rayon::ThreadPool) {
    let mut woken = true;
    loop {
        if sem.take_warm() {
            // A prompt went without semantic recall rather than wait for this.
            if let Ok(m) = sem.model() {
                if let Err(e) = sem.ensure_index(&conn, &m) {
                    tracing::warn!(error = %e, "loading the vectors failed");
                }
            }
        }
        if woken || sem.installed() {
            if let Err(e) = pass(sem, &mut conn, pool) {
                tracing::warn!(error = %e, "embedding pass failed; retrying later");
            }
        }
        woken = sem.wake.wait(POLL);
    }
}

/// Embed everything without a vector from the current model. Cheap when nothing is
/// missing: a count.
fn pass(sem: &Semantic, conn: &mut Connection, pool: &rayon::ThreadPool) -> anyhow::Result<()> {
    if !sem.installed() {
        return Ok(());
    }
    // Loaded only when some record needs it: a daemon started for a health check, with
    // everything embedded, does not read the weights.
    let Ok(id) = sem.current_id() else {
        return Ok(());
    };
    let (records, embedded) = vectors::counts(conn, &id)?;
    *sem.progress.lock().unwrap_or_else(|e| e.into_inner()) = super::Progress { records, embedded };
    if embedded >= records {
        vectors::drop_others(conn, &id)?;
        return Ok(());
    }
    let Ok(m) = sem.model() else {
        return Ok(());
    };
    sem.ensure_index(conn, &m)?;
    let started = std::time::Instant::now();
    let mut done = 0u64;
    for kind in Kind::ALL {
        let mut before = i64::MAX;
        loop {
            let batch: Vec<Pending> = vectors::pending(conn, kind, m.id(), before, BATCH)?;
            let Some(last) = batch.last() else { break };
            before = last.id;
            let texts: Vec<&str> = batch.iter().map(|p| p.text.as_str()).collect();
            let vecs = pool.install(|| m.embed(&texts))?;
            let items: Vec<(Kind, i64, Vec<i8>)> = batch
                .iter()
                .zip(&vecs)
                .map(|(p, v)| (p.kind, p.id, vectors::quantize(v)))
                .collect();
            vectors::store(conn, m.id(), &items)?;
            {
                let mut ix = sem.index_mut();
                if ix.model() == m.id() {
                    for (p, (k, id, v)) in batch.iter().zip(&items) {
                        ix.put(*k, *id, &p.project, &p.project_name, v);
                    }
                }
            }
            done += items.len() as u64;
            sem.progress
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .embedded += items.len() as u64;
            // A model swapped meanwhile: start over with the new one.
            if !sem.model().is_ok_and(|n| n.id() == m.id()) {
                return Ok(());
            }
        }
    }
    let (records, embedded) = vectors::counts(conn, m.id())?;
    *sem.progress.lock().unwrap_or_else(|e| e.into_inner()) = super::Progress { records, embedded };
    if embedded >= records {
        vectors::drop_others(conn, m.id())?;
    }
    tracing::info!(
        model = m.id(),
        records = done,
        ms = started.elapsed().as_millis() as u64,
        "embedded"
    );
    Ok(())
}

/// Embed everything missing now, on this thread (tests and benchmarks).
#[cfg(test)]
pub fn backfill(sem: &Semantic, conn: &mut Connection) -> anyhow::Result<()> {
    let pool = rayon::ThreadPoolBuilder::new().build()?;
    pass(sem, conn, &pool)
}

/// This thread at the lowest CPU priority (nice 19): embedding uses what the machine has
/// spare. Linux applies nice per thread; elsewhere the worker keeps the daemon's priority.
fn lowest_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority with this thread's id changes nothing but its scheduling weight.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 19);
    }
}
