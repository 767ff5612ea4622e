//! Restart pacing after crashes: exponential backoff, and the crash-loop breaker that gives up
//! on a session whose child keeps dying.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Delays of 1 s, 2 s, 4 s … up to a cap; back to the start after a healthy turn.
#[derive(Debug)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempts: u32,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Backoff {
        Backoff {
            base,
            max: max.max(base),
            attempts: 0,
        }
    }

    /// The delay before the next restart, growing with each call.
    pub fn next_delay(&mut self) -> Duration {
        let factor = 1u32.checked_shl(self.attempts.min(30)).unwrap_or(u32::MAX);
        self.attempts = self.attempts.saturating_add(1);
        self.base.saturating_mul(factor).min(self.max)
    }

    /// A turn completed: the next crash starts from the base delay again.
    pub fn reset(&mut self) {
        self.attempts = 0;
    }
}

/// Trips when `limit` crashes happen within `window`.
#[derive(Debug)]
pub struct Breaker {
    limit: usize,
    window: Duration,
    crashes: VecDeque<Instant>,
}

impl Breaker {
    pub fn new(limit: usize, window: Duration) -> Breaker {
        Breaker {
            limit: limit.max(1),
            window,
            crashes: VecDeque::new(),
        }
    }

    /// Count a crash at `now`; true when the breaker trips.
    pub fn record(&mut self, now: Instant) -> bool {
        self.crashes.push_back(now);
        self.forget_old(now);
        self.crashes.len() >= self.limit
    }

    /// Crashes inside the window ending at `now`.
    pub fn recent(&mut self, now: Instant) -> usize {
        self.forget_old(now);
        self.crashes.len()
    }

    fn forget_old(&mut self, now: Instant) {
        while let Some(first) = self.crashes.front() {
            if now.duration_since(*first) > self.window {
                self.crashes.pop_front();
            } else {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let delays: Vec<u64> = (0..8).map(|_| b.next_delay().as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60]);
        for _ in 0..100 {
            assert_eq!(b.next_delay(), Duration::from_secs(60), "no overflow");
        }
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_secs(1));
    }

    #[test]
    fn breaker_trips_on_five_crashes_in_the_window_only() {
        let t0 = Instant::now();
        let mut b = Breaker::new(5, Duration::from_secs(60));
        for i in 0..4 {
            assert!(!b.record(t0 + Duration::from_secs(i * 20)), "spread out");
        }
        // Crashes at 0, 20, 40, 60, 80: only 20..80 are in the window at 80.
        assert!(!b.record(t0 + Duration::from_secs(80)));
        assert_eq!(b.recent(t0 + Duration::from_secs(80)), 4);
        let mut b = Breaker::new(5, Duration::from_secs(60));
        for i in 0..4 {
            assert!(!b.record(t0 + Duration::from_secs(i)));
        }
        assert!(b.record(t0 + Duration::from_secs(5)));
    }
}
