//! claude-memd's search and timeline: `GET /v1/search` and `GET /v1/timeline`.

use super::memory::RecordKind;
use serde::{Deserialize, Serialize};

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
