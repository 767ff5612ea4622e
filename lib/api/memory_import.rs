//! `POST /v1/import`: records written by another memory system (claude-mem), as
//! `claudectl mem import` sends them.

use super::memory::SummaryText;
use super::memory_transfer::ObservationFields;
use serde::{Deserialize, Serialize};

/// Most records one `POST /v1/import` call takes.
pub const MAX_IMPORT_RECORDS: u32 = 2_000;

/// Largest `POST /v1/import` body (`413` above it).
pub const MAX_IMPORT_BYTES: usize = 16 << 20;

/// `POST /v1/import` body: records written by another memory system (claude-mem), stored
/// all or nothing in one transaction. Each record names its origin, and an origin is stored
/// once: sending the same records again stores nothing new.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// How to find the path of each project named in `records`.
    #[serde(default)]
    pub projects: Vec<ImportProject>,
    /// The records, at most [`MAX_IMPORT_RECORDS`].
    pub records: Vec<ImportRecord>,
}

/// What helps claude-memd turn a foreign project name (a git root's basename) into its own
/// project identity (the git root's path).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportProject {
    /// The name the records use.
    pub name: String,
    /// A directory the user says holds this project (`--project NAME=DIR`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
    /// Absolute paths of files the project's records touched, to find its git root.
    #[serde(default)]
    pub paths: Vec<String>,
}

/// One imported record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportRecord {
    /// Where it comes from, unique per record: `claude-mem:<table>:<id>`.
    pub origin: String,
    /// Claude's session id.
    pub session_id: String,
    /// The foreign project name (see [`ImportRequest::projects`]).
    pub project: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// Seconds since the epoch.
    pub created_at_epoch: i64,
    /// Which prompt of the session it belongs to.
    #[serde(default)]
    pub prompt_number: Option<i64>,
    /// The record itself.
    #[serde(flatten)]
    pub body: ImportBody,
}

/// The kind-specific part of an [`ImportRecord`], tagged by `record`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "lowercase")]
pub enum ImportBody {
    /// An observation.
    /// Its `source` and `edited_at` are not read: an import of claude-mem's records stores
    /// them as written by `claude-mem`.
    Observation(ObservationFields),
    /// A session summary.
    Summary(SummaryText),
    /// A user prompt.
    Prompt {
        /// The prompt text.
        prompt_text: String,
    },
}

/// Longest origin accepted.
const MAX_ORIGIN: usize = 200;

/// Why an import batch was refused, naming the record.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct ImportInvalid(pub String);

fn bad(i: usize, r: &ImportRecord, why: &str) -> ImportInvalid {
    ImportInvalid(format!("record {i} ({}): {why}", r.origin))
}

/// Check every record of an import before anything is written (claude-memd refuses the
/// whole batch with this reason, a 400).
pub fn validate_import(req: &ImportRequest) -> Result<(), ImportInvalid> {
    if req.records.len() > MAX_IMPORT_RECORDS as usize {
        return Err(ImportInvalid(format!(
            "at most {MAX_IMPORT_RECORDS} records per request, got {}",
            req.records.len()
        )));
    }
    for (i, r) in req.records.iter().enumerate() {
        if r.origin.trim().is_empty() || r.origin.len() > MAX_ORIGIN {
            return Err(bad(i, r, "origin must be 1 to 200 characters"));
        }
        if r.session_id.trim().is_empty() {
            return Err(bad(i, r, "session_id is empty"));
        }
        if r.project.trim().is_empty() {
            return Err(bad(i, r, "project is empty"));
        }
        if r.created_at.trim().is_empty() || r.created_at_epoch <= 0 {
            return Err(bad(
                i,
                r,
                "created_at and a positive created_at_epoch are required",
            ));
        }
        match &r.body {
            ImportBody::Observation(o) if o.kind.trim().is_empty() || o.title.trim().is_empty() => {
                return Err(bad(i, r, "an observation needs a type and a title"));
            }
            ImportBody::Prompt { .. } if r.prompt_number.is_none() => {
                return Err(bad(i, r, "a prompt needs a prompt_number"));
            }
            _ => {}
        }
    }
    Ok(())
}

/// `POST /v1/import` answer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ImportResult {
    /// Records stored by this call.
    pub imported: usize,
    /// Records whose origin was already stored (not stored again).
    pub duplicates: usize,
    /// Records left out because nothing of them may be stored (a fully private prompt).
    #[serde(default)]
    pub withheld: usize,
    /// Where each project name of the request went.
    pub projects: Vec<ImportedProject>,
}

/// Where a foreign project name was put.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportedProject {
    /// The foreign name.
    pub name: String,
    /// The project key used: a git root's path, or the bare name when none was found.
    pub project: String,
    /// How it was found: `dir`, `known`, `files` or `unmapped`.
    pub how: String,
}
