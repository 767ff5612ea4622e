//! The memory export format: versioned JSON Lines that `claudectl mem export` writes and
//! `claudectl mem import` reads back (documented in claude-daemons(7)).
//!
//! Line 1 is an [`ExportHeader`]; then one [`MemoryRecord`] per line (observations, then
//! summaries, then prompts, each oldest first); the last line is an [`ExportEnd`] with the
//! number of records, so a file cut at a line boundary is still known to be incomplete.
//! Every record has an `origin`, unique across machines, which makes importing idempotent.

use serde::{Deserialize, Serialize};

/// `format` of the header and `end` of the last line.
pub const FORMAT: &str = "claude-daemons-memory";
/// The version this build writes and reads.
pub const VERSION: u32 = 1;
/// Most records one `GET /v1/export` page or `POST /v1/import/memory` call holds.
pub const MAX_TRANSFER_RECORDS: u32 = 5_000;

/// The first line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportHeader {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`VERSION`] when written; a reader refuses a newer one.
    pub version: u32,
    /// When the export was written (RFC 3339 UTC).
    pub exported_at: String,
    /// The exporting claude-memd's instance id (the `origin` prefix of its own records).
    pub instance: String,
    /// The `--project` filter, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The `--since` filter, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
}

/// The last line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportEnd {
    /// Always [`FORMAT`].
    pub end: String,
    /// How many record lines came before.
    pub records: u64,
}

/// One record: what every kind has, and its kind's fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemoryRecord {
    /// Its id where it was exported (kept on import when that id is free).
    pub id: i64,
    /// Unique across machines: `claude-daemons:<instance>:<record>:<id>` for records made
    /// by claude-memd, or the origin they were imported with (`claude-mem:<table>:<id>`).
    pub origin: String,
    /// Claude's session id.
    pub session_id: String,
    /// Project identity: the git root's path (or a bare name).
    pub project: String,
    /// Display name.
    pub project_name: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// Seconds since the epoch.
    pub created_at_epoch: i64,
    /// Which prompt of the session it belongs to.
    #[serde(default)]
    pub prompt_number: Option<i64>,
    /// The kind and its fields.
    #[serde(flatten)]
    pub body: MemoryBody,
}

/// A record's kind-specific fields, tagged by `record`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "lowercase")]
pub enum MemoryBody {
    /// An observation.
    Observation(ObservationFields),
    /// A session summary.
    Summary(SummaryFields),
    /// A user prompt.
    Prompt {
        /// The prompt text.
        prompt_text: String,
    },
}

impl MemoryBody {
    /// `observation`, `summary` or `prompt`.
    pub fn name(&self) -> &'static str {
        match self {
            MemoryBody::Observation(_) => "observation",
            MemoryBody::Summary(_) => "summary",
            MemoryBody::Prompt { .. } => "prompt",
        }
    }
}

/// An observation's fields.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ObservationFields {
    /// `change`, `discovery`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// One line.
    pub title: String,
    /// A second line.
    #[serde(default)]
    pub subtitle: Option<String>,
    /// Short statements.
    #[serde(default)]
    pub facts: Vec<String>,
    /// A paragraph.
    #[serde(default)]
    pub narrative: Option<String>,
    /// `how-it-works`, …
    #[serde(default)]
    pub concepts: Vec<String>,
    /// Files read.
    #[serde(default)]
    pub files_read: Vec<String>,
    /// Files changed.
    #[serde(default)]
    pub files_modified: Vec<String>,
    /// Tokens the original work took.
    #[serde(default)]
    pub discovery_tokens: i64,
    /// Who wrote it: `local`, `claude`, `claude-mem`.
    #[serde(default = "local")]
    pub source: String,
    /// The model that wrote it.
    #[serde(default)]
    pub model: Option<String>,
    /// When a person corrected it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<String>,
}

/// A session summary's fields.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SummaryFields {
    /// What the summary says.
    #[serde(flatten)]
    pub text: super::memory::SummaryText,
    /// Who wrote it.
    #[serde(default = "local")]
    pub source: String,
    /// The model that wrote it.
    #[serde(default)]
    pub model: Option<String>,
}

fn local() -> String {
    "local".into()
}

impl MemoryRecord {
    /// What a reader must refuse in a record that parsed: a reason.
    pub fn check(&self) -> Result<(), String> {
        if self.origin.trim().is_empty() {
            return Err("origin is empty".into());
        }
        if self.session_id.is_empty() || self.project.is_empty() {
            return Err("session_id and project must not be empty".into());
        }
        if self.created_at.len() < 10 || !self.created_at.is_char_boundary(10) {
            return Err(format!("created_at {:?} is not a time", self.created_at));
        }
        match &self.body {
            MemoryBody::Observation(o) if o.title.trim().is_empty() || o.kind.is_empty() => {
                Err("an observation needs a type and a title".into())
            }
            MemoryBody::Prompt { prompt_text } if prompt_text.trim().is_empty() => {
                Err("a prompt needs its text".into())
            }
            _ => Ok(()),
        }
    }
}

/// `GET /v1/export` parameters: one page of one kind of record.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExportQuery {
    /// `observation`, `summary` or `prompt`.
    pub record: Option<super::memory::RecordKind>,
    /// Project key, a directory inside it, or its display name.
    pub project: Option<String>,
    /// Created at or after (RFC 3339 or seconds since the epoch).
    pub since: Option<String>,
    /// Records with a greater id than this (the previous page's `next`).
    pub after: Option<i64>,
    /// Page size (at most [`MAX_TRANSFER_RECORDS`]).
    pub limit: Option<u32>,
}

/// `GET /v1/export` answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExportPage {
    /// The exporting instance (see [`ExportHeader::instance`]).
    pub instance: String,
    /// The daemon's time of this answer (RFC 3339 UTC).
    pub now: String,
    /// The records, by id.
    pub records: Vec<MemoryRecord>,
    /// `after` for the next page; absent on the last one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<i64>,
}

/// `POST /v1/import/memory` body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryImport {
    /// At most [`MAX_TRANSFER_RECORDS`], stored in one transaction.
    pub records: Vec<MemoryRecord>,
}

/// `POST /v1/import/memory` answer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryImportResult {
    /// Records stored.
    pub imported: usize,
    /// Records already there (same origin, or this instance's own record).
    pub duplicates: usize,
    /// Records of excluded projects, or prompts with nothing left to keep.
    pub withheld: usize,
}
