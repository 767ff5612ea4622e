//! Reading stored records back: one observation, pages of observations, summaries and
//! prompts (seed 000's `/api/*` lists), per-project stats, sessions; and retention.

use claude_daemons::api::memory::{Observation, Prompt, PruneResult, Summary, SummaryText, Who};
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::{json, Map, Value};

fn list(text: String) -> Vec<String> {
    serde_json::from_str(&text).unwrap_or_default()
}

const OBS_COLS: &str = "id, session_id, project, project_name, type, title, subtitle, facts,
    narrative, concepts, files_read, files_modified, prompt_number, event_id, created_at,
    created_at_epoch, edited_at, (SELECT m.name || '@' || m.host FROM team_records t
      JOIN team_members m ON m.key = t.member
      WHERE t.record = 'observation' AND t.id = observations.id)";

/// Who wrote a teammate's record of `table` (`record` is its kind's name), as a column.
fn by_col(record: &str, table: &str) -> String {
    format!(
        "(SELECT m.name || '@' || m.host FROM team_records t JOIN team_members m ON m.key = t.member
          WHERE t.record = '{record}' AND t.id = {table}.id)"
    )
}

fn observation(r: &Row) -> rusqlite::Result<Observation> {
    Ok(Observation {
        id: r.get(0)?,
        session_id: r.get(1)?,
        project: r.get(2)?,
        project_name: r.get(3)?,
        kind: r.get(4)?,
        title: r.get(5)?,
        subtitle: r.get(6)?,
        facts: list(r.get(7)?),
        narrative: r.get(8)?,
        concepts: list(r.get(9)?),
        files_read: list(r.get(10)?),
        files_modified: list(r.get(11)?),
        prompt_number: r.get(12)?,
        event_id: r.get(13)?,
        created_at: r.get(14)?,
        created_at_epoch: r.get(15)?,
        edited_at: r.get(16)?,
        by: r.get(17)?,
    })
}

/// One observation.
pub fn get_observation(conn: &Connection, id: i64) -> rusqlite::Result<Option<Observation>> {
    conn.prepare_cached(&format!(
        "SELECT {OBS_COLS} FROM observations WHERE id = ?1"
    ))?
    .query_row([id], observation)
    .optional()
}

/// A page, newest first, and the total: `(items, total)`.
pub type Page<T> = (Vec<T>, i64);

/// The project condition on `?1` (a project key or display name). Two texts rather than
/// `?1 IS NULL OR …`, which SQLite plans once for both cases: with a project it can then
/// use the two project indexes instead of walking every row in time order.
fn project_cond(project: Option<&str>) -> &'static str {
    match project {
        None => "?1 IS NULL",
        Some(_) => "(project = ?1 OR project_name = ?1)",
    }
}

/// Whose records (team memory): teammates' are the ones with a `team:` origin.
fn who_cond(who: Option<Who>) -> &'static str {
    match who {
        None => "1",
        Some(Who::Mine) => "coalesce(origin, '') NOT LIKE 'team:%'",
        Some(Who::Team) => "coalesce(origin, '') LIKE 'team:%'",
    }
}

fn total(
    conn: &Connection,
    table: &str,
    project: Option<&str>,
    who: Option<Who>,
) -> rusqlite::Result<i64> {
    match (project, who) {
        // A bare count uses SQLite's b-tree count; the filter would visit every row.
        (None, None) => conn
            .prepare_cached(&format!("SELECT count(*) FROM {table}"))?
            .query_row([], |r| r.get(0)),
        _ => conn
            .prepare_cached(&format!(
                "SELECT count(*) FROM {table} WHERE {} AND {}",
                project_cond(project),
                who_cond(who)
            ))?
            .query_row([project], |r| r.get(0)),
    }
}

/// Observations, newest first.
pub fn observations(
    conn: &Connection,
    project: Option<&str>,
    who: Option<Who>,
    limit: i64,
    offset: i64,
) -> rusqlite::Result<Page<Observation>> {
    let items = observation_rows(conn, project, who, 0, limit, offset)?;
    Ok((items, total(conn, "observations", project, who)?))
}

/// Observations with an id above `after`, newest first.
pub fn observation_rows(
    conn: &Connection,
    project: Option<&str>,
    who: Option<Who>,
    after: i64,
    limit: i64,
    offset: i64,
) -> rusqlite::Result<Vec<Observation>> {
    conn.prepare_cached(&format!(
        "SELECT {OBS_COLS} FROM observations WHERE {} AND {} AND id > ?4
         ORDER BY created_at_epoch DESC, id DESC LIMIT ?2 OFFSET ?3",
        project_cond(project),
        who_cond(who)
    ))?
    .query_map(params![project, limit, offset, after], observation)?
    .collect()
}

