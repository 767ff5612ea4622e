//! The durable outbox of team memory, and which projects are shared (SQL only).
//!
//! Triggers (see [`super::schema`]) add a row for every record made, edited or forgotten
//! in a shared project, in the record's own transaction. The publisher reads rows in
//! order, builds each message from the record as it is *now* (a record edited twice is
//! published in its latest version; one forgotten before it was published is only a
//! tombstone) and deletes the row once the broker acknowledged it.

use super::crypto::Op;
use crate::transfer;
use claude_daemons::api::memory::RecordKind;
use claude_daemons::api::memory_share::SharedProject;
use claude_daemons::api::memory_transfer::MemoryRecord;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashMap;

/// Share `project` as `portable`: existing records of it are queued too, and teammates'
/// records received before (kept under the portable identity) join it.
pub fn enable(conn: &mut Connection, project: &str, portable: &str) -> rusqlite::Result<bool> {
    let tx = conn.transaction()?;
    let fresh = tx.execute(
        "INSERT INTO share_projects (project, portable) VALUES (?1, ?2)
         ON CONFLICT (project) DO NOTHING",
        params![project, portable],
    )? == 1;
    if fresh {
        for (table, kind) in [
            ("observations", "observation"),
            ("session_summaries", "summary"),
            ("user_prompts", "prompt"),
        ] {
            tx.execute(
                &format!(
                    "INSERT INTO share_outbox (record, record_id, op, project)
                     SELECT '{kind}', id, 'put', project FROM {table}
                     WHERE project = ?1 AND origin IS NULL ORDER BY id"
                ),
                [project],
            )?;
            tx.execute(
                &format!(
                    "UPDATE {table} SET project = ?1 WHERE project = ?2 AND id IN
                       (SELECT id FROM team_records WHERE record = '{kind}' AND portable = ?2)"
                ),
                params![project, portable],
            )?;
        }
    }
    tx.commit()?;
    Ok(fresh)
}

/// Stop sharing `project`: what is not yet published stays here.
pub fn disable(conn: &mut Connection, project: &str) -> rusqlite::Result<bool> {
    let tx = conn.transaction()?;
    let n = tx.execute("DELETE FROM share_projects WHERE project = ?1", [project])?;
    tx.execute("DELETE FROM share_outbox WHERE project = ?1", [project])?;
    tx.commit()?;
    Ok(n == 1)
}

/// The shared projects (or the one given).
pub fn status(conn: &Connection, project: Option<&str>) -> rusqlite::Result<Vec<SharedProject>> {
    let mut st = conn.prepare(
        "SELECT project, portable, enabled_at,
           (SELECT count(*) FROM share_outbox o WHERE o.project = s.project),
           (SELECT count(*) FROM team_records t WHERE t.portable = s.portable)
         FROM share_projects s WHERE ?1 IS NULL OR project = ?1 ORDER BY project",
    )?;
    let rows = st.query_map([project], |r| {
        Ok(SharedProject {
            project: r.get(0)?,
            portable: r.get(1)?,
            enabled_at: r.get(2)?,
            pending: r.get(3)?,
            team_records: r.get(4)?,
        })
    })?;
    rows.collect()
}

/// The local project shared as `portable`, if any.
pub fn local_of(conn: &Connection, portable: &str) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached("SELECT project FROM share_projects WHERE portable = ?1 ORDER BY project")?
        .query_row([portable], |r| r.get(0))
        .optional()
}

/// One outbox row, ready to publish.
#[derive(Debug)]
pub struct Ready {
    /// The row id (in the message id, so a retry is a duplicate at the broker).
    pub row: i64,
    /// The project's portable identity.
    pub portable: String,
    /// What to publish (`None`: nothing any more; the row is done).
    pub op: Option<Op>,
}

fn kind_of(name: &str) -> Option<RecordKind> {
    match name {
        "observation" => Some(RecordKind::Observation),
        "summary" => Some(RecordKind::Summary),
        "prompt" => Some(RecordKind::Prompt),
        _ => None,
    }
}

/// The origin of this member's record on the wire.
pub fn origin(member: &str, kind: &str, id: i64) -> String {
    format!("team:{member}:{kind}:{id}")
}

