//! Storing what teammates published: a record is kept once per origin (a new version
//! replaces the old text in place, with no copy left), a tombstone forgets it for good, and
//! who wrote it is kept beside it. A record of a project shared here lands in that
//! project; others wait under their portable identity until it is shared (see
//! [`super::outbox::enable`]).

use super::crypto::{Op, Payload};
use crate::forget::{self, Record};
use crate::privacy::sanitize;
use claude_daemons::api::memory_transfer::{MemoryBody, MemoryRecord};
use rusqlite::{params, Connection, OptionalExtension, Transaction};

/// What a batch did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Records stored or replaced.
    pub stored: usize,
    /// Records forgotten by a tombstone.
    pub forgotten: usize,
    /// Messages with nothing to do (already there, unknown tombstone, bad record).
    pub skipped: usize,
}

fn table(b: &MemoryBody) -> (&'static str, Record) {
    match b {
        MemoryBody::Observation(_) => ("observations", Record::Observation),
        MemoryBody::Summary(_) => ("session_summaries", Record::Summary),
        MemoryBody::Prompt { .. } => ("user_prompts", Record::Prompt),
    }
}

fn kind_of_origin(origin: &str) -> Option<Record> {
    match origin.split(':').nth(2)? {
        "observation" => Some(Record::Observation),
        "summary" => Some(Record::Summary),
        "prompt" => Some(Record::Prompt),
        _ => None,
    }
}

fn table_of(r: Record) -> &'static str {
    match r {
        Record::Observation => "observations",
        Record::Summary => "session_summaries",
        Record::Prompt => "user_prompts",
    }
}

/// Apply a batch of verified messages `(sender key, payload)` in one transaction.
pub fn apply(conn: &mut Connection, batch: &[(String, Payload)]) -> rusqlite::Result<Applied> {
    forget::secure(conn)?;
    let tx = conn.transaction()?;
    for fts in ["observations_fts", "summaries_fts", "prompts_fts"] {
        tx.execute(
            &format!("INSERT INTO {fts}({fts}, rank) VALUES ('secure-delete', 1)"),
            [],
        )?;
    }
    let mut out = Applied::default();
    for (from, p) in batch {
        tx.prepare_cached(
            "INSERT INTO team_members (key, name, host) VALUES (?1, ?2, ?3)
             ON CONFLICT (key) DO UPDATE SET name = ?2, host = ?3, last_seen_epoch = unixepoch()",
        )?
        .execute(params![from, p.name, p.host])?;
        match &p.op {
            Op::Del { origin } => {
                if !origin.starts_with(&format!("team:{from}:")) {
                    out.skipped += 1;
                    continue;
                }
                let Some(kind) = kind_of_origin(origin) else {
                    out.skipped += 1;
                    continue;
                };
                let id: Option<i64> = tx
                    .prepare_cached(&format!(
                        "SELECT id FROM {} WHERE origin = ?1",
                        table_of(kind)
                    ))?
                    .query_row([origin], |r| r.get(0))
                    .optional()?;
                match id {
                    Some(id) => {
                        tx.execute(
                            &format!("DELETE FROM {} WHERE id = ?1", table_of(kind)),
                            [id],
                        )?;
                        out.forgotten += 1;
                    }
                    None => out.skipped += 1,
                }
            }
            Op::Put { record } => {
                // A member speaks for its own records only.
                if !record.origin.starts_with(&format!("team:{from}:")) || record.check().is_err() {
                    out.skipped += 1;
                    continue;
                }
                let project = super::outbox::local_of(&tx, &p.portable)?
                    .unwrap_or_else(|| p.portable.clone());
                if let Some(id) = put(&tx, record, &project)? {
                    let kind = table(&record.body).1;
                    tx.prepare_cached(
                        "INSERT INTO team_records (record, id, member, portable) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT DO UPDATE SET member = ?3, portable = ?4",
                    )?
                    .execute(params![kind.name(), id, from, p.portable])?;
                    out.stored += 1;
                } else {
                    out.skipped += 1;
                }
            }
        }
    }
    tx.commit()?;
    Ok(out)
}

