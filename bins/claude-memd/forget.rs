//! Forgetting one record for good: its row, its full-text entry and the hook event it was
//! made from, with no copy left in the database file or its WAL. SQLite's `secure_delete`
//! zeroes freed space (switched on for every connection at open, so rows rewritten by the
//! intake and the processor leave no stale copies either), FTS5's `secure-delete` removes
//! the index entries instead of writing tombstones, and a truncating checkpoint empties the
//! WAL of the old page images.

use rusqlite::{Connection, OptionalExtension, Transaction};
use std::time::Duration;

/// Which kind of record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record {
    /// `observations`.
    Observation,
    /// `session_summaries`.
    Summary,
    /// `user_prompts`.
    Prompt,
}

impl Record {
    /// The name in URLs and stream events.
    pub fn name(self) -> &'static str {
        match self {
            Record::Observation => "observation",
            Record::Summary => "summary",
            Record::Prompt => "prompt",
        }
    }

    fn table(self) -> &'static str {
        match self {
            Record::Observation => "observations",
            Record::Summary => "session_summaries",
            Record::Prompt => "user_prompts",
        }
    }
}

/// Make this connection overwrite what it deletes.
pub fn secure(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "secure_delete", "ON")
}

/// Delete record `id` of kind `r` and the finished hook event it came from. Returns the
/// record's project when it existed.
pub fn forget(conn: &mut Connection, r: Record, id: i64) -> rusqlite::Result<Option<String>> {
    forget_all(conn, &[(r, id)]).map(|mut v| v.pop().flatten())
}

/// Delete several records in one transaction: all or none. Each one's project, or `None`
/// for one that did not exist.
pub fn forget_all(
    conn: &mut Connection,
    records: &[(Record, i64)],
) -> rusqlite::Result<Vec<Option<String>>> {
    secure(conn)?;
    let tx = conn.transaction()?;
    for fts in ["observations_fts", "summaries_fts", "prompts_fts"] {
        tx.execute(
            &format!("INSERT INTO {fts}({fts}, rank) VALUES ('secure-delete', 1)"),
            [],
        )?;
    }
    let out = records
        .iter()
        .map(|&(r, id)| forget_in(&tx, r, id))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    tx.commit()?;
    Ok(out)
}

fn forget_in(tx: &Transaction, r: Record, id: i64) -> rusqlite::Result<Option<String>> {
    let project: Option<String> = tx
        .query_row(
            &format!("SELECT project FROM {} WHERE id = ?1", r.table()),
            [id],
            |row| row.get(0),
        )
        .optional()?;
    if project.is_none() {
        return Ok(None);
    }
    // The raw hook payload holds the same text; it goes too once nothing else was made of it
    // and the processor is done with it.
    let event: Option<i64> = match r {
        Record::Observation | Record::Summary => tx.query_row(
            &format!("SELECT event_id FROM {} WHERE id = ?1", r.table()),
            [id],
            |row| row.get(0),
        )?,
        Record::Prompt => tx
            .query_row(
                "SELECT e.id FROM user_prompts p JOIN events e ON e.session_id = p.session_id
                   AND e.prompt_number = p.prompt_number AND e.event = 'UserPromptSubmit'
                 WHERE p.id = ?1",
                [id],
                |row| row.get(0),
            )
            .optional()?,
    };
    tx.execute(&format!("DELETE FROM {} WHERE id = ?1", r.table()), [id])?;
    if let Some(event) = event {
        tx.execute(
            "DELETE FROM events WHERE id = ?1 AND state IN ('done', 'failed')
               AND NOT EXISTS (SELECT 1 FROM observations WHERE event_id = ?1)
               AND NOT EXISTS (SELECT 1 FROM session_summaries WHERE event_id = ?1)",
            [event],
        )?;
    }
    Ok(project)
}

/// The project of record `id`, if it exists.
pub fn project_of(conn: &Connection, r: Record, id: i64) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        &format!("SELECT project FROM {} WHERE id = ?1", r.table()),
        [id],
        |row| row.get(0),
    )
    .optional()
}

/// Copy the WAL into the database and truncate it, retrying while other connections are
/// in a transaction. Whether it got through.
pub fn checkpoint(conn: &Connection) -> rusqlite::Result<bool> {
    for _ in 0..100 {
        let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
        if busy == 0 {
            return Ok(true);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(false)
}

/// Which records `POST /v1/forget` takes: all of a session, a project, before a time, or
/// where those meet.
#[derive(Debug, Default)]
pub struct Filter {
    /// Claude's session id.
    pub session: Option<String>,
    /// Project keys or display names (a path given is also matched by its git root).
    pub projects: Vec<String>,
    /// Created before these seconds since the epoch.
    pub before: Option<i64>,
}

/// Every record the filter takes.
pub fn matching(conn: &Connection, f: &Filter) -> rusqlite::Result<Vec<(Record, i64)>> {
    let projects = serde_json::to_string(&f.projects).unwrap_or_else(|_| "[]".into());
    let any_project = f.projects.is_empty();
    let mut out = Vec::new();
    for r in [Record::Observation, Record::Summary, Record::Prompt] {
        let mut st = conn.prepare(&format!(
            "SELECT id FROM {} WHERE (?1 IS NULL OR session_id = ?1)
               AND (?2 OR project IN (SELECT value FROM json_each(?3))
                        OR project_name IN (SELECT value FROM json_each(?3)))
               AND (?4 IS NULL OR created_at_epoch < ?4)
             ORDER BY id",
            r.table()
        ))?;
        let ids = st.query_map(
            rusqlite::params![f.session, any_project, projects, f.before],
            |row| row.get::<_, i64>(0),
        )?;
        for id in ids {
            out.push((r, id?));
        }
    }
    Ok(out)
}
