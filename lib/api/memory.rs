//! claude-memd's API: hook intake, records, context, forgetting and retention. Search and
//! timeline are in [`super::memory_search`], claude-mem's import in
//! [`super::memory_import`], the export format in [`super::memory_transfer`]; the first
//! two are re-exported here. The seed 000 routes (`/api/*`, `/sessions/*`) keep that seed's
//! shapes and are built from these records.

use serde::{Deserialize, Serialize};

pub use super::memory_import::{
    validate_import, ImportBody, ImportInvalid, ImportProject, ImportRecord, ImportRequest,
    ImportResult, ImportedProject, MAX_IMPORT_BYTES, MAX_IMPORT_RECORDS,
};
pub use super::memory_search::{
    Match, SearchHit, SearchMode, SearchQuery, SearchResults, Timeline, TimelineItem,
    TimelineQuery, Who,
};

/// Largest hook payload claude-memd accepts (`413` above it) and claude-hook reads.
pub const MAX_HOOK_BYTES: usize = 8 << 20;

/// An error answer: `{"error": "…"}` with a 4xx or 5xx status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// What was wrong, for a person.
    pub error: String,
}

/// What happened to a hook event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Intake {
    /// Committed to the database.
    Stored,
    /// Already stored earlier (same session and `tool_use_id`); not stored again.
    Duplicate,
    /// Deliberately not stored (private prompt, skipped tool, excluded project).
    Skipped,
}

/// `POST /v1/hook` answer, sent only after the event is committed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HookAck {
    /// Stored, duplicate or skipped.
    pub intake: Intake,
    /// The event's row id (stored or duplicate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<i64>,
    /// Why it was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// SessionStart: the markdown to add to the model's context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

/// One observation, in full.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// Row id (the ID shown in context).
    pub id: i64,
    /// Claude's session id.
    pub session_id: String,
    /// Project identity: the git root path.
    pub project: String,
    /// Display name: the git root's basename.
    pub project_name: String,
    /// `change`, `discovery`, `bugfix`, `feature`, `refactor`, `decision`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// One line.
    pub title: String,
    /// A second line.
    pub subtitle: Option<String>,
    /// Short statements.
    pub facts: Vec<String>,
    /// A paragraph.
    pub narrative: Option<String>,
    /// `how-it-works`, `what-changed`, …
    pub concepts: Vec<String>,
    /// Files the work read.
    pub files_read: Vec<String>,
    /// Files the work changed.
    pub files_modified: Vec<String>,
    /// Which prompt of the session it belongs to.
    pub prompt_number: Option<i64>,
    /// The hook event it was built from.
    pub event_id: Option<i64>,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// Seconds since the epoch.
    pub created_at_epoch: i64,
    /// When a person last corrected it (`PATCH /v1/observations/{id}`), RFC 3339 UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<String>,
    /// A teammate's record: who wrote it (`name@host`, team memory); absent for records
    /// made here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// `PATCH /v1/observations/{id}` body: the fields to correct (absent ones stay). The record
/// keeps its id and files, and records when it was edited.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ObservationEdit {
    /// New title (not empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// New subtitle (empty removes it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subtitle: Option<String>,
    /// New facts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facts: Option<Vec<String>>,
    /// New narrative (empty removes it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub narrative: Option<String>,
    /// New type (one of [`OBSERVATION_TYPES`]).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// New concepts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concepts: Option<Vec<String>>,
}

/// The observation types a record may have.
pub const OBSERVATION_TYPES: &[&str] = &[
    "bugfix",
    "feature",
    "refactor",
    "change",
    "discovery",
    "decision",
    "security_alert",
    "security_note",
];

/// `POST /v1/forget` body: forget every record (observations, summaries, prompts) that
/// matches all the given filters; at least one filter is required.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ForgetRequest {
    /// Claude's session id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Project key (git root path), a directory inside it, or its display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Created before this time (RFC 3339 or seconds since the epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    /// Count what would be forgotten, forget nothing.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