/// Store or replace one record under `project`; its id when anything changed.
fn put(tx: &Transaction, r: &MemoryRecord, project: &str) -> rusqlite::Result<Option<i64>> {
    let json = |v: &[String]| serde_json::to_string(v).expect("strings serialize");
    // The sender ran the privacy pipeline; run its structural part again in case its
    // version was older.
    let mut v = serde_json::to_value(&r.body).expect("records serialize");
    sanitize(&mut v);
    let Ok(body) = serde_json::from_value::<MemoryBody>(v) else {
        return Ok(None);
    };
    let id = |r: &rusqlite::Row| r.get::<_, i64>(0);
    let n = match body {
        MemoryBody::Observation(o) => tx
            .prepare_cached(
                "INSERT INTO observations (session_id, project, project_name, type, title,
                   subtitle, facts, narrative, concepts, files_read, files_modified, prompt_number,
                   discovery_tokens, created_at, created_at_epoch, source, model, edited_at, origin)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                   ?17, ?18, ?19)
                 ON CONFLICT (origin) WHERE origin IS NOT NULL DO UPDATE SET
                   type = excluded.type, title = excluded.title, subtitle = excluded.subtitle,
                   facts = excluded.facts, narrative = excluded.narrative,
                   concepts = excluded.concepts, edited_at = excluded.edited_at
                 WHERE (type, title, subtitle, facts, narrative, concepts)
                   IS NOT (excluded.type, excluded.title, excluded.subtitle, excluded.facts,
                           excluded.narrative, excluded.concepts)
                 RETURNING id",
            )?
            .query_row(
                params![
                    r.session_id,
                    project,
                    r.project_name,
                    o.kind,
                    o.title,
                    o.subtitle,
                    json(&o.facts),
                    o.narrative,
                    json(&o.concepts),
                    json(&o.files_read),
                    json(&o.files_modified),
                    r.prompt_number,
                    o.discovery_tokens,
                    r.created_at,
                    r.created_at_epoch,
                    o.source,
                    o.model,
                    o.edited_at,
                    r.origin
                ],
                id,
            )
            .optional()?,
        MemoryBody::Summary(s) => tx
            .prepare_cached(
                "INSERT INTO session_summaries (session_id, project, project_name, request,
                   investigated, learned, completed, next_steps, notes, files_read, files_edited,
                   prompt_number, created_at, created_at_epoch, source, model, origin)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
                 ON CONFLICT (origin) WHERE origin IS NOT NULL DO UPDATE SET
                   request = excluded.request, investigated = excluded.investigated,
                   learned = excluded.learned, completed = excluded.completed,
                   next_steps = excluded.next_steps, notes = excluded.notes
                 WHERE (request, investigated, learned, completed, next_steps, notes)
                   IS NOT (excluded.request, excluded.investigated, excluded.learned,
                           excluded.completed, excluded.next_steps, excluded.notes)
                 RETURNING id",
            )?
            .query_row(
                params![
                    r.session_id,
                    project,
                    r.project_name,
                    s.text.request,
                    s.text.investigated,
                    s.text.learned,
                    s.text.completed,
                    s.text.next_steps,
                    s.text.notes,
                    json(&s.text.files_read),
                    json(&s.text.files_edited),
                    r.prompt_number,
                    r.created_at,
                    r.created_at_epoch,
                    s.source,
                    s.model,
                    r.origin
                ],
                id,
            )
            .optional()?,
        MemoryBody::Prompt { prompt_text } => tx
            .prepare_cached(
                "INSERT INTO user_prompts (session_id, project, project_name, prompt_number,
                   prompt_text, created_at, created_at_epoch, origin)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (origin) WHERE origin IS NOT NULL DO UPDATE SET
                   prompt_text = excluded.prompt_text
                 WHERE prompt_text IS NOT excluded.prompt_text
                 RETURNING id",
            )?
            .query_row(
                params![
                    r.session_id,
                    project,
                    r.project_name,
                    r.prompt_number.unwrap_or(0),
                    prompt_text,
                    r.created_at,
                    r.created_at_epoch,
                    r.origin
                ],
                id,
            )
            .optional()?,
    };
    Ok(n)
}

