//! Reading a claude-mem database (thedotmack/claude-mem, `~/.claude-mem/claude-mem.db`):
//! opened read-only (its worker may be writing to it, in WAL mode), checked to be one, and
//! its observations, summaries and prompts read as claude-memd's import records. A row that
//! cannot be read is a rejection with its reason, never a half record.

use claude_daemons::api::memory::{ImportBody, ImportProject, ImportRecord, SummaryText};
use claude_daemons::api::memory_transfer::ObservationFields;
use rusqlite::{Connection, OpenFlags, Row};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why the file cannot be imported; nothing was sent to claude-memd.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// No such file.
    #[error("{0}: no such file (claude-mem keeps its database at ~/.claude-mem/claude-mem.db)")]
    Missing(PathBuf),
    /// A directory or another kind of non-file.
    #[error("{0}: not a file (give the path of claude-mem.db)")]
    NotAFile(PathBuf),
    /// Not SQLite, or unreadable.
    #[error("{path}: not a readable SQLite database ({source})")]
    NotSqlite {
        /// The file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// SQLite, but not claude-mem's.
    #[error("{path}: not a claude-mem database ({why})")]
    NotClaudeMem {
        /// The file.
        path: PathBuf,
        /// What is missing.
        why: String,
    },
    /// Reading failed part way.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
}

/// A row that was not imported, and why.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Rejection {
    /// `claude-mem:<table>:<id>`.
    pub origin: String,
    /// Why.
    pub reason: String,
}

/// The columns each table must have. `memory_session_id` was `sdk_session_id` in older
/// claude-mem versions; either is accepted.
const REQUIRED: [(&str, &[&str]); 4] = [
    ("sdk_sessions", &["content_session_id", "project"]),
    (
        "observations",
        &[
            "id",
            "project",
            "type",
            "title",
            "subtitle",
            "facts",
            "narrative",
            "concepts",
            "files_read",
            "files_modified",
            "prompt_number",
            "created_at_epoch",
        ],
    ),
    (
        "session_summaries",
        &[
            "id",
            "project",
            "request",
            "investigated",
            "learned",
            "completed",
            "next_steps",
            "notes",
            "prompt_number",
            "created_at_epoch",
        ],
    ),
    (
        "user_prompts",
        &[
            "id",
            "content_session_id",
            "prompt_number",
            "prompt_text",
            "created_at_epoch",
        ],
    ),
];

/// An open claude-mem database.
pub struct ClaudeMem {
    path: PathBuf,
    conn: Connection,
    /// The memory-session column: `memory_session_id` or (older) `sdk_session_id`.
    msid: &'static str,
    columns: BTreeMap<String, Vec<String>>,
}

/// Seconds since the epoch from claude-mem's epoch column (milliseconds in its rows).
const EPOCH: &str = "(CASE WHEN t.created_at_epoch > 100000000000
    THEN t.created_at_epoch / 1000 ELSE t.created_at_epoch END)";