/// Summaries, newest first.
pub fn summaries(
    conn: &Connection,
    project: Option<&str>,
    who: Option<Who>,
    limit: i64,
    offset: i64,
) -> rusqlite::Result<Page<Summary>> {
    let items = summary_rows(conn, project, who, 0, limit, offset)?;
    Ok((items, total(conn, "session_summaries", project, who)?))
}

/// Summaries with an id above `after`, newest first.
pub fn summary_rows(
    conn: &Connection,
    project: Option<&str>,
    who: Option<Who>,
    after: i64,
    limit: i64,
    offset: i64,
) -> rusqlite::Result<Vec<Summary>> {
    conn.prepare_cached(&format!(
        "SELECT id, session_id, project, request, investigated, learned, completed, next_steps,
               notes, files_read, files_edited, created_at, {}
             FROM session_summaries WHERE {} AND {} AND id > ?4
             ORDER BY created_at_epoch DESC, id DESC LIMIT ?2 OFFSET ?3",
        by_col("summary", "session_summaries"),
        project_cond(project),
        who_cond(who)
    ))?
    .query_map(params![project, limit, offset, after], |r| {
        Ok(Summary {
            id: r.get(0)?,
            session_id: r.get(1)?,
            project: r.get(2)?,
            text: SummaryText {
                request: r.get(3)?,
                investigated: r.get(4)?,
                learned: r.get(5)?,
                completed: r.get(6)?,
                next_steps: r.get(7)?,
                notes: r.get(8)?,
                files_read: list(r.get(9)?),
                files_edited: list(r.get(10)?),
            },
            created_at: r.get(11)?,
            by: r.get(12)?,
        })
    })?
    .collect()
}

/// Prompts, newest first.
pub fn prompts(
    conn: &Connection,
    project: Option<&str>,
    who: Option<Who>,
    limit: i64,
    offset: i64,
) -> rusqlite::Result<Page<Prompt>> {
    let items = prompt_rows(conn, project, who, 0, limit, offset)?;
    Ok((items, total(conn, "user_prompts", project, who)?))
}

/// Prompts with an id above `after`, newest first.
pub fn prompt_rows(
    conn: &Connection,
    project: Option<&str>,
    who: Option<Who>,
    after: i64,
    limit: i64,
    offset: i64,
) -> rusqlite::Result<Vec<Prompt>> {
    conn.prepare_cached(&format!(
        "SELECT id, session_id, prompt_text, prompt_number, created_at, {} FROM user_prompts
             WHERE {} AND {} AND id > ?4 ORDER BY created_at_epoch DESC, id DESC LIMIT ?2 OFFSET ?3",
        by_col("prompt", "user_prompts"),
        project_cond(project),
        who_cond(who)
    ))?
    .query_map(params![project, limit, offset, after], |r| {
        Ok(Prompt {
            id: r.get(0)?,
            session_id: r.get(1)?,
            prompt: r.get(2)?,
            prompt_number: r.get(3)?,
            created_at: r.get(4)?,
            by: r.get(5)?,
        })
    })?
    .collect()
}

/// Seed 000 `/api/stats`: counts per project (by display name) and in total.
pub fn stats(conn: &Connection) -> rusqlite::Result<Value> {
    let mut by = Map::new();
    let mut st = conn.prepare_cached(
        "SELECT project_name, sum(o), sum(s), sum(p) FROM (
           SELECT project_name, count(*) AS o, 0 AS s, 0 AS p FROM observations GROUP BY 1
           UNION ALL SELECT project_name, 0, count(*), 0 FROM session_summaries GROUP BY 1
           UNION ALL SELECT project_name, 0, 0, count(*) FROM user_prompts GROUP BY 1)
         GROUP BY 1 ORDER BY 1",
    )?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })?;
    let (mut to, mut ts, mut tp) = (0, 0, 0);
    for row in rows {
        let (name, o, s, p) = row?;
        to += o;
        ts += s;
        tp += p;
        by.insert(
            name,
            json!({"observations": o, "summaries": s, "prompts": p}),
        );
    }
    let sessions: i64 = conn.query_row("SELECT count(*) FROM sessions", [], |r| r.get(0))?;
    Ok(json!({
        "byProject": by,
        "total": {"observations": to, "summaries": ts, "prompts": tp, "sessions": sessions}
    }))
}

