//! Semantic and hybrid search. Lexical candidates come from [`crate::search::search`] as it
//! is; vector candidates from the in-memory index; [`fusion::rrf`] joins the two. The
//! filters of the query (project, type, file, time) apply to vector candidates here, in the
//! same terms as the lexical search applies them.

use super::fusion;
use super::index::Filter;
use super::vectors::Kind;
use super::Semantic;
use crate::search::{self, QueryError};
#[cfg(test)]
use claude_daemons::api::memory::SearchMode;
use claude_daemons::api::memory::{Match, RecordKind, SearchHit, SearchQuery, SearchResults};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashMap;

/// Candidates taken from each side before fusing: deep enough that a record one side ranks
/// low but the other high still meets itself.
const CANDIDATES: usize = 200;

// Lexical hits that matched only some of the query's words (the any-word fallback) get no
// weight in the fusion, against 1 for the vector list: when not every word matched, meaning
// ranks better than sharing one word (on the checked-in corpus, weights 0.5 and 0.1 gave
// recall@5 0.49 and 0.67 against 0.74 for 0). They come after the vector candidates, in
// BM25 order.

/// A query's embedding, made before the database is touched (the model runs on the
/// calling thread, not the database's).
pub struct QueryVector(pub Vec<i8>);

/// Embed the query text (loading the model on first use); a query asked again lately (the
/// next page of a search, say) takes the vector it was given then.
pub fn embed_query(sem: &Semantic, text: &str) -> Result<QueryVector, QueryError> {
    let m = sem.model().map_err(|e| QueryError::Bad(e.to_string()))?;
    if let Some(v) = sem.recent_query(m.id(), text) {
        return Ok(QueryVector(v));
    }
    let v = sem
        .on_query_thread(|| m.embed(&[text]))
        .map_err(|e| QueryError::Bad(format!("embedding the query: {e}")))?;
    let v = super::vectors::quantize(&v[0]);
    sem.keep_query(m.id(), text, &v);
    Ok(QueryVector(v))
}

fn kind_of(r: RecordKind) -> Kind {
    match r {
        RecordKind::Observation => Kind::Observation,
        RecordKind::Summary => Kind::Summary,
        RecordKind::Prompt => Kind::Prompt,
    }
}

fn record_of(k: Kind) -> RecordKind {
    match k {
        Kind::Observation => RecordKind::Observation,
        Kind::Summary => RecordKind::Summary,
        Kind::Prompt => RecordKind::Prompt,
    }
}

/// The lexical half of a hybrid search, which needs no query vector: it runs on the
/// database thread while the query is embedded on the query thread.
pub struct LexicalHalf {
    /// Every-word matches, up to [`CANDIDATES`].
    results: SearchResults,
    /// The any-word expression, for the fallback.
    any: Option<String>,
}

/// The query's own mistakes, found before anything runs.
fn check(q: &SearchQuery) -> Result<(), QueryError> {
    if q.q.trim().is_empty() {
        return Err(QueryError::Bad("q (the words to find) is required".into()));
    }
    let only_obs = q.kind.is_some() || q.file.is_some();
    if only_obs && q.record.is_some_and(|r| r != RecordKind::Observation) {
        return Err(QueryError::Bad(
            "type and file filters apply to observations only".into(),
        ));
    }
    Ok(())
}

/// The lexical candidates of a hybrid search.
pub fn lexical_half(conn: &Connection, q: &SearchQuery) -> Result<LexicalHalf, QueryError> {
    check(q)?;
    let lexq = SearchQuery {
        limit: Some(CANDIDATES as u32),
        offset: Some(0),
        mode: None,
        ..q.clone()
    };
    let (results, any) = search::search_every_word(conn, &lexq)?;
    Ok(LexicalHalf { results, any })
}

/// Run a semantic or hybrid search (`mode` is not lexical), one half after the other
/// (tests).
#[cfg(test)]
pub fn search(
    conn: &Connection,
    sem: &Semantic,
    q: &SearchQuery,
    qv: &QueryVector,
    mode: SearchMode,
) -> Result<SearchResults, QueryError> {
    let lexical = match mode {
        SearchMode::Semantic => None,
        _ => Some(lexical_half(conn, q)?),
    };
    finish(conn, sem, q, qv, lexical)
}