/// The oldest `limit` rows, each with what to publish for it ([`disable`] drops the rows of
/// a project no longer shared); prompts are published only when `prompts` is on.
pub fn next(
    conn: &Connection,
    member: &str,
    prompts: bool,
    limit: i64,
) -> rusqlite::Result<Vec<Ready>> {
    let mut st = conn.prepare_cached(
        "SELECT o.id, o.record, o.record_id, o.op, s.portable FROM share_outbox o
           JOIN share_projects s ON s.project = o.project ORDER BY o.id LIMIT ?1",
    )?;
    let rows: Vec<(i64, String, i64, String, String)> = st
        .query_map([limit], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    // The records, read in one query per kind.
    let mut records: HashMap<(String, i64), MemoryRecord> = HashMap::new();
    for kind in ["observation", "summary", "prompt"] {
        let ids: Vec<i64> = rows
            .iter()
            .filter(|r| r.1 == kind && r.3 == "put")
            .map(|r| r.2)
            .collect();
        if let (false, Some(k)) = (ids.is_empty(), kind_of(kind)) {
            for r in read(conn, k, &ids)? {
                records.insert((kind.to_string(), r.id), r);
            }
        }
    }
    let mut out = Vec::with_capacity(rows.len());
    for (row, kind, id, op, portable) in rows {
        let op = match (op.as_str(), kind_of(&kind)) {
            (_, Some(RecordKind::Prompt)) if !prompts => None,
            ("del", _) => Some(Op::Del {
                origin: origin(member, &kind, id),
            }),
            (_, Some(_)) => records.get(&(kind.clone(), id)).cloned().map(|mut r| {
                r.origin = origin(member, &kind, id);
                r.project.clone_from(&portable);
                Op::Put {
                    record: Box::new(r),
                }
            }),
            (_, None) => None,
        };
        out.push(Ready { row, portable, op });
    }
    Ok(out)
}

/// Records `ids` of kind `k` in the export format (what `mem export` writes).
fn read(conn: &Connection, k: RecordKind, ids: &[i64]) -> rusqlite::Result<Vec<MemoryRecord>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {}, {} FROM {} WHERE id IN (SELECT value FROM json_each(?1))",
        transfer::COMMON,
        transfer::fields(k),
        transfer::table(k)
    ))?;
    let ids = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
    let rows = st.query_map([ids], |r| {
        Ok(MemoryRecord {
            id: r.get(0)?,
            origin: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
            session_id: r.get(2)?,
            project: r.get(3)?,
            project_name: r.get(4)?,
            created_at: r.get(5)?,
            created_at_epoch: r.get(6)?,
            prompt_number: r.get(7)?,
            body: transfer::body(k, r)?,
        })
    })?;
    rows.collect()
}

/// Rows published (or with nothing to publish): gone.
pub fn done(conn: &Connection, rows: &[i64]) -> rusqlite::Result<()> {
    let rows = serde_json::to_string(rows).unwrap_or_else(|_| "[]".into());
    conn.prepare_cached("DELETE FROM share_outbox WHERE id IN (SELECT value FROM json_each(?1))")?
        .execute([rows])?;
    Ok(())
}

/// A row the broker refused for good (too large): dropped, with the reason logged.
pub fn refused(conn: &Connection, row: i64, reason: &str) -> rusqlite::Result<()> {
    tracing::warn!(row, %reason, "team memory: a record was refused by the broker; not retried");
    done(conn, &[row])
}

/// A failed try of a row that may pass later.
pub fn failed(conn: &Connection, row: i64, reason: &str) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE share_outbox SET attempts = attempts + 1, last_error = ?2 WHERE id = ?1",
        params![row, reason],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(c: &Connection, project: &str, title: &str) -> i64 {
        c.query_row(
            "INSERT INTO observations (session_id, project, project_name, type, title, created_at, created_at_epoch)
             VALUES ('s', ?1, 'app', 'change', ?2, '2026-01-01T00:00:00Z', 1) RETURNING id",
            params![project, title],
            |r| r.get(0),
        )
        .unwrap()
    }

    #[test]
    fn shared_projects_queue_records_edits_and_tombstones() {
        let (_d, mut c) = crate::schema::test_db();
        let before = obs(&c, "/p", "made before sharing");
        obs(&c, "/q", "another project");
        assert!(enable(&mut c, "/p", "github.com/o/r").unwrap());
        let after = obs(&c, "/p", "made after");
        c.execute(
            "UPDATE observations SET title = 'edited' WHERE id = ?1",
            [after],
        )
        .unwrap();
        c.execute("DELETE FROM observations WHERE id = ?1", [before])
            .unwrap();
        let rows = next(&c, "me", false, 10).unwrap();
        let ops: Vec<String> = rows
            .iter()
            .map(|r| match &r.op {
                Some(Op::Put { record }) => {
                    assert_eq!(record.project, "github.com/o/r");
                    format!("put {}", record.origin)
                }
                Some(Op::Del { origin }) => format!("del {origin}"),
                None => "none".into(),
            })
            .collect();
        assert_eq!(
            ops,
            [
                // The record was forgotten before it was published: nothing to send for it.
                "none".to_string(),
                format!("put team:me:observation:{after}"),
                format!("put team:me:observation:{after}"),
                format!("del team:me:observation:{before}"),
            ]
        );
        done(&c, &rows.iter().map(|r| r.row).collect::<Vec<_>>()).unwrap();
        assert!(disable(&mut c, "/p").unwrap());
        obs(&c, "/p", "not shared any more");
        assert!(next(&c, "me", false, 10).unwrap().is_empty());
    }
}
