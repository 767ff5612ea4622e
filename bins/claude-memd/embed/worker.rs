//! The background embedder: after records are stored (and once at start, for a backfill
//! after a model was installed or changed) it embeds what has no vector from the current
//! model, in small batches, so that intake and hook answers never wait for it. A forgotten
//! record's vector leaves memory here (the database triggers remove the stored one).
//!
//! The model runs on one thread per core, each embedding its own share of a batch (candle
//! runs each op on the calling thread: `settle_threads` gives its own pool no workers), at
//! the lowest CPU priority there is (`SCHED_IDLE`, and nice 19 where that is refused): on
//! an idle machine a backfill takes every core, and any other work takes them back at
//! once. The thread that reads records and writes vectors keeps the daemon's priority, so
//! no lock the intake or a hook may need is ever held by a thread the scheduler starves.

use super::model::Embedder;
use super::vectors::{self, Kind, Pending};
use super::Semantic;
use crate::announce::Announcer;
use rusqlite::Connection;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Records per thread per batch: big enough for the matrix code to pay, small enough that
/// each write transaction is short.
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
    let pool = embedding_pool(None).map_err(std::io::Error::other)?;
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
        .spawn(move || run(&sem, conn, &pool))?;
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
    let threads = pool.current_num_threads().max(1);
    for kind in Kind::ALL {
        let mut before = i64::MAX;
        loop {
            let batch: Vec<Pending> =
                vectors::pending(conn, kind, m.id(), before, BATCH * threads)?;
            let Some(last) = batch.last() else { break };
            before = last.id;
            let items = embed_shared(&m, &batch, threads, pool)?;
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

/// The vectors of `batch` (in its order), its records dealt to `threads` shares of like
/// lengths (the longest go one to each share, then the next), each share embedded on its
/// own thread of `pool`.
fn embed_shared(
    m: &Embedder,
    batch: &[Pending],
    threads: usize,
    pool: &rayon::ThreadPool,
) -> anyhow::Result<Vec<(Kind, i64, Vec<i8>)>> {
    use rayon::prelude::*;
    let mut by_length: Vec<usize> = (0..batch.len()).collect();
    by_length.sort_by_key(|&i| std::cmp::Reverse(batch[i].text.len()));
    let shares: Vec<Vec<usize>> = (0..threads)
        .map(|t| by_length.iter().copied().skip(t).step_by(threads).collect())
        .filter(|s: &Vec<usize>| !s.is_empty())
        .collect();
    let vecs = pool.install(|| {
        shares
            .par_iter()
            .with_max_len(1)
            .map(|share| {
                let texts: Vec<&str> = share.iter().map(|&i| batch[i].text.as_str()).collect();
                m.embed(&texts)
            })
            .collect::<Result<Vec<_>, _>>()
    })?;
    let mut out: Vec<Option<Vec<i8>>> = vec![None; batch.len()];
    for (share, vs) in shares.iter().zip(vecs) {
        for (&i, v) in share.iter().zip(vs) {
            out[i] = Some(vectors::quantize(&v));
        }
    }
    Ok(batch
        .iter()
        .zip(out)
        .map(|(p, v)| (p.kind, p.id, v.unwrap_or_default()))
        .collect())
}

/// The embedding threads: one per core (or `threads`), at the lowest priority.
fn embedding_pool(
    threads: Option<usize>,
) -> Result<rayon::ThreadPool, rayon::ThreadPoolBuildError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(
            threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        )
        .thread_name(|i| format!("memd-embed-{i}"))
        .start_handler(|_| lowest_priority())
        .build()
}

/// Embed everything missing now, on `threads` threads (all cores by default), as the
/// worker does (tests and benchmarks).
#[cfg(test)]
pub fn backfill(
    sem: &Semantic,
    conn: &mut Connection,
    threads: Option<usize>,
) -> anyhow::Result<()> {
    let pool = embedding_pool(threads)?;
    pass(sem, conn, &pool)
}

/// This thread at the lowest CPU priority: `SCHED_IDLE` (it runs only when a core has
/// nothing else to run), and nice 19 in case that is refused. Linux applies both per
/// thread; elsewhere the embedding threads keep the daemon's priority.
fn lowest_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority and sched_setscheduler with this thread's id change nothing but
    // its scheduling; the parameter lives across the call.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 19);
        let param = libc::sched_param { sched_priority: 0 };
        libc::sched_setscheduler(tid, libc::SCHED_IDLE, &param);
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn embedding_threads_run_at_the_lowest_priority() {
        let pool = super::embedding_pool(Some(2)).unwrap();
        let seen = pool.broadcast(|_| {
            // SAFETY: reads of this thread's scheduling.
            unsafe {
                let tid = libc::gettid();
                *libc::__errno_location() = 0;
                let nice = libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t);
                (libc::sched_getscheduler(tid), nice)
            }
        });
        assert_eq!(seen, vec![(libc::SCHED_IDLE, 19); 2]);
        // The thread that reads and writes the database keeps its priority.
        // SAFETY: as above.
        let here = unsafe { libc::sched_getscheduler(libc::gettid()) };
        assert_eq!(here, libc::SCHED_OTHER);
    }
}
