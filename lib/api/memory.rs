//! claude-memd's API: hook intake, records, search, timeline, context and retention.
//! The seed 000 routes (`/api/*`, `/sessions/*`) keep that seed's shapes and are built from
//! these records.

use serde::{Deserialize, Serialize};

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

/// `GET /v1/search` parameters.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchQuery {
    /// What to find: words (each also as a prefix, stemmed), `"quoted phrases"` and
    /// `-excluded` words. Every word must match, or, when that finds nothing, any word.
    /// FTS5 syntax is not interpreted.
    pub q: String,
    /// Project path or display name.
    pub project: Option<String>,
    /// Observation type (`change`, `discovery`, …); restricts the search to observations.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// A file path (or part of one) the observation read or modified.
    pub file: Option<String>,
    /// Only `observation`, `summary` or `prompt` records.
    pub record: Option<RecordKind>,
    /// Created at or after (RFC 3339 or seconds since the epoch).
    pub since: Option<String>,
    /// Created before (RFC 3339 or seconds since the epoch).
    pub until: Option<String>,
    /// Page size (default 20, at most 200).
    pub limit: Option<u32>,
    /// Page offset.
    pub offset: Option<u32>,
    /// Lexical (BM25), semantic (embedding similarity) or hybrid (both, fused); hybrid when
    /// an embedding model is installed, else lexical.
    pub mode: Option<SearchMode>,
    /// Only this member's records (`mine`) or only teammates' (`team`); both by default.
    pub who: Option<Who>,
}

/// Whose records a search returns (team memory).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Who {
    /// Records made here.
    Mine,
    /// Records teammates shared.
    Team,
}

impl Who {
    /// `mine` or `team`.
    pub fn as_str(self) -> &'static str {
        match self {
            Who::Mine => "mine",
            Who::Team => "team",
        }
    }
}

/// How `GET /v1/search` finds records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// Full-text: the records that hold the words.
    Lexical,
    /// Meaning: the records whose embeddings are closest to the query's.
    Semantic,
    /// Both, fused by reciprocal rank.
    Hybrid,
}

/// One search hit: a compact index line, fetch the full record by id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    /// What it is.
    pub record: RecordKind,
    /// Its id in its table.
    pub id: i64,
    /// Observation type, for observations.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Title (observation), request (summary) or prompt start.
    pub title: String,
    /// The matching passage with `[` `]` around the matched words.
    pub snippet: String,
    /// Project identity.
    pub project: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// BM25 rank (lower is better).
    pub rank: f64,
    /// A teammate's record: who wrote it (`name@host`); absent for this member's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// `GET /v1/search` answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchResults {
    /// Hits, best first.
    pub results: Vec<SearchHit>,
    /// Whether another page exists.
    #[serde(rename = "hasMore")]
    pub has_more: bool,
    /// The page size used.
    pub limit: u32,
    /// The offset used.
    pub offset: u32,
    /// Which query found these: every word (`all`), or, when that found nothing, any word
    /// (`any`).
    #[serde(rename = "match", default)]
    pub matched: Match,
}

/// How a search matched the query's words.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Match {
    /// Every word (phrase) matched.
    #[default]
    All,
    /// Every-word matching found nothing; these match at least one word.
    Any,
}

/// `GET /v1/timeline` parameters: around an observation id or a time.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimelineQuery {
    /// An observation id to center on.
    pub anchor: Option<i64>,
    /// A time to center on (RFC 3339 or seconds since the epoch).
    pub at: Option<String>,
    /// Project path or name (defaults to the anchor's project).
    pub project: Option<String>,
    /// Items before the center (default 10, at most 100).
    pub before: Option<u32>,
    /// Items after the center (default 10, at most 100).
    pub after: Option<u32>,
}

/// One timeline item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimelineItem {
    /// What it is.
    pub record: RecordKind,
    /// Its id.
    pub id: i64,
    /// Observation type, for observations.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// One line.
    pub title: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// Whether this is the anchor.
    #[serde(default)]
    pub anchor: bool,
}

/// `GET /v1/timeline` answer, oldest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    /// Items in time order.
    pub items: Vec<TimelineItem>,
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
    Observation(ImportedObservation),
    /// A session summary.
    Summary(SummaryText),
    /// A user prompt.
    Prompt {
        /// The prompt text.
        prompt_text: String,
    },
}

/// An imported observation's fields (see [`Observation`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ImportedObservation {
    /// `change`, `discovery`, `bugfix`, …
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
    /// The model that wrote it.
    #[serde(default)]
    pub model: Option<String>,
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