/// A semantic or hybrid search with the query embedded on the query thread while the
/// lexical half runs on this one, as `GET /v1/search` does across its threads (benchmarks).
#[cfg(test)]
pub fn search_while_embedding(
    conn: &Connection,
    sem: &Semantic,
    q: &SearchQuery,
    mode: SearchMode,
) -> Result<SearchResults, QueryError> {
    std::thread::scope(|s| {
        let embedding = s.spawn(|| embed_query(sem, &q.q));
        let lexical = (mode != SearchMode::Semantic).then(|| lexical_half(conn, q));
        let qv = embedding
            .join()
            .map_err(|_| QueryError::Bad("embedding the query failed".into()))??;
        finish(conn, sem, q, &qv, lexical.transpose()?)
    })
}

/// The vector half of a search, fused with the lexical half when there is one (hybrid).
///
/// The kind and project filters apply during the vector scan; type, file and time filters
/// need each candidate's row, so with one of them every candidate is read before fusing,
/// and without only those that make the page are.
pub fn finish(
    conn: &Connection,
    sem: &Semantic,
    q: &SearchQuery,
    qv: &QueryVector,
    lexical: Option<LexicalHalf>,
) -> Result<SearchResults, QueryError> {
    check(q)?;
    let limit = q.limit.unwrap_or(20).clamp(1, 200);
    let offset = q.offset.unwrap_or(0);
    let only_obs = q.kind.is_some() || q.file.is_some();
    let kinds: Vec<Kind> = match q.record {
        Some(r) => vec![kind_of(r)],
        None if only_obs => vec![Kind::Observation],
        None => Kind::ALL.to_vec(),
    };
    let since = q
        .since
        .as_deref()
        .map(|t| search::parse_time(conn, t))
        .transpose()?;
    let until = q
        .until
        .as_deref()
        .map(|t| search::parse_time(conn, t))
        .transpose()?;
    // Results up to the end of the page, and one more to tell whether there are more.
    let page = offset as usize + limit as usize;
    let filter = Filter {
        kinds: &kinds,
        project: q.project.as_deref(),
    };
    let near = sem
        .index()
        .nearest(&qv.0, filter, (page + 1).max(CANDIDATES));
    let mut hits: HashMap<(Kind, i64), Option<SearchHit>> = HashMap::new();
    let mut vector_ids: Vec<(Kind, i64)> = near.iter().map(|n| n.0).collect();
    if only_obs || since.is_some() || until.is_some() {
        for key in std::mem::take(&mut vector_ids) {
            if let Some(h) = hydrate(conn, key, q, since, until)? {
                hits.insert(key, Some(h));
                vector_ids.push(key);
            }
        }
    }
    let cosine: HashMap<(Kind, i64), f32> = near.into_iter().collect();
    let (ranked, matched, fallback) = match lexical {
        None => {
            let ranked = vector_ids
                .iter()
                .map(|k| (*k, f64::from(cosine[k])))
                .collect();
            (ranked, Match::All, None)
        }
        Some(LexicalHalf { results, any }) => {
            // Hybrid results say how their lexical half matched (every word, or any word as
            // a fallback). The any-word hits would come after every vector candidate, so that
            // search runs only if the vector candidates fall short of the page: at 100,000
            // records it ranks most of them.
            let (matched, fallback) = match any {
                Some(any) if results.results.is_empty() => (Match::Any, Some(any)),
                _ => (Match::All, None),
            };
            let lexical_ids: Vec<(Kind, i64)> = results
                .results
                .iter()
                .map(|h| (kind_of(h.record), h.id))
                .collect();
            for h in results.results {
                // The lexical hit keeps its snippet with the matched words marked.
                hits.insert((kind_of(h.record), h.id), Some(h));
            }
            let ranked = fusion::rrf(&[(&lexical_ids, 1.0), (&vector_ids, 1.0)]);
            (ranked, matched, fallback)
        }
    };
    let mut page_hits: Vec<SearchHit> = Vec::new();
    for (key, score) in ranked {
        if page_hits.len() > page {
            break;
        }
        let hit = match hits.remove(&key) {
            Some(h) => h,
            None => hydrate(conn, key, q, since, until)?,
        };
        if let Some(mut h) = hit {
            // Lower is better, as with BM25.
            h.rank = -score;
            page_hits.push(h);
        }
    }
    if let Some(any) = fallback.filter(|_| page_hits.len() <= page) {
        let lexq = SearchQuery {
            limit: Some(CANDIDATES as u32),
            offset: Some(0),
            mode: None,
            ..q.clone()
        };
        let shown: std::collections::HashSet<(Kind, i64)> = page_hits
            .iter()
            .map(|h| (kind_of(h.record), h.id))
            .collect();
        for mut h in search::search_any_word(conn, &lexq, &any)?.results {
            if page_hits.len() > page {
                break;
            }
            if !shown.contains(&(kind_of(h.record), h.id)) {
                h.rank = 0.0;
                page_hits.push(h);
            }
        }
    }
    let has_more = page_hits.len() > page;
    let results = page_hits
        .into_iter()
        .skip(offset as usize)
        .take(limit as usize)
        .collect();
    Ok(SearchResults {
        results,
        matched,
        has_more,
        limit,
        offset,
    })
}

