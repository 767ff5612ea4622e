//! Export and import of this daemon's own format (see
//! [`claude_daemons::api::memory_transfer`]): pages of records by id for `GET /v1/export`,
//! and batches stored all or nothing for `POST /v1/import/memory`. Every exported record has
//! an origin; importing stores an origin once, and recognises this instance's own records,
//! so importing twice, or into the memd that exported it, adds nothing.

use crate::bulk::{self, Clean, OnOrigin};
use crate::search::{parse_time, QueryError};
use claude_daemons::api::memory::RecordKind;
use claude_daemons::api::memory::SummaryText;
use claude_daemons::api::memory_transfer::{
    ExportPage, ExportQuery, MemoryBody, MemoryImportResult, MemoryRecord, ObservationFields,
    SummaryFields, MAX_TRANSFER_RECORDS,
};
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::collections::HashMap;

/// This database's instance id: made once, kept in `settings`.
pub fn instance(conn: &Connection) -> rusqlite::Result<String> {
    conn.execute(
        "INSERT OR IGNORE INTO settings (key, value) VALUES ('instance_id', lower(hex(randomblob(16))))",
        [],
    )?;
    conn.query_row(
        "SELECT value FROM settings WHERE key = 'instance_id'",
        [],
        |r| r.get(0),
    )
}

/// The table of a kind of record.
pub fn table(k: RecordKind) -> &'static str {
    match k {
        RecordKind::Observation => "observations",
        RecordKind::Summary => "session_summaries",
        RecordKind::Prompt => "user_prompts",
    }
}

fn name(k: RecordKind) -> &'static str {
    match k {
        RecordKind::Observation => "observation",
        RecordKind::Summary => "summary",
        RecordKind::Prompt => "prompt",
    }
}

fn list(text: String) -> Vec<String> {
    serde_json::from_str(&text).unwrap_or_default()
}

/// The columns every kind of record has, in [`MemoryRecord`] order (`body` reads from 8).
pub const COMMON: &str = "id, origin, session_id, project, project_name, created_at,
    created_at_epoch, prompt_number";

/// A kind's own fields of a row selected as `COMMON, fields(k)`.
pub fn body(k: RecordKind, r: &Row) -> rusqlite::Result<MemoryBody> {
    Ok(match k {
        RecordKind::Observation => MemoryBody::Observation(ObservationFields {
            kind: r.get(8)?,
            title: r.get(9)?,
            subtitle: r.get(10)?,
            facts: list(r.get(11)?),
            narrative: r.get(12)?,
            concepts: list(r.get(13)?),
            files_read: list(r.get(14)?),
            files_modified: list(r.get(15)?),
            discovery_tokens: r.get(16)?,
            source: r.get(17)?,
            model: r.get(18)?,
            edited_at: r.get(19)?,
        }),
        RecordKind::Summary => MemoryBody::Summary(SummaryFields {
            text: SummaryText {
                request: r.get(8)?,
                investigated: r.get(9)?,
                learned: r.get(10)?,
                completed: r.get(11)?,
                next_steps: r.get(12)?,
                notes: r.get(13)?,
                files_read: list(r.get(14)?),
                files_edited: list(r.get(15)?),
            },
            source: r.get(16)?,
            model: r.get(17)?,
        }),
        RecordKind::Prompt => MemoryBody::Prompt {
            prompt_text: r.get(8)?,
        },
    })
}

/// The columns of a kind's own fields, in the order [`body`] reads them.
pub fn fields(k: RecordKind) -> &'static str {
    match k {
        RecordKind::Observation => {
            "type, title, subtitle, facts, narrative, concepts, files_read, files_modified,
             discovery_tokens, source, model, edited_at"
        }
        RecordKind::Summary => {
            "request, investigated, learned, completed, next_steps, notes, files_read,
             files_edited, source, model"
        }
        RecordKind::Prompt => "prompt_text",
    }
}

/// One page of one kind of record, by id.
pub fn export(conn: &Connection, q: &ExportQuery) -> Result<ExportPage, QueryError> {
    let k = q.record.ok_or_else(|| {
        QueryError::Bad("record (observation, summary or prompt) is required".into())
    })?;
    let limit = q.limit.unwrap_or(1000).clamp(1, MAX_TRANSFER_RECORDS);
    let since = q
        .since
        .as_deref()
        .map(|t| parse_time(conn, t))
        .transpose()?;
    let mut projects = Vec::new();
    if let Some(p) = q.project.clone().filter(|p| !p.is_empty()) {
        if std::path::Path::new(&p).is_absolute() {
            projects.push(crate::project::Project::of(std::path::Path::new(&p)).key());
        }
        projects.push(p);
    }
    let me = instance(conn)?;
    let mut st = conn.prepare_cached(&format!(
        "SELECT {COMMON}, {} FROM {}
         WHERE id > ?1 AND (?2 IS NULL OR created_at_epoch >= ?2)
           AND (?3 OR project IN (SELECT value FROM json_each(?4))
                    OR project_name IN (SELECT value FROM json_each(?4)))
         ORDER BY id LIMIT ?5",
        fields(k),
        table(k)
    ))?;
    let rows = st.query_map(
        params![
            q.after.unwrap_or(0),
            since,
            projects.is_empty(),
            serde_json::to_string(&projects).unwrap_or_default(),
            limit
        ],
        |r| {
            let id: i64 = r.get(0)?;
            Ok(MemoryRecord {
                id,
                origin: r
                    .get::<_, Option<String>>(1)?
                    .unwrap_or_else(|| format!("claude-daemons:{me}:{}:{id}", name(k))),
                session_id: r.get(2)?,
                project: r.get(3)?,
                project_name: r.get(4)?,
                created_at: r.get(5)?,
                created_at_epoch: r.get(6)?,
                prompt_number: r.get(7)?,
                body: body(k, r)?,
            })
        },
    )?;
    let records = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    let next = (records.len() == limit as usize)
        .then(|| records.last().map(|r| r.id))
        .flatten();
    let now = conn.query_row("SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now')", [], |r| {
        r.get(0)
    })?;
    Ok(ExportPage {
        instance: me,
        now,
        records,
        next,
    })
}

