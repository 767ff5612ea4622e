//! Counters for `/v1/health`: what the intake and the processor did since start.

use claude_daemons::api::memory::Intake;
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
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
