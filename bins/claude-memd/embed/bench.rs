//! Figures for semantic recall (not run by `cargo test`; run in release):
//!
//!     cargo test --release --bin claude-memd embed::bench -- --ignored --nocapture
//!
//! Embedding throughput one record at a time and in the worker's batches, with the real
//! model; query latency per mode at 10,000 and 100,000 records (their vectors are random
//! unit vectors: a scan costs the same whatever they hold); the process's RSS with the
//! model and the 100,000-vector index loaded.

use super::vectors;
use super::{query, Semantic};
use claude_daemons::api::memory::{SearchMode, SearchQuery};
use rusqlite::params;
use std::time::{Duration, Instant};

fn rss_mb() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// CPU time of the calling thread: what a step costs when a core is free for it, however
/// busy the machine is while it is measured.
fn thread_cpu() -> Duration {
    // SAFETY: clock_gettime fills the struct it is given.
    let t = unsafe {
        let mut t: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t);
        t
    };
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

fn pct(mut v: Vec<Duration>, p: f64) -> f64 {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i].as_secs_f64() * 1000.0
}

/// A tiny deterministic generator: the same records every run.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
#[ignore = "a benchmark: run in release with --ignored --nocapture"]
fn semantic_figures() {
    super::settle_threads();
    let corpus: serde_json::Value =
        serde_json::from_str(include_str!("../../../tests/data/semantic/corpus.json")).unwrap();
    let texts: Vec<String> = corpus["observations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            format!(
                "{}\n{}",
                o["title"].as_str().unwrap(),
                o["narrative"].as_str().unwrap()
            )
        })
        .collect();
    let words: Vec<&str> = texts.iter().flat_map(|t| t.split_whitespace()).collect();
    let queries: Vec<String> = corpus["queries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["q"].as_str().unwrap().to_owned())
        .collect();

    let rss0 = rss_mb();
    let sem = Semantic::new(super::model::test_model_dir());
    let t = Instant::now();
    let m = sem.model().unwrap();
    println!(
        "model load: {:.0} ms; RSS {rss0:.0} MB before, {:.0} MB after",
        t.elapsed().as_secs_f64() * 1000.0,
        rss_mb()
    );

    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    // One at a time and in batches, on the query thread (one thread) and on the worker's
    // pool (every core), as the daemon runs them.
    let pool = rayon::ThreadPoolBuilder::new().build().unwrap();
    for (name, on_pool) in [("1 thread", false), ("all cores", true)] {
        let run = |f: &(dyn Fn() + Sync)| {
            if on_pool {
                pool.install(f)
            } else {
                sem.on_query_thread(f)
            }
        };
        let t = Instant::now();
        run(&|| {
            for s in &refs[..100] {
                m.embed(&[s]).unwrap();
            }
        });
        let single = 100.0 / t.elapsed().as_secs_f64();
        let t = Instant::now();
        run(&|| {
            for chunk in refs.chunks(16) {
                m.embed(chunk).unwrap();
            }
        });
        let batch = refs.len() as f64 / t.elapsed().as_secs_f64();
        println!(
            "embedding on {name}: {single:.0} records/s one at a time, {batch:.0} records/s in \
             batches of 16 (100,000 records ≈ {:.0} min at the batch rate)",
            100_000.0 / batch / 60.0
        );
    }
    // A prompt's embedding on the query thread, by its length in tokens (the hook embeds
    // at most super::prompt::PROMPT_TOKENS).
    let long = refs.join(" ");
    for tokens in [8, 16, 32, 64, 128] {
        let mut times = Vec::new();
        let mut cpu = Vec::new();
        for _ in 0..30 {
            let t = Instant::now();
            cpu.push(sem.on_query_thread(|| {
                let c = thread_cpu();
                m.embed_prefix(&long, tokens).unwrap();
                thread_cpu() - c
            }));
            times.push(t.elapsed());
        }
        println!(
            "a prompt of {tokens} tokens on the query thread: p50 {:.1} ms, p99 {:.1} ms \
             (CPU p50 {:.1} ms)",
            pct(times.clone(), 0.5),
            pct(times, 0.99),
            pct(cpu, 0.5)
        );
    }

    let (_dir, mut c) = crate::schema::test_db();
    let mut rng = Lcg(17);
    let mut have = 0usize;
    for n in [10_000usize, 100_000] {
        let tx = c.transaction().unwrap();
        {
            let mut ins = tx
                .prepare(
                    "INSERT INTO observations (session_id, project, project_name, type, title,
                       narrative, created_at, created_at_epoch)
                     VALUES ('s', '/p' || (?3 % 10), 'p' || (?3 % 10), 'change', ?1, ?2,
                       '2025-01-01T00:00:00Z', ?3)
                     RETURNING id",
                )
                .unwrap();
            let mut vec_ins = tx
                .prepare("INSERT INTO vectors (record, id, model, vec) VALUES ('observation', ?1, ?2, ?3)")
                .unwrap();
            for i in have..n {
                let pick = |r: &mut Lcg, k: usize| -> String {
                    (0..k)
                        .map(|_| words[r.next() as usize % words.len()])
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                let title = pick(&mut rng, 6);
                let narrative = pick(&mut rng, 30);
                let id: i64 = ins
                    .query_row(params![title, narrative, i as i64], |r| r.get(0))
                    .unwrap();
                let mut v: Vec<f32> = (0..m.dims())
                    .map(|_| rng.next() as f32 / (1u64 << 31) as f32 - 1.0)
                    .collect();
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.iter_mut().for_each(|x| *x /= norm);
                let blob: Vec<u8> = vectors::quantize(&v).into_iter().map(|x| x as u8).collect();
                vec_ins.execute(params![id, m.id(), blob]).unwrap();
            }
        }
        tx.commit().unwrap();
        have = n;
        // The index as the daemon loads it.
        let t = Instant::now();
        *sem.index_mut() = super::index::Index::default();
        sem.ensure_index(&c, &m).unwrap();
        assert_eq!(sem.index().len(), n);
        println!(
            "{n} records: index loaded in {:.0} ms",
            t.elapsed().as_secs_f64() * 1000.0
        );
        // The parts of a semantic query: its embedding, and the scan of every vector (or of
        // one project's tenth of them).
        let qvs: Vec<_> = queries
            .iter()
            .map(|q| query::embed_query(&sem, q).unwrap())
            .collect();
        for project in [None, Some("/p3")] {
            let mut times = Vec::new();
            for qv in qvs.iter().chain(&qvs) {
                let t = Instant::now();
                let filter = super::index::Filter {
                    kinds: &vectors::Kind::ALL,
                    project,
                };
                sem.index().nearest(&qv.0, filter, 200);
                times.push(t.elapsed());
            }
            println!(
                "{n} records: vector scan ({}): p50 {:.2} ms, p99 {:.2} ms",
                project.map_or("all projects", |_| "one project of ten"),
                pct(times.clone(), 0.5),
                pct(times, 0.99)
            );
        }
        let mut baseline = 0.0;
        for mode in [
            SearchMode::Lexical,
            SearchMode::Semantic,
            SearchMode::Hybrid,
        ] {
            let mut times = Vec::new();
            let mut embeds = Vec::new();
            let mut embed_cpu = Vec::new();
            for round in 0..3 {
                for q in &queries {
                    // Lexical queries made of words the records hold, so FTS has work.
                    let text = if mode == SearchMode::Lexical {
                        let w = &words[(rng.next() as usize) % words.len()];
                        w.to_string()
                    } else {
                        q.clone()
                    };
                    let sq = SearchQuery {
                        q: text.clone(),
                        limit: Some(20),
                        ..Default::default()
                    };
                    // Each query embedded anew: the figure is the model's, not the cache's.
                    sem.forget_queries();
                    if mode != SearchMode::Lexical && round > 0 {
                        let t = Instant::now();
                        let cpu = sem.on_query_thread(|| {
                            let c = thread_cpu();
                            query::embed_query(&sem, &text).unwrap();
                            thread_cpu() - c
                        });
                        embeds.push(t.elapsed());
                        embed_cpu.push(cpu);
                        sem.forget_queries();
                    }
                    let t = Instant::now();
                    match mode {
                        SearchMode::Lexical => {
                            crate::search::search(&c, &sq).unwrap();
                        }
                        // As the route runs it: the lexical half while the query is embedded.
                        _ => {
                            query::search_while_embedding(&c, &sem, &sq, mode).unwrap();
                        }
                    }
                    if round > 0 {
                        times.push(t.elapsed());
                    }
                }
            }
            let p50 = pct(times.clone(), 0.5);
            if mode == SearchMode::Lexical {
                baseline = p50;
            }
            let embed = if embeds.is_empty() {
                String::new()
            } else {
                format!(
                    "; the query's embedding alone p50 {:.1} ms, CPU p50 {:.1} ms",
                    pct(embeds, 0.5),
                    pct(embed_cpu, 0.5)
                )
            };
            println!(
                "{n} records, {mode:?}: p50 {p50:.1} ms, p99 {:.1} ms ({} queries; {:.2}x the \
                 lexical p50 of this run{embed})",
                pct(times.clone(), 0.99),
                times.len(),
                p50 / baseline,
            );
        }
        println!(
            "{n} records: RSS {:.0} MB (model, index, SQLite cache)",
            rss_mb()
        );
    }
}