/// A batch checked and cleaned (see [`prepare`]), ready for [`import`].
pub struct Prepared {
    records: Vec<Clean>,
    withheld: usize,
}

/// Check a batch and apply the privacy rules to it, before and outside the write
/// transaction (this is most of an import's work; see [`crate::bulk`]). A record that fails
/// its check refuses the batch, naming its index. Records of excluded projects, and prompts
/// with nothing left to keep, are withheld.
pub fn prepare(
    records: Vec<MemoryRecord>,
    exclude_projects: &[String],
) -> Result<Prepared, QueryError> {
    if records.len() > MAX_TRANSFER_RECORDS as usize {
        return Err(QueryError::Bad(format!(
            "at most {MAX_TRANSFER_RECORDS} records per call"
        )));
    }
    for (i, r) in records.iter().enumerate() {
        r.check()
            .map_err(|why| QueryError::Bad(format!("record {i} ({}): {why}", r.origin)))?;
    }
    let mut kept_out: HashMap<String, bool> = HashMap::new();
    let n = records.len();
    let kept: Vec<MemoryRecord> = records
        .into_iter()
        .filter(|r| {
            !*kept_out
                .entry(r.project.clone())
                .or_insert_with(|| crate::import::kept_out(&r.project, exclude_projects))
        })
        .collect();
    let records: Vec<Clean> = bulk::clean_all(kept).into_iter().flatten().collect();
    Ok(Prepared {
        withheld: n - records.len(),
        records,
    })
}

/// Store a prepared batch in one transaction: all or nothing.
pub fn import(conn: &mut Connection, batch: Prepared) -> Result<MemoryImportResult, QueryError> {
    let me = instance(conn)?;
    let own = format!("claude-daemons:{me}:");
    let mut out = MemoryImportResult {
        withheld: batch.withheld,
        ..MemoryImportResult::default()
    };
    // A batch touches more pages than the default cache holds (the full-text index's
    // merges read them back): without room, each is read again from the file.
    let cache: i64 = conn.query_row("PRAGMA cache_size", [], |r| r.get(0))?;
    conn.pragma_update(None, "cache_size", IMPORT_CACHE_KIB)?;
    // No fsync at each batch's commit (WAL: still at each checkpoint): an import is
    // idempotent, so a batch lost to a power cut is stored by running it again, and 50
    // fsyncs of 100,000 records' batches waited on the disk behind everything else's
    // writes. A crash of claude-memd loses nothing committed either way.
    let sync: i64 = conn.query_row("PRAGMA synchronous", [], |r| r.get(0))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    let stored = store(conn, batch.records, &own, &mut out);
    conn.pragma_update(None, "synchronous", sync)?;
    conn.pragma_update(None, "cache_size", cache)?;
    stored?;
    Ok(out)
}

/// Page cache while a batch is stored (negative: KiB), given back afterwards.
const IMPORT_CACHE_KIB: i64 = -32 * 1024;

fn store(
    conn: &mut Connection,
    records: Vec<Clean>,
    own: &str,
    out: &mut MemoryImportResult,
) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    // FTS5 merges segments as it writes them (a tenth of the daemon's CPU in an import);
    // the upkeep merges them all once the import stops (fts_upkeep.rs). Set back before
    // the commit, so a crash can leave nothing but the default.
    automerge(&tx, 0)?;
    for r in &records {
        let rec = r.record();
        if let Some(rest) = rec.origin.strip_prefix(own) {
            if is_here(&tx, rest)? {
                out.duplicates += 1;
                continue;
            }
        }
        match bulk::insert(&tx, r, &rec.project, OnOrigin::Keep)? {
            Some(_) => out.imported += 1,
            None => out.duplicates += 1,
        }
    }
    automerge(&tx, FTS5_AUTOMERGE)?;
    tx.commit()
}

/// FTS5's default `automerge`.
const FTS5_AUTOMERGE: i64 = 4;

/// Set `automerge` of every full-text index.
fn automerge(tx: &Connection, n: i64) -> rusqlite::Result<()> {
    for t in ["observations_fts", "summaries_fts", "prompts_fts"] {
        tx.execute(
            &format!("INSERT INTO {t}({t}, rank) VALUES ('automerge', ?1)"),
            [n],
        )?;
    }
    Ok(())
}

/// Whether this instance's record `<record>:<id>` is still here (it has no origin of its own).
fn is_here(tx: &Connection, rest: &str) -> rusqlite::Result<bool> {
    let Some((kind, id)) = rest.split_once(':') else {
        return Ok(false);
    };
    let (Ok(id), Some(t)) = (
        id.parse::<i64>(),
        match kind {
            "observation" => Some("observations"),
            "summary" => Some("session_summaries"),
            "prompt" => Some("user_prompts"),
            _ => None,
        },
    ) else {
        return Ok(false);
    };
    Ok(tx
        .prepare_cached(&format!(
            "SELECT 1 FROM {t} WHERE id = ?1 AND origin IS NULL"
        ))?
        .query_row([id], |_| Ok(()))
        .optional()?
        .is_some())
}
