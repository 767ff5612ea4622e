//! Recall of hybrid search against lexical search on a checked-in corpus
//! (tests/data/semantic/corpus.json: 227 observations across six projects, 45 queries that
//! share no content word with their answer and 12 that do), with the real model.

use super::vectors::{quantize, Kind};
use super::{prompt, query, worker, Semantic};
use claude_daemons::api::memory::{SearchMode, SearchQuery};
use rusqlite::{params, Connection};
use std::collections::HashMap;

struct Outcome {
    lexical_rank: Option<usize>,
    hybrid_rank: Option<usize>,
}

fn rank_of(ids: &[i64], want: i64) -> Option<usize> {
    ids.iter().position(|&i| i == want).map(|p| p + 1)
}

/// A query, the key of the observation that answers it, and `meaning` or `words`.
type Query = (String, String, String);

fn load_corpus(c: &Connection) -> (HashMap<String, i64>, Vec<Query>) {
    let corpus: serde_json::Value =
        serde_json::from_str(include_str!("../../../tests/data/semantic/corpus.json")).unwrap();
    let mut keys = HashMap::new();
    for (i, o) in corpus["observations"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let id: i64 = c
            .query_row(
                "INSERT INTO observations (session_id, project, project_name, type, title,
                   narrative, created_at, created_at_epoch)
                 VALUES ('s', ?1, ?1, ?2, ?3, ?4, strftime('%Y-%m-%dT%H:%M:%fZ', ?5, 'unixepoch'), ?5)
                 RETURNING id",
                params![
                    o["project"].as_str().unwrap(),
                    o["type"].as_str().unwrap(),
                    o["title"].as_str().unwrap(),
                    o["narrative"].as_str().unwrap(),
                    1_700_000_000 + i as i64
                ],
                |r| r.get(0),
            )
            .unwrap();
        keys.insert(o["key"].as_str().unwrap().to_owned(), id);
    }
    let queries = corpus["queries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| {
            let s = |k: &str| q[k].as_str().unwrap().to_owned();
            (s("q"), s("answer"), s("kind"))
        })
        .collect();
    (keys, queries)
}

#[test]
fn hybrid_recall_beats_lexical_and_keeps_lexical_first_hits() {
    let (_dir, mut c) = crate::schema::test_db();
    let (keys, queries) = load_corpus(&c);
    assert!(keys.len() >= 200 && queries.iter().filter(|q| q.2 == "meaning").count() >= 40);
    let sem = Semantic::new(super::model::test_model_dir());
    worker::backfill(&sem, &mut c, None).unwrap();
    assert_eq!(sem.index().len(), keys.len());
    let mut outcomes = Vec::new();
    for (q, answer, _) in &queries {
        let sq = SearchQuery {
            q: q.clone(),
            limit: Some(5),
            ..Default::default()
        };
        let want = keys[answer];
        let lexical: Vec<i64> = crate::search::search(&c, &sq)
            .unwrap()
            .results
            .iter()
            .map(|h| h.id)
            .collect();
        let qv = query::embed_query(&sem, q).unwrap();
        let hybrid: Vec<i64> = query::search(&c, &sem, &sq, &qv, SearchMode::Hybrid)
            .unwrap()
            .results
            .iter()
            .map(|h| h.id)
            .collect();
        outcomes.push(Outcome {
            lexical_rank: rank_of(&lexical, want),
            hybrid_rank: rank_of(&hybrid, want),
        });
    }
    let recall = |f: &dyn Fn(&Outcome) -> Option<usize>, kind: &str| {
        let (hit, n) = outcomes
            .iter()
            .zip(&queries)
            .filter(|(_, q)| kind.is_empty() || q.2 == kind)
            .fold((0, 0), |(h, n), (o, _)| {
                (h + usize::from(f(o).is_some()), n + 1)
            });
        hit as f64 / n as f64
    };
    let lex = recall(&|o| o.lexical_rank, "");
    let hyb = recall(&|o| o.hybrid_rank, "");
    let lex_m = recall(&|o| o.lexical_rank, "meaning");
    let hyb_m = recall(&|o| o.hybrid_rank, "meaning");
    eprintln!(
        "recall@5: lexical {lex:.3}, hybrid {hyb:.3}; on the meaning queries lexical {lex_m:.3}, hybrid {hyb_m:.3}"
    );
    for ((q, _, _), o) in queries.iter().zip(&outcomes) {
        eprintln!(
            "  {:?} lexical {:?} hybrid {:?}",
            q, o.lexical_rank, o.hybrid_rank
        );
    }
    // A clear margin: at least 40 points on the whole set, and most meaning queries found.
    assert!(hyb >= lex + 0.4, "hybrid {hyb} vs lexical {lex}");
    assert!(hyb_m >= 0.6, "hybrid finds {hyb_m} of the meaning queries");
    // Never worse than lexical where lexical was right at rank 1.
    for ((q, _, _), o) in queries.iter().zip(&outcomes) {
        if o.lexical_rank == Some(1) {
            assert_eq!(o.hybrid_rank, Some(1), "{q:?}: lexical had it first");
        }
    }
    // Semantic mode alone finds the meaning queries too, and forgetting drops the vector
    // from search at once.
    let (q, answer, _) = &queries.iter().find(|q| q.2 == "meaning").unwrap();
    let sq = SearchQuery {
        q: q.clone(),
        limit: Some(200),
        ..Default::default()
    };
    let qv = query::embed_query(&sem, q).unwrap();
    // Asked again (the next page, say), the query keeps the vector it was given.
    let model = sem.model().unwrap().id().to_owned();
    assert_eq!(sem.recent_query(&model, q), Some(qv.0.clone()));
    assert_eq!(query::embed_query(&sem, q).unwrap().0, qv.0);
    let semantic = query::search(&c, &sem, &sq, &qv, SearchMode::Semantic).unwrap();
    assert!(semantic.results.iter().any(|h| h.id == keys[answer]));
    crate::forget::forget(&mut c, crate::forget::Record::Observation, keys[answer]).unwrap();
    assert!(!super::vectors::has_vector(&c, Kind::Observation, keys[answer]).unwrap());
    let after = query::search(&c, &sem, &sq, &qv, SearchMode::Semantic).unwrap();
    assert!(after.results.iter().all(|h| h.id != keys[answer]));
}

