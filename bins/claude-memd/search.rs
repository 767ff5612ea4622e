//! Full-text search (FTS5, BM25-ranked) over observations, summaries and prompts, with
//! filters and pagination; and the timeline around an observation or a time.

use crate::fts_query;
use claude_daemons::api::memory::{
    Match, RecordKind, SearchHit, SearchQuery, SearchResults, Timeline, TimelineItem, TimelineQuery,
};
use rusqlite::{params, Connection, OptionalExtension};

/// A request the caller got wrong (answered with 400).
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// Bad parameter.
    #[error("{0}")]
    Bad(String),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
}

/// The epoch seconds SQLite's date functions handle: years 0000 to 9999. Outside them
/// `strftime` answers NULL.
const TIME_RANGE: std::ops::RangeInclusive<i64> = -62_167_219_200..=253_402_300_799;

/// A time given as seconds since the epoch or RFC 3339 / ISO 8601 text, within years 0000
/// to 9999.
pub fn parse_time(conn: &Connection, t: &str) -> Result<i64, QueryError> {
    let n = match t.trim().parse::<i64>() {
        Ok(n) => Some(n),
        Err(_) => conn.query_row("SELECT unixepoch(?1)", [t], |r| r.get::<_, Option<i64>>(0))?,
    };
    n.filter(|n| TIME_RANGE.contains(n)).ok_or_else(|| {
        QueryError::Bad(format!(
            "not a time: {t:?} (use RFC 3339 or epoch seconds, years 0000 to 9999)"
        ))
    })
}

/// Run a search: every word first; when that finds nothing, any word (and the answer says
/// `"match": "any"`).
pub fn search(conn: &Connection, q: &SearchQuery) -> Result<SearchResults, QueryError> {
    let parsed = fts_query::parse(&q.q).map_err(|e| QueryError::Bad(e.to_string()))?;
    let all = search_with(conn, q, &parsed.all())?;
    let Some(any) = parsed.any() else {
        return Ok(all);
    };
    if !all.results.is_empty() {
        return Ok(all);
    }
    // A later page that is empty: it belongs to the any-word search when the all-words one
    // found nothing at all.
    if q.offset.unwrap_or(0) > 0 {
        let first = SearchQuery {
            offset: Some(0),
            limit: Some(1),
            ..q.clone()
        };
        if !search_with(conn, &first, &parsed.all())?.results.is_empty() {
            return Ok(all);
        }
    }
    Ok(SearchResults {
        matched: Match::Any,
        ..search_with(conn, q, &any)?
    })
}

/// [`search`] in two steps, for hybrid search, which needs the any-word fallback only when
/// its vector candidates fall short: the all-words results, and the any-word expression to
/// run (with [`search_any_word`]) if they are empty.
pub fn search_every_word(
    conn: &Connection,
    q: &SearchQuery,
) -> Result<(SearchResults, Option<String>), QueryError> {
    let parsed = fts_query::parse(&q.q).map_err(|e| QueryError::Bad(e.to_string()))?;
    Ok((search_with(conn, q, &parsed.all())?, parsed.any()))
}

/// The any-word fallback of [`search_every_word`].
pub fn search_any_word(
    conn: &Connection,
    q: &SearchQuery,
    any: &str,
) -> Result<SearchResults, QueryError> {
    Ok(SearchResults {
        matched: Match::Any,
        ..search_with(conn, q, any)?
    })
}