/// Who wrote a teammate's record: `name@host`, or `None` for this member's own.
pub fn author(conn: &Connection, record: &str, id: i64) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached(
        "SELECT m.name || '@' || m.host FROM team_records t JOIN team_members m ON m.key = t.member
         WHERE t.record = ?1 AND t.id = ?2",
    )?
    .query_row(params![record, id], |r| r.get(0))
    .optional()
}

/// Mark each teammate's record among search hits with who wrote it.
pub fn annotate(
    conn: &Connection,
    mut r: claude_daemons::api::memory::SearchResults,
) -> rusqlite::Result<claude_daemons::api::memory::SearchResults> {
    use claude_daemons::api::memory::RecordKind;
    for h in &mut r.results {
        let kind = match h.record {
            RecordKind::Observation => "observation",
            RecordKind::Summary => "summary",
            RecordKind::Prompt => "prompt",
        };
        h.by = author(conn, kind, h.id)?;
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use claude_daemons::api::memory_transfer::ObservationFields;

    fn put_of(member: &str, id: i64, title: &str) -> (String, Payload) {
        let record = MemoryRecord {
            id,
            origin: format!("team:{member}:observation:{id}"),
            session_id: "s".into(),
            project: "github.com/o/r".into(),
            project_name: "r".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            created_at_epoch: 1,
            prompt_number: None,
            body: MemoryBody::Observation(ObservationFields {
                kind: "change".into(),
                title: title.into(),
                ..Default::default()
            }),
        };
        let p = Payload {
            name: "ann".into(),
            host: "h".into(),
            portable: "github.com/o/r".into(),
            op: Op::Put {
                record: Box::new(record),
            },
        };
        (member.into(), p)
    }

    fn titles(c: &Connection) -> Vec<(String, String)> {
        let mut st = c
            .prepare("SELECT project, title FROM observations ORDER BY id")
            .unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn stored_once_replaced_by_a_new_version_forgotten_only_by_its_author() {
        let (_d, mut c) = crate::schema::test_db();
        let first = put_of("ann", 7, "First title");
        let a = apply(&mut c, &[first.clone(), first.clone()]).unwrap();
        assert_eq!((a.stored, a.skipped), (1, 1), "the duplicate is skipped");
        // Kept under the portable name until the project is shared here, then moved.
        assert_eq!(
            titles(&c),
            [("github.com/o/r".into(), "First title".into())]
        );
        crate::share::outbox::enable(&mut c, "/src/r", "github.com/o/r").unwrap();
        assert_eq!(titles(&c), [("/src/r".into(), "First title".into())]);
        let a = apply(&mut c, &[put_of("ann", 7, "Second title")]).unwrap();
        assert_eq!(a.stored, 1);
        assert_eq!(titles(&c), [("/src/r".into(), "Second title".into())]);
        let id: i64 = c
            .query_row("SELECT id FROM observations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            author(&c, "observation", id).unwrap().as_deref(),
            Some("ann@h")
        );
        // Nothing of a teammate's record goes back out.
        assert_eq!(
            c.query_row("SELECT count(*) FROM share_outbox", [], |r| r
                .get::<_, i64>(0))
                .unwrap(),
            0
        );
        // Another member can neither overwrite nor forget ann's record.
        let mut forged = put_of("ann", 7, "Forged");
        forged.0 = "mallory".into();
        let tomb = |from: &str| {
            (
                from.to_string(),
                Payload {
                    op: Op::Del {
                        origin: "team:ann:observation:7".into(),
                    },
                    ..put_of("ann", 7, "x").1
                },
            )
        };
        let a = apply(&mut c, &[forged, tomb("mallory")]).unwrap();
        assert_eq!((a.stored, a.forgotten, a.skipped), (0, 0, 2));
        let a = apply(&mut c, &[tomb("ann")]).unwrap();
        assert_eq!(a.forgotten, 1);
        assert!(titles(&c).is_empty());
        assert_eq!(author(&c, "observation", id).unwrap(), None);
    }
}