impl ClaudeMem {
    /// Open `path` read-only and check that it is a claude-mem database.
    pub fn open(path: &Path) -> Result<ClaudeMem, SourceError> {
        if !path.exists() {
            return Err(SourceError::Missing(path.to_path_buf()));
        }
        if !path.is_file() {
            return Err(SourceError::NotAFile(path.to_path_buf()));
        }
        let not_sqlite = |source| SourceError::NotSqlite {
            path: path.to_path_buf(),
            source,
        };
        // mode=ro and query_only: SQLite never writes the database or its WAL; the worker's
        // WAL, if any, is read as it is. (A WAL reader may create the empty -shm/-wal side
        // files when they are missing, as claude-mem's worker does when it starts.)
        let uri = format!("file:{}?mode=ro", uri_path(path));
        let conn = Connection::open_with_flags(
            uri,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(not_sqlite)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(not_sqlite)?;
        conn.pragma_update(None, "query_only", true)
            .map_err(not_sqlite)?;
        let mut columns = BTreeMap::new();
        {
            let mut st = conn
                .prepare("SELECT m.name, p.name FROM sqlite_schema m, pragma_table_info(m.name) p WHERE m.type = 'table'")
                .map_err(not_sqlite)?;
            let rows = st
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(not_sqlite)?;
            for row in rows {
                let (t, c) = row.map_err(not_sqlite)?;
                columns.entry(t).or_insert_with(Vec::new).push(c);
            }
        }
        let not_ours = |why: String| SourceError::NotClaudeMem {
            path: path.to_path_buf(),
            why,
        };
        for (table, cols) in REQUIRED {
            let Some(have) = columns.get(table) else {
                return Err(not_ours(format!("no table {table}")));
            };
            let missing: Vec<&str> = cols
                .iter()
                .copied()
                .filter(|c| !have.iter().any(|h| h == c))
                .collect();
            if !missing.is_empty() {
                return Err(not_ours(format!(
                    "table {table} has no column {}",
                    missing.join(", ")
                )));
            }
        }
        let has = |t: &str, c: &str| columns[t].iter().any(|h| h == c);
        let msid = ["memory_session_id", "sdk_session_id"]
            .into_iter()
            .find(|c| {
                has("sdk_sessions", c) && has("observations", c) && has("session_summaries", c)
            })
            .ok_or_else(|| {
                not_ours("no memory_session_id (or sdk_session_id) column in sdk_sessions, observations and session_summaries".into())
            })?;
        Ok(ClaudeMem {
            path: path.to_path_buf(),
            conn,
            msid,
            columns,
        })
    }

    fn read_err(&self, source: rusqlite::Error) -> SourceError {
        SourceError::Read {
            path: self.path.clone(),
            source,
        }
    }

    /// An optional column of `table`, or NULL.
    fn opt(&self, table: &str, col: &str) -> String {
        if self.columns[table].iter().any(|c| c == col) {
            format!("t.{col}")
        } else {
            "NULL".into()
        }
    }

    /// Rows in the three tables that are imported.
    pub fn total(&self) -> Result<u64, SourceError> {
        self.conn
            .query_row(
                "SELECT (SELECT count(*) FROM observations) + (SELECT count(*) FROM session_summaries)
                      + (SELECT count(*) FROM user_prompts)",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(|e| self.read_err(e))
    }

    /// The project name a row of `table` belongs to in claude-mem: the project it was
    /// merged into (claude-mem's adoption of worktree rows by their parent), else its own.
    fn project_expr(&self, table: &str) -> String {
        match self.opt(table, "merged_into_project").as_str() {
            "NULL" => "t.project".into(),
            merged => format!("coalesce(nullif({merged}, ''), t.project)"),
        }
    }

    /// Per project, up to 20 absolute file paths its observations touched (the newest
    /// first), so claude-memd can find the repository.
    pub fn projects(&self) -> Result<Vec<ImportProject>, SourceError> {
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT {}, t.files_modified, t.files_read FROM observations t ORDER BY t.id DESC",
                self.project_expr("observations")
            ))
            .map_err(|e| self.read_err(e))?;
        let mut rows = st.query([]).map_err(|e| self.read_err(e))?;
        let mut out: BTreeMap<String, ImportProject> = BTreeMap::new();
        while let Some(r) = rows.next().map_err(|e| self.read_err(e))? {
            let Ok(Some(name)) = r.get::<_, Option<String>>(0) else {
                continue;
            };
            let name = main_project(&name);
            let p = out.entry(name.clone()).or_insert_with(|| ImportProject {
                name,
                ..ImportProject::default()
            });
            for i in [1, 2] {
                let text: Option<String> = r.get(i).unwrap_or(None);
                let files: Vec<String> = text
                    .and_then(|t| serde_json::from_str(&t).ok())
                    .unwrap_or_default();
                for f in files {
                    if p.paths.len() < 20 && f.starts_with('/') && !p.paths.contains(&f) {
                        p.paths.push(f);
                    }
                }
            }
        }
        Ok(out.into_values().collect())
    }

