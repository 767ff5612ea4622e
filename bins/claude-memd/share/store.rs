//! Storing what teammates published: a record is kept once per origin (a new version
//! replaces the old text in place, with no copy left), a tombstone forgets it for good, and
//! who wrote it is kept beside it. A record of a project shared here lands in that
//! project; others wait under their portable identity until it is shared (see
//! [`super::outbox::enable`]).

use super::crypto::{Op, Payload};
use crate::bulk::{self, Clean, OnOrigin};
use crate::forget::{self, Record};
use claude_daemons::api::memory_transfer::MemoryBody;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashMap;

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

/// A verified message, ready to store: a record's text already through the privacy rules
/// (see [`prepare`]).
pub struct Ready {
    from: String,
    name: String,
    host: String,
    portable: String,
    op: ReadyOp,
}

enum ReadyOp {
    Put(Box<Clean>),
    Del(String),
    /// A record with nothing to keep.
    Nothing,
}

/// Make verified messages `(sender key, payload)` ready to store: the sender ran the privacy
/// pipeline, but it runs again here in case its version was older. In parallel, and before
/// (outside) the write transaction.
pub fn prepare(batch: Vec<(String, Payload)>) -> Vec<Ready> {
    let mut records = Vec::new();
    let mut heads = Vec::with_capacity(batch.len());
    for (from, p) in batch {
        let op = match p.op {
            Op::Put { record } => {
                records.push(*record);
                None
            }
            Op::Del { origin } => Some(ReadyOp::Del(origin)),
        };
        heads.push((from, p.name, p.host, p.portable, op));
    }
    let mut clean = bulk::clean_all(records).into_iter();
    heads
        .into_iter()
        .map(|(from, name, host, portable, op)| Ready {
            from,
            name,
            host,
            portable,
            op: op.unwrap_or_else(|| match clean.next().flatten() {
                Some(c) => ReadyOp::Put(Box::new(c)),
                None => ReadyOp::Nothing,
            }),
        })
        .collect()
}

/// Apply a batch of prepared messages in one transaction.
pub fn apply(conn: &mut Connection, batch: &[Ready]) -> rusqlite::Result<Applied> {
    forget::secure(conn)?;
    let tx = conn.transaction()?;
    for fts in ["observations_fts", "summaries_fts", "prompts_fts"] {
        tx.execute(
            &format!("INSERT INTO {fts}({fts}, rank) VALUES ('secure-delete', 1)"),
            [],
        )?;
    }
    let mut out = Applied::default();
    // Once a batch each: the members seen, and where each portable project is kept here.
    let mut members: HashMap<&str, (&str, &str)> = HashMap::new();
    let mut projects: HashMap<&str, String> = HashMap::new();
    for m in batch {
        let from = m.from.as_str();
        members.insert(from, (&m.name, &m.host));
        match &m.op {
            ReadyOp::Nothing => out.skipped += 1,
            ReadyOp::Del(origin) => {
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
            ReadyOp::Put(clean) => {
                let record = clean.record();
                // A member speaks for its own records only.
                if !record.origin.starts_with(&format!("team:{from}:")) || record.check().is_err() {
                    out.skipped += 1;
                    continue;
                }
                if !projects.contains_key(m.portable.as_str()) {
                    let p = super::outbox::local_of(&tx, &m.portable)?
                        .unwrap_or_else(|| m.portable.clone());
                    projects.insert(&m.portable, p);
                }
                let project = &projects[m.portable.as_str()];
                if let Some(id) = bulk::insert(&tx, clean, project, OnOrigin::Replace)? {
                    let kind = table(&record.body).1;
                    tx.prepare_cached(
                        "INSERT INTO team_records (record, id, member, portable) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT DO UPDATE SET member = ?3, portable = ?4",
                    )?
                    .execute(params![kind.name(), id, from, m.portable])?;
                    out.stored += 1;
                } else {
                    out.skipped += 1;
                }
            }
        }
    }
    for (key, (name, host)) in members {
        tx.prepare_cached(
            "INSERT INTO team_members (key, name, host) VALUES (?1, ?2, ?3)
             ON CONFLICT (key) DO UPDATE SET name = ?2, host = ?3, last_seen_epoch = unixepoch()",
        )?
        .execute(params![key, name, host])?;
    }
    tx.commit()?;
    Ok(out)
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
    use claude_daemons::api::memory_transfer::{MemoryRecord, ObservationFields};

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
        let a = apply(&mut c, &prepare(vec![first.clone(), first.clone()])).unwrap();
        assert_eq!((a.stored, a.skipped), (1, 1), "the duplicate is skipped");
        // Kept under the portable name until the project is shared here, then moved.
        assert_eq!(
            titles(&c),
            [("github.com/o/r".into(), "First title".into())]
        );
        crate::share::outbox::enable(&mut c, "/src/r", "github.com/o/r").unwrap();
        assert_eq!(titles(&c), [("/src/r".into(), "First title".into())]);
        let a = apply(&mut c, &prepare(vec![put_of("ann", 7, "Second title")])).unwrap();
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
        let a = apply(&mut c, &prepare(vec![forged, tomb("mallory")])).unwrap();
        assert_eq!((a.stored, a.forgotten, a.skipped), (0, 0, 2));
        let a = apply(&mut c, &prepare(vec![tomb("ann")])).unwrap();
        assert_eq!(a.forgotten, 1);
        assert!(titles(&c).is_empty());
        assert_eq!(author(&c, "observation", id).unwrap(), None);
    }
}