fn search_with(conn: &Connection, q: &SearchQuery, m: &str) -> Result<SearchResults, QueryError> {
    let limit = q.limit.unwrap_or(20).clamp(1, 200);
    let offset = q.offset.unwrap_or(0);
    let since = q
        .since
        .as_deref()
        .map(|t| parse_time(conn, t))
        .transpose()?;
    let until = q
        .until
        .as_deref()
        .map(|t| parse_time(conn, t))
        .transpose()?;
    let want = i64::from(offset) + i64::from(limit) + 1;
    let only_obs = q.kind.is_some() || q.file.is_some();
    let kinds: Vec<RecordKind> = match q.record {
        Some(k) => vec![k],
        None if only_obs => vec![RecordKind::Observation],
        None => vec![
            RecordKind::Observation,
            RecordKind::Summary,
            RecordKind::Prompt,
        ],
    };
    if only_obs && kinds != [RecordKind::Observation] {
        return Err(QueryError::Bad(
            "type and file filters apply to observations only".into(),
        ));
    }
    let mut hits = Vec::new();
    for kind in kinds {
        // BM25 column weights: a word in a title says more than one in a long narrative
        // (observations: title, subtitle, narrative, facts, concepts, files read, modified;
        // summaries: request, investigated, learned, completed, next steps, notes).
        let sql = match kind {
            RecordKind::Observation => {
                "SELECT o.id, o.type, o.title, snippet(observations_fts, -1, '[', ']', '…', 12),
                   o.project, o.created_at, bm25(observations_fts, 8.0, 4.0, 1.0, 2.0, 2.0, 1.0, 2.0)
                 FROM observations_fts JOIN observations o ON o.id = observations_fts.rowid
                 WHERE observations_fts MATCH ?1
                   AND (?2 IS NULL OR o.project = ?2 OR o.project_name = ?2)
                   AND (?3 IS NULL OR o.type = ?3)
                   AND (?4 IS NULL OR instr(o.files_read, ?4) > 0 OR instr(o.files_modified, ?4) > 0)
                   AND (?5 IS NULL OR o.created_at_epoch >= ?5)
                   AND (?6 IS NULL OR o.created_at_epoch < ?6)
                   AND (?8 IS NULL OR (coalesce(o.origin, '') LIKE 'team:%') = (?8 = 'team'))
                 ORDER BY 7 LIMIT ?7"
            }
            RecordKind::Summary => {
                "SELECT s.id, NULL, coalesce(s.request, '(summary)'),
                   snippet(summaries_fts, -1, '[', ']', '…', 12), s.project, s.created_at,
                   bm25(summaries_fts, 4.0, 1.0, 2.0, 2.0, 1.0, 1.0)
                 FROM summaries_fts JOIN session_summaries s ON s.id = summaries_fts.rowid
                 WHERE summaries_fts MATCH ?1
                   AND (?2 IS NULL OR s.project = ?2 OR s.project_name = ?2)
                   AND ?3 IS NULL AND ?4 IS NULL
                   AND (?5 IS NULL OR s.created_at_epoch >= ?5)
                   AND (?6 IS NULL OR s.created_at_epoch < ?6)
                   AND (?8 IS NULL OR (coalesce(s.origin, '') LIKE 'team:%') = (?8 = 'team'))
                 ORDER BY 7 LIMIT ?7"
            }
            RecordKind::Prompt => {
                "SELECT p.id, NULL, substr(p.prompt_text, 1, 120),
                   snippet(prompts_fts, -1, '[', ']', '…', 12), p.project, p.created_at,
                   prompts_fts.rank
                 FROM prompts_fts JOIN user_prompts p ON p.id = prompts_fts.rowid
                 WHERE prompts_fts MATCH ?1
                   AND (?2 IS NULL OR p.project = ?2 OR p.project_name = ?2)
                   AND ?3 IS NULL AND ?4 IS NULL
                   AND (?5 IS NULL OR p.created_at_epoch >= ?5)
                   AND (?6 IS NULL OR p.created_at_epoch < ?6)
                   AND (?8 IS NULL OR (coalesce(p.origin, '') LIKE 'team:%') = (?8 = 'team'))
                 ORDER BY 7 LIMIT ?7"
            }
        };
        let mut st = conn.prepare_cached(sql)?;
        let rows = st.query_map(
            params![
                m,
                q.project,
                q.kind,
                q.file,
                since,
                until,
                want,
                q.who.map(|w| w.as_str())
            ],
            |r| {
                Ok(SearchHit {
                    record: kind,
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    title: r.get(2)?,
                    snippet: r.get(3)?,
                    project: r.get(4)?,
                    created_at: r.get(5)?,
                    rank: r.get(6)?,
                    by: None,
                })
            },
        )?;
        for h in rows {
            hits.push(h?);
        }
    }
    hits.sort_by(|a, b| a.rank.total_cmp(&b.rank));
    let has_more = hits.len() > offset as usize + limit as usize;
    let results = hits
        .into_iter()
        .skip(offset as usize)
        .take(limit as usize)
        .collect();
    Ok(SearchResults {
        results,
        has_more,
        limit,
        offset,
        matched: Match::All,
    })
}

