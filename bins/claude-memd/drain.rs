//! Draining the hook spool (`$STATE/spool/`, see [`claude_daemons::spool`]): events that
//! claude-hook could not hand over in time are stored through the same intake as live hooks
//! (same privacy rules, same dedupe, plus the idempotency key the hook sent), and each file is
//! removed only after its commit. So a crash anywhere in between means the file is drained
//! again and found to be a duplicate.
//!
//! A pass runs at start, every [`TICK`], and soon after a live hook gets through (the daemon
//! can take work again). While the spool holds events the daemon does not go idle.

use crate::intake::Intake;
use crate::routes::hooks::admit;
use crate::routes::Fail;
use claude_daemons::api::memory::Intake as IntakeKind;
use claude_daemons::claude::HookInput;
use claude_daemons::config::Config;
use claude_daemons::daemon::{Activity, ActivityGuard};
use claude_daemons::spool::{Entry, Spool, SpoolError, Spooled, Usage};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Time between passes when nothing asks for one.
const TICK: Duration = Duration::from_secs(5);
/// Least time between two passes (a busy daemon is kicked by every hook).
const SPACING: Duration = Duration::from_millis(250);
/// Events read and submitted together: they share the writer's commits.
const BATCH: usize = 256;
/// Idempotency keys are kept this long; a spool file is drained long before.
const KEY_DAYS: i64 = 30;

/// Handle to the drain task.
#[derive(Clone)]
pub struct Drain {
    kick: Arc<Notify>,
    spool: Spool,
    drained: Arc<AtomicU64>,
}

/// What the drain task needs.
pub struct Parts {
    /// The spool.
    pub spool: Spool,
    /// The durable writer.
    pub intake: Intake,
    /// The configuration (privacy rules).
    pub config: Arc<Config>,
    /// Idle-exit accounting.
    pub activity: Activity,
    /// Stop with the daemon.
    pub shutdown: CancellationToken,
    /// For pruning old keys.
    pub db: claude_daemons::store::Db,
}

impl Drain {
    /// Start the task (on the current tokio runtime).
    pub fn start(parts: Parts) -> Drain {
        let d = Drain {
            kick: Arc::new(Notify::new()),
            spool: parts.spool.clone(),
            drained: Arc::default(),
        };
        tokio::spawn(run(d.clone(), parts));
        d
    }

    /// Ask for a pass soon.
    pub fn kick(&self) {
        self.kick.notify_one();
    }

    /// What the spool holds now, and how many events were drained since start.
    pub fn details(&self) -> serde_json::Value {
        let u = self.spool.usage().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot read the hook spool");
            Usage::default()
        });
        serde_json::json!({
            "events": u.events,
            "bytes": u.bytes,
            "lost": u.lost,
            "drained": self.drained.load(Relaxed),
        })
    }
}

async fn run(d: Drain, p: Parts) {
    // Now, while there is room: a hook that finds the disk full can still count its loss.
    let spool = p.spool.clone();
    if let Ok(Err(e)) = tokio::task::spawn_blocking(move || spool.prepare()).await {
        tracing::warn!(error = %e, "cannot prepare the hook spool");
    }
    prune_keys(&p.db).await;
    let stale = p.spool.clone();
    let _ = tokio::task::spawn_blocking(move || stale.remove_stale_temps(Duration::from_secs(600)))
        .await;
    // Held while events wait in the spool: they are work, and idle exit must wait for them.
    let mut waiting: Option<ActivityGuard> = None;
    loop {
        let guard = p.activity.enter();
        match pass(&d, &p).await {
            Ok(0) => {
                waiting = None;
                guard.found_nothing();
            }
            Ok(_) => {
                waiting.get_or_insert_with(|| p.activity.enter());
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot drain the hook spool");
                guard.found_nothing();
            }
        }
        tokio::select! {
            _ = p.shutdown.cancelled() => return,
            _ = tokio::time::sleep(TICK) => {}
            _ = d.kick.notified() => {}
        }
        tokio::select! {
            _ = p.shutdown.cancelled() => return,
            _ = tokio::time::sleep(SPACING) => {}
        }
    }
}

