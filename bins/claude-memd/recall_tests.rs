//! Recall over a fixed corpus (tests/data/recall/corpus.json): realistic observations and
//! prompts, and queries whose expected record must rank first — stems, prefixes, phrases,
//! exclusions and the any-word fallback.

use crate::search::search;
use claude_daemons::api::memory::{Match, RecordKind, SearchQuery};
use rusqlite::params;
use serde::Deserialize;
use std::collections::HashMap;

#[derive(Deserialize)]
struct Corpus {
    observations: Vec<Obs>,
    prompts: Vec<Prompt>,
    queries: Vec<Query>,
}

#[derive(Deserialize)]
struct Obs {
    key: String,
    #[serde(rename = "type")]
    kind: String,
    title: String,
    subtitle: Option<String>,
    #[serde(default)]
    facts: Vec<String>,
    narrative: Option<String>,
    #[serde(default)]
    concepts: Vec<String>,
    #[serde(default)]
    files_read: Vec<String>,
    #[serde(default)]
    files_modified: Vec<String>,
}

#[derive(Deserialize)]
struct Prompt {
    key: String,
    text: String,
}

#[derive(Deserialize)]
struct Query {
    q: String,
    first: String,
    #[serde(rename = "match")]
    matched: Match,
    why: String,
}

#[test]
fn expected_record_ranks_first() {
    let corpus: Corpus =
        serde_json::from_str(include_str!("../../tests/data/recall/corpus.json")).unwrap();
    let (_dir, c) = crate::schema::test_db();
    let mut keys: HashMap<(RecordKind, i64), String> = HashMap::new();
    let j = |v: &Vec<String>| serde_json::to_string(v).unwrap();
    for (n, o) in corpus.observations.iter().enumerate() {
        let id: i64 = c
            .query_row(
                "INSERT INTO observations (session_id, project, project_name, type, title,
                   subtitle, facts, narrative, concepts, files_read, files_modified,
                   created_at, created_at_epoch)
                 VALUES ('s', '/repo', 'repo', ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,
                   strftime('%Y-%m-%dT%H:%M:%fZ', ?9, 'unixepoch'), ?9) RETURNING id",
                params![
                    o.kind,
                    o.title,
                    o.subtitle,
                    j(&o.facts),
                    o.narrative,
                    j(&o.concepts),
                    j(&o.files_read),
                    j(&o.files_modified),
                    1_700_000_000 + n as i64
                ],
                |r| r.get(0),
            )
            .unwrap();
        keys.insert((RecordKind::Observation, id), o.key.clone());
    }
    for (n, p) in corpus.prompts.iter().enumerate() {
        let id: i64 = c
            .query_row(
                "INSERT INTO user_prompts (session_id, project, project_name, prompt_number,
                   prompt_text) VALUES ('s', '/repo', 'repo', ?1, ?2) RETURNING id",
                params![n as i64 + 1, p.text],
                |r| r.get(0),
            )
            .unwrap();
        keys.insert((RecordKind::Prompt, id), p.key.clone());
    }
    let mut failed = Vec::new();
    for q in &corpus.queries {
        let r = search(
            &c,
            &SearchQuery {
                q: q.q.clone(),
                ..Default::default()
            },
        )
        .unwrap_or_else(|e| panic!("{:?}: {e}", q.q));
        let got: Vec<&str> = r
            .results
            .iter()
            .map(|h| keys[&(h.record, h.id)].as_str())
            .collect();
        if got.first() != Some(&q.first.as_str()) || r.matched != q.matched {
            failed.push(format!(
                "{:?} ({}): want {} by {:?}, got {:?} by {:?}",
                q.q, q.why, q.first, q.matched, got, r.matched
            ));
        }
    }
    assert!(failed.is_empty(), "\n{}", failed.join("\n"));
}
