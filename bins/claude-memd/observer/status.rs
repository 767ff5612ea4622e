//! The observer's state for `/v1/health`: whether Claude or the local builder is writing,
//! why, and what the observer did since start.

use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, Default)]
struct Inner {
    /// Why the local builder stands in (supervisor or Claude unavailable), while it does.
    fallback: Option<String>,
    budget: Option<String>,
    requests: u64,
    events: u64,
    tokens: u64,
    invalid: u64,
    unavailable: u64,
    retry_waiting: i64,
    live: usize,
    last_ms: u64,
    today: Option<Today>,
}

/// All observers' spend on one UTC day, with that day's caps (0 = no cap).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Today {
    /// The UTC day, `YYYY-MM-DD`, as SQLite counts it for the budget.
    pub day: String,
    pub tokens: u64,
    pub usd: f64,
    pub tokens_cap: u64,
    pub usd_cap: f64,
}

/// Shared between the processor thread (writes) and health (reads).
#[derive(Debug, Default)]
pub struct Status(Mutex<Inner>);

impl Status {
    fn with(&self, f: impl FnOnce(&mut Inner)) {
        if let Ok(mut i) = self.0.lock() {
            f(&mut i);
        }
    }

    /// A turn was answered.
    pub fn answered(&self, tokens: u64, took: Duration) {
        self.with(|i| {
            if let Some(why) = i.fallback.take() {
                tracing::info!(was = %why, "the Claude observer is available again");
            }
            i.requests += 1;
            i.tokens += tokens;
            i.last_ms = took.as_millis() as u64;
        });
    }

    /// A valid answer covered `n` events.
    pub fn batched(&self, n: usize) {
        self.with(|i| i.events += n as u64);
    }

    /// The supervisor or Claude could not be used; said once per outage in the journal.
    pub fn unavailable(&self, why: &str) {
        self.with(|i| {
            i.unavailable += 1;
            if i.fallback.is_none() {
                tracing::warn!(reason = %why, "the Claude observer is unavailable; the local builder stands in and the events will be observed again later");
            }
            i.fallback = Some(why.to_string());
        });
    }

    /// An answer could not be read.
    pub fn invalid(&self) {
        self.with(|i| i.invalid += 1);
    }

    /// A budget cap was reached.
    pub fn budget(&self, why: &str) {
        self.with(|i| i.budget = Some(why.to_string()));
    }

    /// Events the local builder stood in for, waiting to be observed again.
    pub fn retry_waiting(&self, n: i64) {
        self.with(|i| i.retry_waiting = n);
    }

    /// Today's spend so far, as the budget counts it (read back after each answer).
    pub fn today(&self, today: Today) {
        self.with(|i| i.today = Some(today));
    }

    /// Observer processes believed alive.
    pub fn live(&self, n: usize) {
        self.with(|i| i.live = n);
    }

    /// How many observer processes are believed alive.
    pub fn live_count(&self) -> usize {
        self.0.lock().map(|i| i.live).unwrap_or(0)
    }

    /// Whether the last use of the observer worked.
    pub fn is_up(&self) -> bool {
        self.0.lock().map(|i| i.fallback.is_none()).unwrap_or(false)
    }

    /// The `observer` object of `/v1/health`.
    pub fn details(&self) -> Value {
        let i = self.0.lock().map(|i| {
            json!({
                "mode": if i.fallback.is_some() { "fallback" } else { "claude" },
                "fallback_reason": i.fallback,
                "budget_reached": i.budget,
                "requests": i.requests,
                "events_observed": i.events,
                "tokens": i.tokens,
                "invalid_answers": i.invalid,
                "unavailable": i.unavailable,
                "awaiting_retry": i.retry_waiting,
                "live_observers": i.live,
                "last_request_ms": i.last_ms,
                // The viewer's header shows this against the caps; the day lets a reader
                // tell yesterday's figure (nothing observed since midnight UTC) from today's.
                "today": i.today.as_ref().map(|t| json!({
                    "day": t.day,
                    "tokens": t.tokens,
                    "usd": t.usd,
                    "tokens_cap": t.tokens_cap,
                    "usd_cap": t.usd_cap,
                })),
            })
        });
        i.unwrap_or(Value::Null)
    }
}
