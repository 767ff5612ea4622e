//! Shared by the benchmarks: percentiles and a uniform report line.
#![allow(dead_code)]

use std::time::Duration;

/// Sorted samples with percentiles.
pub struct Samples(Vec<Duration>);

impl Samples {
    pub fn new(mut v: Vec<Duration>) -> Samples {
        v.sort();
        Samples(v)
    }
    pub fn pct(&self, p: f64) -> Duration {
        let i = ((self.0.len() as f64 - 1.0) * p).round() as usize;
        self.0[i]
    }
    pub fn p50(&self) -> Duration {
        self.pct(0.5)
    }
    pub fn p99(&self) -> Duration {
        self.pct(0.99)
    }
}

/// One line: name, n, p50, p99, and the ratio of p50 against a baseline.
pub fn report(name: &str, s: &Samples, baseline: Option<(&str, &Samples)>) {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let ratio = baseline
        .map(|(b, bs)| format!("  ({:.2}x {b})", ms(s.p50()) / ms(bs.p50())))
        .unwrap_or_default();
    println!(
        "{name:<44} n={:<5} p50={:>8.3} ms  p99={:>8.3} ms{ratio}",
        s.0.len(),
        ms(s.p50()),
        ms(s.p99())
    );
}

/// Resident set size of a process, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Wait until claude-memd has processed every event in the database at `db` (bounded).
pub fn wait_processed(db: &std::path::Path) {
    let c = rusqlite::Connection::open(db).unwrap();
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(600);
    loop {
        let n: i64 = c
            .query_row(
                "SELECT count(*) FROM events WHERE state IN ('pending', 'processing')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        if n == 0 {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "events not processed");
        std::thread::sleep(Duration::from_millis(20));
    }
}