/// CPU time this process has used (every thread, user and system).
fn cpu_secs() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let u = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

/// A database of `n` observations made of the corpus's texts, each with a number so none
/// repeats.
fn backfill_db(n: usize) -> (tempfile::TempDir, rusqlite::Connection) {
    let corpus: serde_json::Value =
        serde_json::from_str(include_str!("../../../tests/data/semantic/corpus.json")).unwrap();
    let obs = corpus["observations"].as_array().unwrap();
    let (dir, mut c) = crate::schema::test_db();
    let tx = c.transaction().unwrap();
    for i in 0..n {
        let o = &obs[i % obs.len()];
        tx.execute(
            "INSERT INTO observations (session_id, project, project_name, type, title,
               narrative, created_at, created_at_epoch)
             VALUES ('s', ?1, ?1, 'change', ?2, ?3, '2025-01-01T00:00:00Z', ?4)",
            params![
                o["project"].as_str().unwrap(),
                format!("{} ({i})", o["title"].as_str().unwrap()),
                o["narrative"].as_str().unwrap(),
                i as i64
            ],
        )
        .unwrap();
    }
    tx.commit().unwrap();
    (dir, c)
}

/// Time and CPU of a backfill of `n` records on `threads` threads (all cores by default).
fn time_backfill(sem: &Semantic, n: usize, threads: Option<usize>) -> (f64, f64) {
    let (_dir, mut c) = backfill_db(n);
    *sem.index_mut() = super::index::Index::default();
    let (t, cpu) = (Instant::now(), cpu_secs());
    super::worker::backfill(sem, &mut c, threads).unwrap();
    let (secs, cpu) = (t.elapsed().as_secs_f64(), cpu_secs() - cpu);
    assert_eq!(sem.index().len(), n);
    (secs, cpu)
}