const ITEMS: &str = "
    SELECT 0 AS k, id, type, title, created_at FROM observations
      WHERE (?1 IS NULL OR project = ?1 OR project_name = ?1)
    UNION ALL
    SELECT 1, id, NULL, substr(prompt_text, 1, 120), created_at FROM user_prompts
      WHERE (?1 IS NULL OR project = ?1 OR project_name = ?1)
    UNION ALL
    SELECT 2, id, NULL, coalesce(request, '(summary)'), created_at FROM session_summaries
      WHERE (?1 IS NULL OR project = ?1 OR project_name = ?1)";

/// The timeline around an observation id (`anchor`) or a time (`at`).
pub fn timeline(conn: &Connection, q: &TimelineQuery) -> Result<Timeline, QueryError> {
    let before = q.before.unwrap_or(10).min(100);
    let after = q.after.unwrap_or(10).min(100);
    let (at, rank, id, project) = match (q.anchor, q.at.as_deref()) {
        (Some(anchor), None) => {
            let (at, project): (String, String) = conn
                .query_row(
                    "SELECT created_at, project FROM observations WHERE id = ?1",
                    [anchor],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?
                .ok_or_else(|| QueryError::Bad(format!("no observation {anchor}")))?;
            (at, 0, anchor, q.project.clone().or(Some(project)))
        }
        (None, Some(t)) => {
            let epoch = parse_time(conn, t)?;
            let at: String = conn.query_row(
                "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', ?1, 'unixepoch')",
                [epoch],
                |r| r.get(0),
            )?;
            (at, -1, 0, q.project.clone())
        }
        _ => {
            return Err(QueryError::Bad(
                "give exactly one of anchor (an observation id) or at (a time)".into(),
            ))
        }
    };
    let read = |sql: String, n: u32| -> Result<Vec<TimelineItem>, QueryError> {
        let mut st = conn.prepare(&sql)?;
        let rows = st.query_map(params![project, at, rank, id, n], |r| {
            let k: i64 = r.get(0)?;
            let item_id: i64 = r.get(1)?;
            Ok(TimelineItem {
                record: match k {
                    0 => RecordKind::Observation,
                    1 => RecordKind::Prompt,
                    _ => RecordKind::Summary,
                },
                id: item_id,
                kind: r.get(2)?,
                title: r.get(3)?,
                created_at: r.get(4)?,
                anchor: k == 0 && item_id == id && q.anchor.is_some(),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    };
    let mut items = read(
        format!("SELECT * FROM ({ITEMS}) WHERE (created_at, k, id) < (?2, ?3, ?4) ORDER BY created_at DESC, k DESC, id DESC LIMIT ?5"),
        before,
    )?;
    items.reverse();
    let from = if q.anchor.is_some() { "<=" } else { "<" };
    items.extend(read(
        format!("SELECT * FROM ({ITEMS}) WHERE (?2, ?3, ?4) {from} (created_at, k, id) ORDER BY created_at, k, id LIMIT ?5 + (?3 = 0)"),
        after,
    )?);
    Ok(Timeline { items })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        // The directory must outlive the connection, which the tests keep to the end.
        let (dir, c) = crate::schema::test_db();
        std::mem::forget(dir);
        c
    }

    fn obs(c: &Connection, project: &str, kind: &str, title: &str, files: &str, epoch: i64) -> i64 {
        c.query_row(
            "INSERT INTO observations (session_id, project, project_name, type, title, files_modified, created_at, created_at_epoch)
             VALUES ('s', ?1, 'app', ?2, ?3, ?4, strftime('%Y-%m-%dT%H:%M:%fZ', ?5, 'unixepoch'), ?5) RETURNING id",
            params![project, kind, title, files, epoch],
            |r| r.get(0),
        )
        .unwrap()
    }

    #[test]
    fn ranks_filters_and_pages() {
        let c = db();
        let a = obs(
            &c,
            "/p",
            "change",
            "Edited parser tokenizer",
            "[\"/p/src/parser.rs\"]",
            1000,
        );
        let b = obs(&c, "/p", "discovery", "Read parser notes", "[]", 2000);
        obs(&c, "/q", "change", "Edited parser elsewhere", "[]", 3000);
        let q = |f: &dyn Fn(&mut SearchQuery)| {
            let mut s = SearchQuery {
                q: "parser".into(),
                ..Default::default()
            };
            f(&mut s);
            search(&c, &s).unwrap()
        };
        assert_eq!(q(&|_| {}).results.len(), 3);
        let p = q(&|s| s.project = Some("/p".into()));
        assert_eq!(p.results.len(), 2);
        assert!(
            p.results.iter().all(|h| h.snippet.contains("[parser]")),
            "{p:?}"
        );
        let t = q(&|s| s.kind = Some("change".into()));
        assert_eq!(t.results.len(), 2);
        let f = q(&|s| s.file = Some("src/parser.rs".into()));
        assert_eq!(f.results.iter().map(|h| h.id).collect::<Vec<_>>(), vec![a]);
        let d = q(&|s| {
            s.since = Some("1500".into());
            s.until = Some("1970-01-01T00:41:40Z".into());
        });
        assert_eq!(d.results.iter().map(|h| h.id).collect::<Vec<_>>(), vec![b]);
        let page1 = q(&|s| s.limit = Some(2));
        assert!(page1.has_more);
        let page2 = q(&|s| {
            s.limit = Some(2);
            s.offset = Some(2);
        });
        assert!(!page2.has_more);
        assert_eq!(page2.results.len(), 1);
        assert!(q(&|s| s.q = "\"unbalanced OR (".into()).results.is_empty());
        let e = search(
            &c,
            &SearchQuery {
                q: "-parser".into(),
                ..Default::default()
            },
        );
        assert!(matches!(e, Err(QueryError::Bad(_))), "{e:?}");
        let bad = search(
            &c,
            &SearchQuery {
                q: "x".into(),
                since: Some("yesterday-ish".into()),
                ..Default::default()
            },
        );
        assert!(matches!(bad, Err(QueryError::Bad(_))));
    }

    #[test]
    fn deleted_rows_leave_the_index() {
        let c = db();
        let id = obs(&c, "/p", "change", "Unique zebra title", "[]", 1);
        let s = SearchQuery {
            q: "zebra".into(),
            ..Default::default()
        };
        assert_eq!(search(&c, &s).unwrap().results.len(), 1);
        c.execute("DELETE FROM observations WHERE id = ?1", [id])
            .unwrap();
        assert_eq!(search(&c, &s).unwrap().results.len(), 0);
    }

    #[test]
    fn timeline_around_an_anchor_and_a_time() {
        let c = db();
        let ids: Vec<i64> = (0..7)
            .map(|i| obs(&c, "/p", "change", &format!("step {i}"), "[]", 100 + i))
            .collect();
        obs(&c, "/q", "change", "other project", "[]", 103);
        let t = timeline(
            &c,
            &TimelineQuery {
                anchor: Some(ids[3]),
                before: Some(2),
                after: Some(2),
                ..Default::default()
            },
        )
        .unwrap();
        let got: Vec<i64> = t.items.iter().map(|i| i.id).collect();
        assert_eq!(got, ids[1..6].to_vec());
        assert!(t.items[2].anchor);
        let t = timeline(
            &c,
            &TimelineQuery {
                at: Some("104".into()),
                before: Some(1),
                after: Some(1),
                project: Some("/p".into()),
                ..Default::default()
            },
        )
        .unwrap();
        let got: Vec<i64> = t.items.iter().map(|i| i.id).collect();
        assert_eq!(got, vec![ids[3], ids[4]]);
        assert!(timeline(&c, &TimelineQuery::default()).is_err());
        // Out of the range SQLite's dates cover: the caller's mistake, not a database error.
        for at in ["99999999999999", "-99999999999999", "9223372036854775807"] {
            let q = TimelineQuery {
                at: Some(at.into()),
                ..Default::default()
            };
            assert!(matches!(timeline(&c, &q), Err(QueryError::Bad(_))), "{at}");
        }
    }
}