/// A session row: `(content_session_id, status, project)` by its row id.
pub fn session(conn: &Connection, id: i64) -> rusqlite::Result<Option<(String, String, String)>> {
    conn.prepare_cached("SELECT content_session_id, status, project FROM sessions WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()
}

/// Seed 000 `/sessions/:id/status`.
pub fn session_status(conn: &Connection, id: i64) -> rusqlite::Result<Option<Value>> {
    let Some((sid, status, _)) = session(conn, id)? else {
        return Ok(None);
    };
    let (o, s): (i64, i64) = conn.query_row(
        "SELECT (SELECT count(*) FROM observations WHERE session_id = ?1),
                (SELECT count(*) FROM session_summaries WHERE session_id = ?1)",
        [&sid],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(Some(
        json!({"session_id": sid, "status": status, "observation_count": o, "summary_count": s}),
    ))
}

/// Delete a session and everything recorded for it; `false` when there is no such session.
pub fn delete_session(conn: &mut Connection, id: i64) -> rusqlite::Result<bool> {
    let tx = conn.transaction()?;
    let Some((sid, _, _)) = session(&tx, id)? else {
        return Ok(false);
    };
    for table in [
        "observations",
        "session_summaries",
        "user_prompts",
        "events",
    ] {
        tx.execute(
            &format!("DELETE FROM {table} WHERE session_id = ?1"),
            [&sid],
        )?;
    }
    tx.execute("DELETE FROM sessions WHERE id = ?1", [id])?;
    tx.commit()?;
    Ok(true)
}

/// What pruning deletes, in order: table and the condition beyond "older than the cutoff"
/// (`?1` is the cutoff in seconds since the epoch). Events still waiting to be processed
/// are kept whatever their age; a session goes once no event of it is left.
const PRUNABLE: [(&str, &str); 5] = [
    ("observations", "created_at_epoch < ?1"),
    ("session_summaries", "created_at_epoch < ?1"),
    ("user_prompts", "created_at_epoch < ?1"),
    (
        "events",
        "created_at_epoch < ?1 AND state IN ('done', 'failed')",
    ),
    (
        "sessions",
        "unixepoch(started_at) < ?1
           AND NOT EXISTS (SELECT 1 FROM events e WHERE e.session_id = content_session_id)",
    ),
];

fn count_old(conn: &Connection, cutoff: i64) -> rusqlite::Result<[usize; 5]> {
    let mut n = [0; 5];
    for (i, (table, cond)) in PRUNABLE.iter().enumerate() {
        n[i] = conn
            .prepare_cached(&format!("SELECT count(*) FROM {table} WHERE {cond}"))?
            .query_row([cutoff], |r| r.get::<_, i64>(0))? as usize;
    }
    Ok(n)
}

fn result(n: [usize; 5]) -> PruneResult {
    PruneResult {
        observations: n[0],
        summaries: n[1],
        prompts: n[2],
        events: n[3],
        sessions: n[4],
        ..PruneResult::default()
    }
}

/// Delete records older than `days`: at most `limit` rows (all when `None`) in one
/// transaction. The call that leaves nothing old gives the freed pages back to the file
/// system. `dry_run` only counts.
pub fn prune(
    conn: &mut Connection,
    days: u32,
    limit: Option<u32>,
    dry_run: bool,
) -> rusqlite::Result<PruneResult> {
    let cutoff: i64 = conn.query_row(
        "SELECT unixepoch('now', ?1)",
        [format!("-{days} days")],
        |r| r.get(0),
    )?;
    if dry_run {
        let n = count_old(conn, cutoff)?;
        return Ok(PruneResult {
            remaining: n.iter().sum(),
            dry_run: true,
            ..result(n)
        });
    }
    let mut budget = limit.map_or(i64::MAX, i64::from);
    let mut deleted = [0; 5];
    let tx = conn.transaction()?;
    for (i, (table, cond)) in PRUNABLE.iter().enumerate() {
        if budget == 0 {
            break;
        }
        deleted[i] = tx
            .prepare_cached(&format!(
                "DELETE FROM {table} WHERE id IN
                   (SELECT id FROM {table} WHERE {cond} ORDER BY id LIMIT ?2)"
            ))?
            .execute(params![cutoff, budget])?;
        budget -= deleted[i] as i64;
    }
    // What old sessions were shown during their work (file names): not counted, all of it.
    tx.prepare_cached("DELETE FROM session_recall WHERE created_at_epoch < ?1")?
        .execute([cutoff])?;
    let remaining: usize = count_old(&tx, cutoff)?.iter().sum();
    tx.commit()?;
    let freed_pages = if remaining == 0 {
        incremental_vacuum(conn)?
    } else {
        0
    };
    Ok(PruneResult {
        freed_pages,
        remaining,
        ..result(deleted)
    })
}

/// Give free pages back to the file system; how many went.
fn incremental_vacuum(conn: &Connection) -> rusqlite::Result<i64> {
    let before: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
    // The pragma frees one page per step: step it to the end.
    let mut st = conn.prepare("PRAGMA incremental_vacuum")?;
    let mut rows = st.query([])?;
    while rows.next()?.is_some() {}
    let after: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
    Ok(before - after)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database with `old` observations 40 days old and `new` recent ones, each with a
    /// narrative of `filler` (and the title `old<i>`/`new<i>`).
    fn store_with(old: usize, new: usize, filler: &str) -> (tempfile::TempDir, Connection) {
        let (dir, c) = crate::schema::test_db();
        for i in 0..old + new {
            let (title, when) = if i < old {
                (format!("old{i}"), "unixepoch('now', '-40 days')")
            } else {
                (format!("new{i}"), "unixepoch('now')")
            };
            c.execute(
                &format!(
                    "INSERT INTO observations (session_id, project, project_name, type, title, narrative,
                       created_at, created_at_epoch) VALUES ('s', '/p', 'p', 'change', ?1, ?2, 'x', {when})"
                ),
                [&title, filler],
            )
            .unwrap();
        }
        (dir, c)
    }

    #[test]
    fn prune_deletes_old_records_keeps_pending_events_and_frees_pages() {
        let (_dir, mut c) = store_with(200, 100, &"x".repeat(2000));
        let old = "unixepoch('now', '-40 days')";
        c.execute_batch(&format!(
            "INSERT INTO events (session_id, event, project, project_name, payload, state, created_at_epoch)
               VALUES ('s', 'Stop', '/p', 'p', '{{}}', 'pending', {old}),
                      ('s', 'Stop', '/p', 'p', '{{}}', 'done', {old});
             INSERT INTO session_recall (session_id, key, created_at_epoch)
               VALUES ('s', 'file:/p/old.rs', {old}), ('s', 'file:/p/new.rs', unixepoch());"
        ))
        .unwrap();
        let r = prune(&mut c, 30, None, false).unwrap();
        let recall: String = c
            .query_row("SELECT group_concat(key) FROM session_recall", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(recall, "file:/p/new.rs");
        assert_eq!(r.observations, 200);
        assert_eq!(r.events, 1, "the pending event is kept");
        assert!(r.freed_pages > 0, "{r:?}");
        let left: i64 = c
            .query_row("SELECT count(*) FROM observations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 100);
        let free: i64 = c
            .query_row("PRAGMA freelist_count", [], |r| r.get(0))
            .unwrap();
        assert_eq!(free, 0, "incremental vacuum returned the pages");
    }

    #[test]
    fn prune_in_batches_each_its_own_transaction_then_vacuums_once() {
        let (_dir, mut c) = store_with(230, 20, &"y".repeat(1500));
        c.execute_batch(
            "INSERT INTO user_prompts (session_id, project, project_name, prompt_number, prompt_text,
               created_at_epoch) VALUES ('s', '/p', 'p', 1, 'hello', unixepoch('now', '-40 days'));
             INSERT INTO events (session_id, event, project, project_name, payload, state, created_at_epoch)
               VALUES ('s', 'Stop', '/p', 'p', '{}', 'pending', unixepoch('now', '-40 days'));",
        )
        .unwrap();
        let dry = prune(&mut c, 30, Some(100), true).unwrap();
        assert_eq!((dry.observations, dry.prompts, dry.events), (230, 1, 0));
        assert_eq!(dry.remaining, 231);
        let all: i64 = c
            .query_row("SELECT count(*) FROM observations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(all, 250, "a dry run deletes nothing");

        let mut calls = Vec::new();
        loop {
            let r = prune(&mut c, 30, Some(100), false).unwrap();
            assert!(r.rows() <= 100, "{r:?}");
            calls.push(r.clone());
            // Between calls the database is consistent: the FTS index has exactly the rows.
            let (rows, fts): (i64, i64) = c
                .query_row(
                    "SELECT (SELECT count(*) FROM observations),
                            (SELECT count(*) FROM observations_fts WHERE observations_fts MATCH 'y*')",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap();
            assert_eq!(rows, fts);
            if r.remaining == 0 {
                break;
            }
            assert_eq!(r.freed_pages, 0, "space is returned once, at the end");
        }
        assert_eq!(calls.len(), 3, "{calls:?}");
        assert_eq!(
            calls.iter().map(|r| r.remaining).collect::<Vec<_>>(),
            [131, 31, 0]
        );
        assert_eq!(calls.iter().map(|r| r.observations).sum::<usize>(), 230);
        assert_eq!(calls[2].prompts, 1);
        assert!(calls[2].freed_pages > 0, "{calls:?}");
        let pending: i64 = c
            .query_row(
                "SELECT count(*) FROM events WHERE state = 'pending'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(pending, 1, "a pending event is never pruned");
        let again = prune(&mut c, 30, Some(100), false).unwrap();
        assert_eq!((again.rows(), again.remaining), (0, 0));
    }
}