    /// Every observation, summary and prompt, oldest first within each table, as a record
    /// or a rejection; `each` returns false to stop.
    pub fn read(
        &self,
        mut each: impl FnMut(Result<ImportRecord, Rejection>) -> bool,
    ) -> Result<(), SourceError> {
        let m = self.msid;
        let queries = [
            (
                "observations",
                format!(
                    "SELECT t.id, coalesce(s.content_session_id, t.{m}), {}, t.prompt_number,
                       strftime('%Y-%m-%dT%H:%M:%fZ', {EPOCH}, 'unixepoch'), {EPOCH},
                       t.type, t.title, t.subtitle, t.facts, t.narrative, t.concepts, t.files_read,
                       t.files_modified, {}, {}, {}
                     FROM observations t LEFT JOIN sdk_sessions s ON s.{m} = t.{m} ORDER BY t.id",
                    self.project_expr("observations"),
                    self.opt("observations", "text"),
                    self.opt("observations", "discovery_tokens"),
                    self.opt("observations", "generated_by_model"),
                ),
            ),
            (
                "session_summaries",
                format!(
                    "SELECT t.id, coalesce(s.content_session_id, t.{m}), {}, t.prompt_number,
                       strftime('%Y-%m-%dT%H:%M:%fZ', {EPOCH}, 'unixepoch'), {EPOCH},
                       t.request, t.investigated, t.learned, t.completed, t.next_steps, t.notes,
                       {}, {}
                     FROM session_summaries t LEFT JOIN sdk_sessions s ON s.{m} = t.{m} ORDER BY t.id",
                    self.project_expr("session_summaries"),
                    self.opt("session_summaries", "files_read"),
                    self.opt("session_summaries", "files_edited"),
                ),
            ),
            (
                "user_prompts",
                format!(
                    "SELECT t.id, t.content_session_id, s.project, t.prompt_number,
                       strftime('%Y-%m-%dT%H:%M:%fZ', {EPOCH}, 'unixepoch'), {EPOCH},
                       t.prompt_text
                     FROM user_prompts t LEFT JOIN sdk_sessions s
                       ON s.content_session_id = t.content_session_id ORDER BY t.id"
                ),
            ),
        ];
        for (table, sql) in queries {
            let mut st = self.conn.prepare(&sql).map_err(|e| self.read_err(e))?;
            let mut rows = st.query([]).map_err(|e| self.read_err(e))?;
            while let Some(r) = rows.next().map_err(|e| self.read_err(e))? {
                let id: i64 = r.get(0).map_err(|e| self.read_err(e))?;
                let origin = format!("claude-mem:{table}:{id}");
                let item = record(table, r).map_err(|reason| Rejection {
                    origin: origin.clone(),
                    reason,
                });
                let item = item.map(|(head, body)| ImportRecord {
                    origin,
                    session_id: head.0,
                    project: head.1,
                    prompt_number: head.2,
                    created_at: head.3,
                    created_at_epoch: head.4,
                    body,
                });
                if !each(item) {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

/// Session, project, prompt number, created at, epoch.
type Head = (String, String, Option<i64>, String, i64);

/// One row as a record, or why not.
fn record(table: &str, r: &Row) -> Result<(Head, ImportBody), String> {
    let text = |i: usize, name: &str| -> Result<Option<String>, String> {
        let v: Option<String> = r
            .get::<_, Option<String>>(i)
            .map_err(|e| format!("{name}: {e}"))?;
        Ok(v.filter(|s| !s.trim().is_empty()))
    };
    let session = text(1, "session id")?.ok_or("no session id")?;
    let project = text(2, "project")?
        .map(|p| main_project(&p))
        .ok_or("no project (and no session row naming one)")?;
    let prompt_number: Option<i64> = r.get(3).map_err(|e| format!("prompt_number: {e}"))?;
    let created_at = text(4, "created_at_epoch")?.ok_or("no valid created_at_epoch")?;
    let epoch: i64 = r.get(5).map_err(|e| format!("created_at_epoch: {e}"))?;
    // What claude-memd would refuse is refused here, one row at a time: a refused batch
    // would stop every later import at the same row.
    if epoch <= 0 {
        return Err("created_at_epoch is not a positive time".into());
    }
    let head = (session, project, prompt_number, created_at, epoch);
    let body = match table {
        "observations" => {
            let legacy = text(14, "text")?;
            let narrative = text(10, "narrative")?.or_else(|| legacy.clone());
            let title = text(7, "title")?
                .or_else(|| {
                    narrative
                        .as_deref()
                        .and_then(|n| n.lines().find(|l| !l.trim().is_empty()))
                        .map(|l| l.trim().chars().take(120).collect())
                })
                .ok_or("no title and no text")?;
            ImportBody::Observation(ObservationFields {
                kind: text(6, "type")?.ok_or("no type")?,
                title,
                subtitle: text(8, "subtitle")?,
                facts: list(r, 9, "facts")?,
                narrative,
                concepts: list(r, 11, "concepts")?,
                files_read: list(r, 12, "files_read")?,
                files_modified: list(r, 13, "files_modified")?,
                discovery_tokens: r.get::<_, Option<i64>>(15).ok().flatten().unwrap_or(0),
                model: text(16, "generated_by_model")?,
                source: "claude-mem".into(),
                edited_at: None,
            })
        }
        "session_summaries" => {
            let s = SummaryText {
                request: text(6, "request")?,
                investigated: text(7, "investigated")?,
                learned: text(8, "learned")?,
                completed: text(9, "completed")?,
                next_steps: text(10, "next_steps")?,
                notes: text(11, "notes")?,
                files_read: list(r, 12, "files_read")?,
                files_edited: list(r, 13, "files_edited")?,
            };
            let fields = [
                &s.request,
                &s.investigated,
                &s.learned,
                &s.completed,
                &s.next_steps,
                &s.notes,
            ];
            if fields.iter().all(|f| f.is_none()) {
                return Err("an empty summary".into());
            }
            ImportBody::Summary(s)
        }
        _ => {
            if head.2.is_none() {
                return Err("no prompt_number".into());
            }
            ImportBody::Prompt {
                prompt_text: text(6, "prompt_text")?.ok_or("an empty prompt")?,
            }
        }
    };
    Ok((head, body))
}

/// claude-mem names a worktree's project `<main>/<worktree>`; claude-memd groups worktrees
/// under their main repository, so the worktree's records go to `<main>`.
fn main_project(name: &str) -> String {
    name.split('/')
        .find(|part| !part.trim().is_empty())
        .unwrap_or(name)
        .to_string()
}

/// A JSON list of strings (claude-mem stores lists as JSON text); NULL or empty is `[]`.
fn list(r: &Row, i: usize, name: &str) -> Result<Vec<String>, String> {
    let v: Option<String> = r.get(i).map_err(|e| format!("{name}: {e}"))?;
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(Vec::new()),
        Some(t) => serde_json::from_str(t)
            .map_err(|e| format!("{name} is not a JSON list of strings ({e})")),
    }
}

/// `path` for a `file:` URI: absolute, with `%`, `?` and `#` escaped.
fn uri_path(path: &Path) -> String {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    abs.to_string_lossy()
        .replace('%', "%25")
        .replace('?', "%3f")
        .replace('#', "%23")
}
