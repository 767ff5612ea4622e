//! What keeps a daemon alive: open connections (and so in-flight requests and SSE streams),
//! registered background work and live children. Idle exit waits until none is left for the
//! whole timeout, so a daemon never exits with work pending.

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

#[derive(Clone, Copy, Debug)]
struct State {
    busy: usize,
    since: Instant,
    /// Counts every `enter`, so a probe can tell whether other work ran meanwhile.
    entered: u64,
}

/// A shared counter of live work. Cloning shares the counter.
#[derive(Clone, Debug)]
pub struct Activity {
    tx: Arc<watch::Sender<State>>,
}

/// Keeps the daemon busy while alive; dropping it ends that piece of work.
#[derive(Debug)]
#[must_use = "work is only counted while the guard is alive"]
pub struct ActivityGuard {
    tx: Arc<watch::Sender<State>>,
    /// The idle clock and enter count when this guard made the daemon busy, if it did.
    before: Option<(Instant, u64)>,
    found_nothing: bool,
}

impl Default for Activity {
    fn default() -> Self {
        Activity::new()
    }
}

impl Activity {
    /// A counter with nothing busy, idle since now.
    pub fn new() -> Activity {
        let (tx, _) = watch::channel(State {
            busy: 0,
            since: Instant::now(),
            entered: 0,
        });
        Activity { tx: Arc::new(tx) }
    }

    /// Count one more piece of work until the guard is dropped.
    pub fn enter(&self) -> ActivityGuard {
        let mut before = None;
        self.tx.send_modify(|s| {
            s.entered += 1;
            if s.busy == 0 {
                before = Some((s.since, s.entered));
            }
            s.busy += 1;
        });
        ActivityGuard {
            tx: self.tx.clone(),
            before,
            found_nothing: false,
        }
    }

    /// How many pieces of work are live.
    pub fn busy(&self) -> usize {
        self.tx.borrow().busy
    }

    /// How long nothing has been live, or `None` while something is.
    pub fn idle_for(&self) -> Option<Duration> {
        let s = *self.tx.borrow();
        (s.busy == 0).then(|| s.since.elapsed())
    }

    /// Resolve once nothing has been live for `timeout` without interruption.
    pub async fn idle(&self, timeout: Duration) {
        let mut rx = self.tx.subscribe();
        loop {
            let s = *rx.borrow_and_update();
            if s.busy == 0 {
                tokio::select! {
                    _ = tokio::time::sleep_until(s.since + timeout) => return,
                    _ = rx.changed() => {}
                }
            } else if rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// Resolve once nothing is live (for draining at shutdown).
    pub async fn drained(&self) {
        let mut rx = self.tx.subscribe();
        let _ = rx.wait_for(|s| s.busy == 0).await;
    }
}

impl ActivityGuard {
    /// End this work as a poll that found nothing to do: the idle clock keeps running from
    /// the last real work, as if the poll had not happened (unless other work ran while it
    /// was held). Without this a poller that wakes more often than the idle timeout would
    /// keep the daemon awake forever; with it, a poll still holds off idle exit while it
    /// runs, so the daemon never exits in the middle of one.
    pub fn found_nothing(mut self) {
        self.found_nothing = true;
    }
}

impl Drop for ActivityGuard {
    fn drop(&mut self) {
        let restore = self.before.filter(|_| self.found_nothing);
        self.tx.send_modify(|s| {
            s.busy -= 1;
            if s.busy == 0 {
                s.since = match restore {
                    Some((since, entered)) if entered == s.entered => since,
                    _ => Instant::now(),
                };
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn idle_only_after_all_work_ends() {
        let a = Activity::new();
        let g1 = a.enter();
        let g2 = a.enter();
        assert_eq!(a.busy(), 2);
        assert_eq!(a.idle_for(), None);
        let waiter = tokio::spawn({
            let a = a.clone();
            async move { a.idle(Duration::from_secs(10)).await }
        });
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(!waiter.is_finished(), "busy daemon must not go idle");
        drop(g1);
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(!waiter.is_finished(), "one guard still live");
        drop(g2);
        tokio::time::sleep(Duration::from_secs(9)).await;
        assert!(
            !waiter.is_finished(),
            "idle timer restarts when the last work ends"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(waiter.is_finished());
    }

    #[tokio::test(start_paused = true)]
    async fn new_work_resets_the_timer() {
        let a = Activity::new();
        let waiter = tokio::spawn({
            let a = a.clone();
            async move { a.idle(Duration::from_secs(10)).await }
        });
        tokio::time::sleep(Duration::from_secs(8)).await;
        drop(a.enter());
        tokio::time::sleep(Duration::from_secs(8)).await;
        assert!(
            !waiter.is_finished(),
            "a request at 8 s restarts the 10 s timer"
        );
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(waiter.is_finished());
    }

    #[tokio::test(start_paused = true)]
    async fn empty_polls_do_not_reset_the_idle_clock() {
        let a = Activity::new();
        let waiter = tokio::spawn({
            let a = a.clone();
            async move { a.idle(Duration::from_secs(10)).await }
        });
        // A poller every 500 ms that finds nothing: idle after 10 s all the same.
        for _ in 0..19 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let g = a.enter();
            tokio::time::sleep(Duration::from_millis(1)).await;
            g.found_nothing();
        }
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(waiter.is_finished(), "empty polls kept the daemon awake");
    }

    #[tokio::test(start_paused = true)]
    async fn a_poll_spanning_real_work_does_not_erase_it() {
        let a = Activity::new();
        tokio::time::sleep(Duration::from_secs(5)).await;
        let poll = a.enter();
        drop(a.enter()); // a request came and went during the poll
        poll.found_nothing();
        assert!(
            a.idle_for().unwrap() < Duration::from_secs(1),
            "the request restarted the clock"
        );
        let poll = a.enter();
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(a.idle_for(), None, "busy while polling");
        poll.found_nothing();
        assert!(
            a.idle_for().unwrap() >= Duration::from_secs(3),
            "an empty poll is not activity"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn drained_waits_for_zero() {
        let a = Activity::new();
        let g = a.enter();
        let d = tokio::spawn({
            let a = a.clone();
            async move { a.drained().await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!d.is_finished());
        drop(g);
        d.await.unwrap();
        assert_eq!(a.busy(), 0);
    }
}