/// The UserPromptSubmit context with the model: each query of the corpus as a prompt (a new
/// session of the answer's project) brings its answer among the three records shown far
/// more often than words alone; prompts about nothing in memory bring nothing.
#[test]
fn a_prompts_context_finds_records_by_meaning() {
    let (_dir, mut c) = crate::schema::test_db();
    let (keys, queries) = load_corpus(&c);
    let sem = Semantic::new(super::model::test_model_dir());
    worker::backfill(&sem, &mut c, None).unwrap();
    let project_of = |id: i64| -> String {
        c.query_row(
            "SELECT project FROM observations WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap()
    };
    let m = sem.model().unwrap();
    let embed = |p: &str| quantize(&m.embed_prefix(p, prompt::PROMPT_TOKENS).unwrap());
    let (mut lexical, mut hybrid, mut n) = (0, 0, 0);
    for (i, (q, answer, kind)) in queries.iter().enumerate() {
        let want = keys[answer];
        let project = project_of(want);
        let shows = |ctx: Option<String>| ctx.is_some_and(|c| c.contains(&format!("#{want} ")));
        let words = crate::recall::prompt_with(&c, &format!("l{i}"), &project, q, 400, 3, &[]);
        let nearest = prompt::nearest(&sem, &embed(q), &project);
        let both = crate::recall::prompt_with(&c, &format!("h{i}"), &project, q, 400, 3, &nearest);
        let (w, h) = (shows(words.unwrap()), shows(both.unwrap()));
        if kind == "meaning" {
            n += 1;
            lexical += usize::from(w);
            hybrid += usize::from(h);
        } else {
            assert!(h || !w, "{q:?}: words alone found it");
        }
    }
    let (lexical, hybrid) = (lexical as f64 / n as f64, hybrid as f64 / n as f64);
    eprintln!("prompt context, meaning queries: words {lexical:.3}, with the model {hybrid:.3}");
    assert!(hybrid >= lexical + 0.4, "{hybrid} vs {lexical}");
    // Nothing in memory is about these: the threshold keeps the context empty.
    for (i, p) in [
        "write a haiku about autumn leaves falling",
        "what is the capital city of Mongolia",
        "recommend a good recipe for banana bread",
    ]
    .iter()
    .enumerate()
    {
        let nearest = prompt::nearest(&sem, &embed(p), "web-app");
        let ctx = crate::recall::prompt_with(&c, &format!("u{i}"), "web-app", p, 400, 3, &nearest)
            .unwrap();
        assert_eq!(ctx, None, "{p:?}: {nearest:?}");
    }
}