/// The backfill of 10,000 records (`CLAUDE_DAEMONS_BENCH_RECORDS` to change it; the
/// corpus's texts, each with a number so none repeats) through the worker's own pass, on
/// every core, as the daemon runs it; and, as this run's baseline (the machine's load
/// moves every figure), the first 1,000 of them on one thread.
#[test]
#[ignore = "a benchmark: run in release with --ignored --nocapture"]
fn backfill_figures() {
    super::settle_threads();
    let n: usize = std::env::var("CLAUDE_DAEMONS_BENCH_RECORDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let sem = Semantic::new(super::model::test_model_dir());
    sem.model().unwrap();
    let sample = n.min(1_000);
    let (secs1, cpu1) = time_backfill(&sem, sample, Some(1));
    let (secs, cpu) = time_backfill(&sem, n, None);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "backfill of {n} records on {threads} threads: {secs:.1} s ({:.1} min), {:.0} records/s, \
         {:.1} CPU-ms per record{}; RSS {:.0} MB",
        secs / 60.0,
        n as f64 / secs,
        cpu * 1000.0 / n as f64,
        if n < 100_000 {
            format!(
                " (100,000 records ≈ {:.0} min at this rate)",
                100_000.0 / (n as f64 / secs) / 60.0
            )
        } else {
            String::new()
        },
        rss_mb()
    );
    println!(
        "baseline, this run: the first {sample} on one thread: {:.0} records/s, {:.1} CPU-ms \
         per record ({:.2}x the rate on {threads} threads)",
        sample as f64 / secs1,
        cpu1 * 1000.0 / sample as f64,
        (n as f64 / secs) / (sample as f64 / secs1)
    );
}
