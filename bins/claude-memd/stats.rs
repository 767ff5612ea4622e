//! Counters for `/v1/health`: what the intake and the processor did since start.

use claude_daemons::api::memory::Intake;
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn since_start() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// Shared counters.
#[derive(Debug, Default)]
pub struct Stats {
    stored: AtomicU64,
    duplicates: AtomicU64,
    skipped: AtomicU64,
    processed: AtomicU64,
    failed: AtomicU64,
    /// Events waiting, as of the processor's last pass.
    pub pending: AtomicI64,
    /// When the intake last committed (µs since start).
    last_intake: AtomicU64,
    writer_down: AtomicBool,
    processor_down: AtomicBool,
}

/// Marks a worker thread as gone when dropped (its loop ended or it panicked), so health
/// turns degraded and the watchdog restarts the daemon instead of it failing every hook.
pub struct Watch<'a>(&'a AtomicBool);

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        self.0.store(true, Relaxed);
    }
}

impl Stats {
    /// Count one intake outcome.
    pub fn count(&self, i: Intake) {
        match i {
            Intake::Stored => &self.stored,
            Intake::Duplicate => &self.duplicates,
            Intake::Skipped => &self.skipped,
        }
        .fetch_add(1, Relaxed);
    }

    /// Held by the writer thread for its whole life.
    pub fn watch_writer(&self) -> Watch<'_> {
        Watch(&self.writer_down)
    }

    /// Held by the processor thread for its whole life.
    pub fn watch_processor(&self) -> Watch<'_> {
        Watch(&self.processor_down)
    }

    /// `Err` naming a worker thread that is gone.
    pub fn threads_ok(&self) -> Result<(), String> {
        if self.writer_down.load(Relaxed) {
            return Err("the database writer thread stopped".into());
        }
        if self.processor_down.load(Relaxed) {
            return Err("the event processor thread stopped".into());
        }
        Ok(())
    }

    /// Note that the intake just committed.
    pub fn intake_now(&self) {
        self.last_intake.store(since_start(), Relaxed);
    }

    /// Whether the intake committed within `window`.
    pub fn intake_busy(&self, window: Duration) -> bool {
        let last = self.last_intake.load(Relaxed);
        last != 0 && since_start().saturating_sub(last) < window.as_micros() as u64
    }

    /// Count processed and failed events.
    pub fn processed(&self, done: u64, failed: u64) {
        self.processed.fetch_add(done, Relaxed);
        self.failed.fetch_add(failed, Relaxed);
    }

    /// The health details.
    pub fn details(&self, provider: &str) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert(
            "queue".into(),
            json!({
                "pending": self.pending.load(Relaxed),
                "stored": self.stored.load(Relaxed),
                "duplicates": self.duplicates.load(Relaxed),
                "skipped": self.skipped.load(Relaxed),
                "processed": self.processed.load(Relaxed),
                "failed": self.failed.load(Relaxed),
            }),
        );
        m.insert("provider".into(), provider.into());
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_worker_thread_degrades_health() {
        let s = Stats::default();
        let w = s.watch_writer();
        assert!(s.threads_ok().is_ok());
        drop(w);
        assert!(s.threads_ok().unwrap_err().contains("writer"));
        let s = Stats::default();
        std::thread::scope(|t| {
            let r = t.spawn(|| {
                let _w = s.watch_processor();
                panic!("processor bug");
            });
            assert!(r.join().is_err());
        });
        assert!(s.threads_ok().unwrap_err().contains("processor"));
    }
}
