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
    let t = Instant::now();
    for s in &refs[..100] {
        m.embed(&[s]).unwrap();
    }
    let single = 100.0 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for chunk in refs.chunks(16) {
        m.embed(chunk).unwrap();
    }
    let batch = refs.len() as f64 / t.elapsed().as_secs_f64();
    println!(
        "embedding: {single:.0} records/s one at a time, {batch:.0} records/s in batches of 16 \
         (100,000-record backfill ≈ {:.0} min at this rate)",
        100_000.0 / batch / 60.0
    );

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
                     VALUES ('s', '/p', 'p', 'change', ?1, ?2, '2025-01-01T00:00:00Z', ?3)
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
        for mode in [
            SearchMode::Lexical,
            SearchMode::Semantic,
            SearchMode::Hybrid,
        ] {
            let mut times = Vec::new();
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
                    let t = Instant::now();
                    match mode {
                        SearchMode::Lexical => {
                            crate::search::search(&c, &sq).unwrap();
                        }
                        _ => {
                            let qv = query::embed_query(&sem, &text).unwrap();
                            query::search(&c, &sem, &sq, &qv, mode).unwrap();
                        }
                    }
                    if round > 0 {
                        times.push(t.elapsed());
                    }
                }
            }
            println!(
                "{n} records, {mode:?}: p50 {:.1} ms, p99 {:.1} ms ({} queries)",
                pct(times.clone(), 0.5),
                pct(times.clone(), 0.99),
                times.len()
            );
        }
        println!(
            "{n} records: RSS {:.0} MB (model, index, SQLite cache)",
            rss_mb()
        );
    }
}
