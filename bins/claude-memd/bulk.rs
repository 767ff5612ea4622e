//! Storing records in bulk: the import of an export (`POST /v1/import/memory`, see
//! [`crate::transfer`]) and teammates' records (team memory, see [`crate::share::store`]).
//!
//! Both paths split the work the same way: what needs no database — the privacy rules over
//! every string — runs before the write transaction, off the database thread and on every
//! core ([`clean_all`]); the transaction then only inserts ([`insert`]), so it holds the
//! write lock for the SQL alone and hooks arriving meanwhile wait less.

use crate::privacy::{prompt_to_store, sanitize_observation, sanitize_str, sanitize_summary};
use claude_daemons::api::memory_transfer::{MemoryBody, MemoryRecord};
use rayon::prelude::*;
use rusqlite::{params, Connection, OptionalExtension};
use std::sync::LazyLock;

/// A record with the privacy rules applied to its text; made only by [`clean_all`], so a
/// record reaches [`insert`] only through them.
#[derive(Debug)]
pub struct Clean(MemoryRecord);

impl Clean {
    /// The record.
    pub fn record(&self) -> &MemoryRecord {
        &self.0
    }
}

/// Apply the privacy rules of the hooks to one record's text, in place: private parts and
/// injected context stripped, secrets redacted, a prompt clipped. `false` when nothing of it
/// may be kept (a prompt that was all private).
fn clean(r: &mut MemoryRecord) -> bool {
    match &mut r.body {
        MemoryBody::Prompt { prompt_text } => match prompt_to_store(prompt_text) {
            Some(k) => *prompt_text = k.text,
            None => return false,
        },
        MemoryBody::Observation(o) => sanitize_observation(o),
        MemoryBody::Summary(s) => {
            sanitize_summary(&mut s.text);
            sanitize_str(&mut s.source);
            s.model.iter_mut().for_each(sanitize_str);
        }
    }
    true
}

/// [`clean`] every record, in parallel (rayon's pool: one thread a core); `None` for a
/// record with nothing to keep. Order is kept.
pub fn clean_all(records: Vec<MemoryRecord>) -> Vec<Option<Clean>> {
    records
        .into_par_iter()
        .with_min_len(64)
        .map(|mut r| clean(&mut r).then_some(Clean(r)))
        .collect()
}

/// What to do when a record's origin is stored already.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnOrigin {
    /// Keep what is stored (an import: a record is stored once). The record keeps its id
    /// when that id is free here.
    Keep,
    /// Replace its text with this version when it differs (a teammate's edit), in place.
    Replace,
}

/// Store `r` under `project`: its row id when a row was written (`None`: its origin was
/// there already, unchanged or kept).
pub fn insert(
    tx: &Connection,
    r: &Clean,
    project: &str,
    on_origin: OnOrigin,
) -> rusqlite::Result<Option<i64>> {
    let (r, sql) = (&r.0, sql(&r.0.body, on_origin));
    let json = |v: &[String]| serde_json::to_string(v).expect("strings serialize");
    // `?1`: the id to keep; NULL (a new id) for a teammate's record.
    let id = (on_origin == OnOrigin::Keep).then_some(r.id);
    let mut st = tx.prepare_cached(sql)?;
    let row = |row: &rusqlite::Row| row.get::<_, i64>(0);
    match &r.body {
        MemoryBody::Observation(o) => st.query_row(
            params![
                id,
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
            row,
        ),
        MemoryBody::Summary(s) => st.query_row(
            params![
                id,
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
            row,
        ),
        MemoryBody::Prompt { prompt_text } => st.query_row(
            params![
                id,
                r.session_id,
                project,
                r.project_name,
                r.prompt_number.unwrap_or(0),
                prompt_text,
                r.created_at,
                r.created_at_epoch,
                r.origin
            ],
            row,
        ),
    }
    .optional()
}

/// A kind's table, its columns after `id` (bound as `?2`, `?3`, … in this order), and the
/// text columns a new version replaces.
struct Shape {
    table: &'static str,
    columns: &'static [&'static str],
    replaced: &'static [&'static str],
}

const SHAPES: [Shape; 3] = [
    Shape {
        table: "observations",
        columns: &[
            "session_id",
            "project",
            "project_name",
            "type",
            "title",
            "subtitle",
            "facts",
            "narrative",
            "concepts",
            "files_read",
            "files_modified",
            "prompt_number",
            "discovery_tokens",
            "created_at",
            "created_at_epoch",
            "source",
            "model",
            "edited_at",
            "origin",
        ],
        replaced: &[
            "type",
            "title",
            "subtitle",
            "facts",
            "narrative",
            "concepts",
            "edited_at",
        ],
    },
    Shape {
        table: "session_summaries",
        columns: &[
            "session_id",
            "project",
            "project_name",
            "request",
            "investigated",
            "learned",
            "completed",
            "next_steps",
            "notes",
            "files_read",
            "files_edited",
            "prompt_number",
            "created_at",
            "created_at_epoch",
            "source",
            "model",
            "origin",
        ],
        replaced: &[
            "request",
            "investigated",
            "learned",
            "completed",
            "next_steps",
            "notes",
        ],
    },
    Shape {
        table: "user_prompts",
        columns: &[
            "session_id",
            "project",
            "project_name",
            "prompt_number",
            "prompt_text",
            "created_at",
            "created_at_epoch",
            "origin",
        ],
        replaced: &["prompt_text"],
    },
];

/// The statement of each kind and policy: `[kind * 2 + (Replace as usize)]`.
static SQL: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut out = Vec::new();
    for s in &SHAPES {
        let cols = s.columns.join(", ");
        let values = (2..s.columns.len() + 2)
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(", ");
        out.push(format!(
            "INSERT INTO {t} (id, {cols})
             VALUES ((SELECT CASE WHEN EXISTS (SELECT 1 FROM {t} WHERE id = ?1) THEN NULL ELSE ?1 END),
               {values})
             ON CONFLICT (origin) WHERE origin IS NOT NULL DO NOTHING
             RETURNING id",
            t = s.table
        ));
        // The last column compared is `edited_at` for observations: an edit that changed
        // no text is not a new version.
        let text: Vec<&str> = s
            .replaced
            .iter()
            .copied()
            .filter(|c| *c != "edited_at")
            .collect();
        out.push(format!(
            "INSERT INTO {t} (id, {cols})
             VALUES (?1, {values})
             ON CONFLICT (origin) WHERE origin IS NOT NULL DO UPDATE SET {set}
             WHERE ({old}) IS NOT ({new})
             RETURNING id",
            t = s.table,
            set = s
                .replaced
                .iter()
                .map(|c| format!("{c} = excluded.{c}"))
                .collect::<Vec<_>>()
                .join(", "),
            old = text.join(", "),
            new = text
                .iter()
                .map(|c| format!("excluded.{c}"))
                .collect::<Vec<_>>()
                .join(", "),
        ));
    }
    out
});

fn sql(body: &MemoryBody, on_origin: OnOrigin) -> &'static str {
    let kind = match body {
        MemoryBody::Observation(_) => 0,
        MemoryBody::Summary(_) => 1,
        MemoryBody::Prompt { .. } => 2,
    };
    &SQL[kind * 2 + usize::from(on_origin == OnOrigin::Replace)]
}