/// A vector candidate as a search hit, when it still exists and passes the filters.
fn hydrate(
    conn: &Connection,
    (kind, id): (Kind, i64),
    q: &SearchQuery,
    since: Option<i64>,
    until: Option<i64>,
) -> Result<Option<SearchHit>, QueryError> {
    let sql = match kind {
        Kind::Observation => {
            "SELECT o.type, o.title, substr(coalesce(o.subtitle, o.narrative, ''), 1, 160),
               o.project, o.created_at FROM observations o
             WHERE o.id = ?1
               AND (?2 IS NULL OR o.project = ?2 OR o.project_name = ?2)
               AND (?3 IS NULL OR o.type = ?3)
               AND (?4 IS NULL OR instr(o.files_read, ?4) > 0 OR instr(o.files_modified, ?4) > 0)
               AND (?5 IS NULL OR o.created_at_epoch >= ?5)
               AND (?6 IS NULL OR o.created_at_epoch < ?6)
               AND (?7 IS NULL OR (coalesce(o.origin, '') LIKE 'team:%') = (?7 = 'team'))"
        }
        Kind::Summary => {
            "SELECT NULL, coalesce(s.request, '(summary)'),
               substr(coalesce(s.learned, s.completed, s.investigated, ''), 1, 160),
               s.project, s.created_at FROM session_summaries s
             WHERE s.id = ?1
               AND (?2 IS NULL OR s.project = ?2 OR s.project_name = ?2)
               AND ?3 IS NULL AND ?4 IS NULL
               AND (?5 IS NULL OR s.created_at_epoch >= ?5)
               AND (?6 IS NULL OR s.created_at_epoch < ?6)
               AND (?7 IS NULL OR (coalesce(s.origin, '') LIKE 'team:%') = (?7 = 'team'))"
        }
        Kind::Prompt => {
            "SELECT NULL, substr(p.prompt_text, 1, 120), substr(p.prompt_text, 1, 160),
               p.project, p.created_at FROM user_prompts p
             WHERE p.id = ?1
               AND (?2 IS NULL OR p.project = ?2 OR p.project_name = ?2)
               AND ?3 IS NULL AND ?4 IS NULL
               AND (?5 IS NULL OR p.created_at_epoch >= ?5)
               AND (?6 IS NULL OR p.created_at_epoch < ?6)
               AND (?7 IS NULL OR (coalesce(p.origin, '') LIKE 'team:%') = (?7 = 'team'))"
        }
    };
    let mut st = conn.prepare_cached(sql)?;
    Ok(st
        .query_row(
            params![
                id,
                q.project,
                q.kind,
                q.file,
                since,
                until,
                q.who.map(|w| w.as_str())
            ],
            |r| {
                Ok(SearchHit {
                    record: record_of(kind),
                    id,
                    kind: r.get(0)?,
                    title: r.get(1)?,
                    snippet: r.get(2)?,
                    project: r.get(3)?,
                    created_at: r.get(4)?,
                    rank: 0.0,
                    by: None,
                })
            },
        )
        .optional()?)
}