/// `POST /v1/forget` answer: what was (or, for a dry run, would be) forgotten.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ForgetResult {
    /// Observations.
    pub observations: usize,
    /// Summaries.
    pub summaries: usize,
    /// Prompts.
    pub prompts: usize,
    /// Whether the WAL was emptied of the old pages (false for a dry run, or when other
    /// connections kept it busy).
    pub checkpointed: bool,
}

/// What a session summary says: the same fields wherever a summary travels (stored,
/// written by a provider, imported from claude-mem).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SummaryText {
    /// What the user asked.
    #[serde(default)]
    pub request: Option<String>,
    /// What was looked at.
    #[serde(default)]
    pub investigated: Option<String>,
    /// What was learned.
    #[serde(default)]
    pub learned: Option<String>,
    /// What was done.
    #[serde(default)]
    pub completed: Option<String>,
    /// What is left.
    #[serde(default)]
    pub next_steps: Option<String>,
    /// Anything else.
    #[serde(default)]
    pub notes: Option<String>,
    /// Files read in the session.
    #[serde(default)]
    pub files_read: Vec<String>,
    /// Files edited in the session.
    #[serde(default)]
    pub files_edited: Vec<String>,
}

/// One session summary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Row id.
    pub id: i64,
    /// Claude's session id.
    pub session_id: String,
    /// Project identity.
    pub project: String,
    /// What it says.
    #[serde(flatten)]
    pub text: SummaryText,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// A teammate's record: who wrote it (`name@host`); absent for records made here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// A stored user prompt (private parts removed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prompt {
    /// Row id.
    pub id: i64,
    /// Claude's session id.
    pub session_id: String,
    /// The prompt text.
    pub prompt: String,
    /// 1-based within the session.
    pub prompt_number: i64,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// A teammate's record: who wrote it (`name@host`); absent for records made here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// What a search or timeline item is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordKind {
    /// An observation.
    Observation,
    /// A session summary.
    Summary,
    /// A user prompt.
    Prompt,
}

/// `GET /v1/context` answer: what SessionStart injects.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Context {
    /// Project identity.
    pub project: String,
    /// The markdown.
    pub markdown: String,
    /// Observations shown.
    pub observations: usize,
    /// Estimated tokens (characters / 4).
    pub tokens: usize,
}

/// Most rows one batched `POST /v1/prune` call deletes (`limit` above it is refused).
pub const MAX_PRUNE_LIMIT: u32 = 50_000;

/// `POST /v1/prune` body. Without `limit`, everything old goes in one call (one
/// transaction); with it, at most `limit` rows per call, each call its own transaction, so
/// a client loops until `remaining` is 0 and an interruption between calls leaves a
/// consistent database.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PruneRequest {
    /// Delete records older than this many days (at least 1).
    pub older_than_days: u32,
    /// Rows to delete in this call (1 to [`MAX_PRUNE_LIMIT`]); absent: all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Count what would be deleted, delete nothing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

/// `POST /v1/prune` answer: what this call deleted (or, for a dry run, would delete) and
/// what is still old enough to go.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PruneResult {
    /// Observations deleted.
    pub observations: usize,
    /// Summaries deleted.
    pub summaries: usize,
    /// Prompts deleted.
    pub prompts: usize,
    /// Processed (done or failed) events deleted; pending ones are never deleted.
    pub events: usize,
    /// Sessions deleted (old, with no event left).
    #[serde(default)]
    pub sessions: usize,
    /// Pages returned to the file system by incremental vacuum (only in the call that
    /// leaves nothing to delete).
    pub freed_pages: i64,
    /// Rows still old enough to delete after this call (0 when done).
    #[serde(default)]
    pub remaining: usize,
    /// Whether this was a dry run.
    #[serde(default)]
    pub dry_run: bool,
}

impl PruneResult {
    /// Rows deleted (or counted) in all tables.
    pub fn rows(&self) -> usize {
        self.observations + self.summaries + self.prompts + self.events + self.sessions
    }
}