/// One pass over the spool; how many events are still in it (not counting unreadable files).
async fn pass(d: &Drain, p: &Parts) -> Result<usize, SpoolError> {
    let spool = p.spool.clone();
    let entries = tokio::task::spawn_blocking(move || spool.list())
        .await
        .map_err(|e| SpoolError::Format {
            path: p.spool.dir().into(),
            reason: e.to_string(),
        })??;
    if entries.is_empty() {
        return Ok(0);
    }
    let started = Instant::now();
    let total = entries.len();
    let (mut stored, mut duplicates, mut dropped) = (0usize, 0usize, 0usize);
    for (n, chunk) in entries.chunks(BATCH).enumerate() {
        let spool = p.spool.clone();
        let batch = chunk.to_vec();
        let read: Vec<(Entry, Result<Spooled, SpoolError>)> =
            tokio::task::spawn_blocking(move || {
                batch
                    .into_iter()
                    .map(|e| {
                        let r = spool.read(&e);
                        (e, r)
                    })
                    .collect()
            })
            .await
            .unwrap_or_default();
        // Submitted in file (time) order; the writer commits them together.
        let outcomes = futures::future::join_all(read.into_iter().map(|(entry, r)| async move {
            let outcome = match r {
                Err(e) => Outcome::Unreadable(e.to_string()),
                Ok(s) => match HookInput::parse(&s.payload) {
                    Err(e) => Outcome::Refused(e.to_string()),
                    Ok(input) => {
                        match admit(&p.intake, &p.config.memory, &p.activity, input, Some(s.key))
                            .await
                        {
                            Ok((ack, _, _)) => Outcome::Taken(ack.intake),
                            Err(Fail(status, reason)) if status.is_client_error() => {
                                Outcome::Refused(reason)
                            }
                            Err(Fail(_, reason)) => Outcome::Later(reason),
                        }
                    }
                },
            };
            (entry, outcome)
        }))
        .await;
        let mut later = None;
        let spool = p.spool.clone();
        for (entry, outcome) in &outcomes {
            match outcome {
                Outcome::Taken(IntakeKind::Duplicate) => duplicates += 1,
                Outcome::Taken(_) => stored += 1,
                Outcome::Refused(reason) => {
                    dropped += 1;
                    tracing::warn!(file = %entry.path.display(), %reason, "spooled hook event refused as invalid; removed");
                }
                Outcome::Unreadable(reason) => {
                    tracing::warn!(%reason, "spooled hook event unreadable; set aside");
                }
                Outcome::Later(reason) => later = Some(reason.clone()),
            }
        }
        let removed = tokio::task::spawn_blocking(move || {
            let mut removed = 0u64;
            for (entry, outcome) in outcomes {
                let r = match outcome {
                    Outcome::Taken(_) | Outcome::Refused(_) => spool.remove(&entry),
                    Outcome::Unreadable(_) => set_aside(&entry),
                    Outcome::Later(_) => continue,
                };
                match r {
                    Ok(()) => removed += 1,
                    Err(e) => tracing::warn!(error = %e, "cannot remove a drained spool file"),
                }
            }
            removed
        })
        .await
        .unwrap_or(0);
        d.drained.fetch_add(removed, Relaxed);
        if let Some(reason) = later {
            let left = total - n * BATCH - removed as usize;
            tracing::warn!(%reason, left, "hook spool drain paused; retrying later");
            log_pass(stored, duplicates, dropped, started);
            return Ok(left);
        }
    }
    log_pass(stored, duplicates, dropped, started);
    Ok(0)
}

fn log_pass(stored: usize, duplicates: usize, dropped: usize, started: Instant) {
    let secs = started.elapsed().as_secs_f64();
    let all = stored + duplicates + dropped;
    if all > 0 {
        tracing::info!(
            stored,
            duplicates,
            dropped,
            secs,
            per_sec = (all as f64 / secs.max(1e-6)).round(),
            "drained spooled hook events"
        );
    }
}

enum Outcome {
    /// Committed (or known already): remove the file.
    Taken(IntakeKind),
    /// Invalid and never storable: remove the file.
    Refused(String),
    /// Not a spool file this release reads: rename it out of the way.
    Unreadable(String),
    /// The daemon cannot store it now (disk full, database error): keep it.
    Later(String),
}

/// Keep an unreadable file (a newer release may read it) where passes do not see it.
fn set_aside(entry: &Entry) -> Result<(), SpoolError> {
    let to = entry.path.with_extension("unreadable");
    std::fs::rename(&entry.path, &to).map_err(|source| SpoolError::Io {
        path: entry.path.clone(),
        source,
    })
}

async fn prune_keys(db: &claude_daemons::store::Db) {
    let r = db
        .call(|c| {
            c.execute(
                "DELETE FROM hook_keys WHERE created_at_epoch < unixepoch() - ?1",
                [KEY_DAYS * 86_400],
            )
        })
        .await;
    if let Ok(Err(e)) = r {
        tracing::warn!(error = %e, "cannot prune old idempotency keys");
    }
}
