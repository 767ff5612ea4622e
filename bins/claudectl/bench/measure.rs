//! Timing and statistics: every figure is measured interleaved with its baseline (one
//! baseline sample, one figure sample, and again), so that whatever else the machine does
//! weighs on both alike, and reported as p50, p99 and mean with the ratio of the medians.

use super::BenchError;
use indicatif::{ProgressBar, ProgressFinish, ProgressStyle};
use serde::Serialize;
use std::time::Duration;

/// How many samples and warm-up rounds each figure takes, and whether to draw progress.
pub struct Plan {
    /// Measured iterations per figure.
    pub iterations: usize,
    /// Unmeasured iterations first (connections, caches, the page cache).
    pub warmup: usize,
    /// Draw a progress bar per figure (stderr is a terminal and the output is not JSON).
    pub progress: bool,
}

impl Plan {
    /// `iterations` measured, a tenth of that (at least 3) to warm up.
    pub fn new(iterations: usize, json: bool) -> Plan {
        Plan {
            iterations,
            warmup: (iterations / 10).max(3),
            progress: crate::progress::shown(json),
        }
    }

    /// Run `base` then `figure` once per round, warm-up first; each returns the time it
    /// measured (so setting up a request stays out of the figure). Checks for Ctrl-C
    /// between rounds.
    pub fn pair(
        &self,
        title: &str,
        mut base: impl FnMut(usize) -> Result<Duration, BenchError>,
        mut figure: impl FnMut(usize) -> Result<Duration, BenchError>,
    ) -> Result<(Vec<Duration>, Vec<Duration>), BenchError> {
        let bar = self.bar(title);
        let total = self.warmup + self.iterations;
        let mut b = Vec::with_capacity(self.iterations);
        let mut f = Vec::with_capacity(self.iterations);
        for i in 0..total {
            super::check_interrupt()?;
            let (tb, tf) = (base(i)?, figure(i)?);
            if i >= self.warmup {
                b.push(tb);
                f.push(tf);
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
        Ok((b, f))
    }

    /// A spinner for work that is not counted in rounds, cleared when dropped; hidden unless
    /// [`Plan::progress`].
    pub fn spinner(&self, what: &str) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        let s = ProgressBar::new_spinner()
            .with_message(what.to_string())
            .with_finish(ProgressFinish::AndClear);
        s.enable_steady_tick(Duration::from_millis(100));
        s
    }

    /// A bar over this figure's rounds; hidden unless [`Plan::progress`].
    fn bar(&self, title: &str) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new((self.warmup + self.iterations) as u64);
        bar.set_style(
            // Fits 80 columns: a wrapped bar cannot be redrawn in place.
            ProgressStyle::with_template("{msg:<30} {bar:25} {pos}/{len} {elapsed}")
                .expect("a valid template"),
        );
        bar.set_message(title.to_string());
        bar
    }
}

/// Percentiles and mean of one series.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Stats {
    /// Median.
    pub p50: f64,
    /// 99th percentile (nearest rank); for rates, the rate of the slowest 1 % of rounds.
    pub p99: f64,
    /// Mean; for rates, all the work over all the time.
    pub mean: f64,
}

fn nearest_rank(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

impl Stats {
    /// Latencies, in milliseconds.
    pub fn millis(samples: &[Duration]) -> Stats {
        let mut s = samples.to_vec();
        s.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        Stats {
            p50: ms(nearest_rank(&s, 0.5)),
            p99: ms(nearest_rank(&s, 0.99)),
            mean: ms(s.iter().sum::<Duration>()) / s.len() as f64,
        }
    }

    /// Rates, per second, of rounds that each did `per_round` operations in the time given.
    pub fn per_second(per_round: usize, rounds: &[Duration]) -> Stats {
        let mut s = rounds.to_vec();
        s.sort();
        let rate = |d: Duration| per_round as f64 / d.as_secs_f64().max(1e-9);
        Stats {
            p50: rate(nearest_rank(&s, 0.5)),
            p99: rate(nearest_rank(&s, 0.99)),
            mean: (per_round * s.len()) as f64 / s.iter().sum::<Duration>().as_secs_f64(),
        }
    }
}

/// What a figure is compared with.
#[derive(Clone, Debug, Serialize)]
pub struct Baseline {
    /// Stable name, e.g. `memd.health`.
    pub id: &'static str,
    /// What was measured.
    pub title: &'static str,
    /// Its statistics, in the figure's unit.
    #[serde(flatten)]
    pub stats: Stats,
}

/// One line of the report.
#[derive(Clone, Debug, Serialize)]
pub struct Figure {
    /// Stable name, e.g. `memory.search`.
    pub id: &'static str,
    /// What was measured.
    pub title: &'static str,
    /// `ms` (latency) or `per_s` (rate).
    pub unit: &'static str,
    /// Samples (rounds, for rates).
    pub n: usize,
    /// The figure.
    #[serde(flatten)]
    pub stats: Stats,
    /// Measured interleaved with the figure.
    pub baseline: Baseline,
    /// `p50 / baseline.p50`.
    pub ratio: f64,
}

/// Names of a figure or a baseline: (id, title).
pub type Name = (&'static str, &'static str);

impl Figure {
    /// A latency figure from the samples of [`Plan::pair`].
    pub fn latency(name: Name, base: Name, samples: (Vec<Duration>, Vec<Duration>)) -> Figure {
        let (b, f) = samples;
        Figure::new(
            name,
            base,
            "ms",
            f.len(),
            Stats::millis(&f),
            Stats::millis(&b),
        )
    }

    /// A rate figure: rounds of `per_round` operations each, from [`Plan::pair`].
    pub fn rate(
        name: Name,
        base: Name,
        per_round: usize,
        rounds: (Vec<Duration>, Vec<Duration>),
    ) -> Figure {
        let (b, f) = rounds;
        Figure::new(
            name,
            base,
            "per_s",
            f.len(),
            Stats::per_second(per_round, &f),
            Stats::per_second(per_round, &b),
        )
    }

    fn new(name: Name, base: Name, unit: &'static str, n: usize, s: Stats, b: Stats) -> Figure {
        Figure {
            id: name.0,
            title: name.1,
            unit,
            n,
            stats: s,
            ratio: s.p50 / b.p50,
            baseline: Baseline {
                id: base.0,
                title: base.1,
                stats: b,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_rates() {
        let ms = |v: u64| Duration::from_millis(v);
        let s = Stats::millis(&(1..=100).rev().map(ms).collect::<Vec<_>>());
        assert_eq!((s.p50, s.p99), (51.0, 99.0));
        assert!((s.mean - 50.5).abs() < 1e-9);
        let r = Stats::per_second(10, &[ms(100), ms(100), ms(1000)]);
        assert_eq!((r.p50, r.p99), (100.0, 10.0));
        assert!((r.mean - 25.0).abs() < 1e-9);
        let f = Figure::latency(("a", "A"), ("b", "B"), (vec![ms(2); 5], vec![ms(6); 5]));
        assert_eq!(f.ratio, 3.0);
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(v["p50"], 6.0);
        assert_eq!(v["baseline"]["p50"], 2.0);
        assert_eq!(v["unit"], "ms");
    }
}
