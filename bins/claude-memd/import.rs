//! Records imported from another memory system (claude-mem): where each foreign project
//! goes, checks, and one transaction per batch in which an origin already stored is skipped.

use crate::privacy::{prompt_to_store, sanitize};
use crate::project::Project;
use claude_daemons::api::memory::{
    ImportBody, ImportProject, ImportRecord, ImportRequest, ImportResult, ImportedProject,
    MAX_IMPORT_RECORDS,
};
use rusqlite::{params, Connection};
use std::collections::BTreeMap;
use std::path::Path;

/// Longest origin accepted.
const MAX_ORIGIN: usize = 200;

/// Why a batch was refused; nothing of it was stored.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The request is wrong (a 400).
    #[error("{0}")]
    Bad(String),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
}

fn bad(i: usize, r: &ImportRecord, why: &str) -> ImportError {
    ImportError::Bad(format!("record {i} ({}): {why}", r.origin))
}

/// Check every record before anything is written.
pub fn validate(req: &ImportRequest) -> Result<(), ImportError> {
    if req.records.len() > MAX_IMPORT_RECORDS as usize {
        return Err(ImportError::Bad(format!(
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

/// The project key and display name for a foreign project name, and how they were found.
pub fn resolve(conn: &Connection, hint: &ImportProject) -> rusqlite::Result<ImportedProject> {
    let found = |project: Project, how: &str| ImportedProject {
        name: hint.name.clone(),
        project: project.key(),
        how: how.into(),
    };
    if let Some(dir) = &hint.dir {
        return Ok(found(Project::of(Path::new(dir)), "dir"));
    }
    let known: Vec<String> = conn
        .prepare_cached(
            "SELECT project FROM sessions WHERE project_name = ?1
             UNION SELECT project FROM observations WHERE project_name = ?1 AND project <> ?1",
        )?
        .query_map([&hint.name], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if let [one] = known.as_slice() {
        return Ok(ImportedProject {
            name: hint.name.clone(),
            project: one.clone(),
            how: "known".into(),
        });
    }
    for path in hint.paths.iter().map(Path::new).filter(|p| p.is_absolute()) {
        // The file may be gone; its nearest directory still there tells the repository.
        if let Some(dir) = path.ancestors().skip(1).find(|d| d.is_dir()) {
            let p = Project::of(dir);
            if p.name == hint.name {
                return Ok(found(p, "files"));
            }
        }
    }
    Ok(ImportedProject {
        name: hint.name.clone(),
        project: hint.name.clone(),
        how: "unmapped".into(),
    })
}

/// Store a checked batch in one transaction; records whose origin is already stored are
/// counted as duplicates.
pub fn store(conn: &mut Connection, req: ImportRequest) -> Result<ImportResult, ImportError> {
    validate(&req)?;
    let mut hints: BTreeMap<&str, ImportProject> = BTreeMap::new();
    for r in &req.records {
        hints.entry(&r.project).or_insert_with(|| ImportProject {
            name: r.project.clone(),
            ..ImportProject::default()
        });
    }
    for h in &req.projects {
        if let Some(slot) = hints.get_mut(h.name.as_str()) {
            *slot = h.clone();
        }
    }
    let mut out = ImportResult::default();
    let mut keys = BTreeMap::new();
    for (name, hint) in &hints {
        let p = resolve(conn, hint)?;
        keys.insert(name.to_string(), p.project.clone());
        out.projects.push(p);
    }
    let tx = conn.transaction()?;
    for r in req.records {
        let project = &keys[&r.project];
        let stored = insert(&tx, project, r)?;
        match stored {
            Some(true) => out.imported += 1,
            Some(false) => out.duplicates += 1,
            None => out.withheld += 1,
        }
    }
    tx.commit()?;
    Ok(out)
}

/// Whether the record was stored (`Some(false)`: its origin already was; `None`: withheld).
fn insert(tx: &Connection, project: &str, r: ImportRecord) -> rusqlite::Result<Option<bool>> {
    let name = Path::new(project)
        .file_name()
        .map_or_else(|| project.to_string(), |n| n.to_string_lossy().into_owned());
    let list = |v: &[String]| serde_json::to_string(v).expect("strings serialize");
    let body = clean(r.body);
    let n = match body {
        ImportBody::Observation(o) => tx
            .prepare_cached(
                "INSERT INTO observations (session_id, project, project_name, type, title, subtitle,
                   facts, narrative, concepts, files_read, files_modified, prompt_number,
                   discovery_tokens, created_at, created_at_epoch, source, model, origin)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
                   'claude-mem', ?16, ?17)
                 ON CONFLICT (origin) WHERE origin IS NOT NULL DO NOTHING",
            )?
            .execute(params![
                r.session_id,
                project,
                name,
                o.kind,
                o.title,
                o.subtitle,
                list(&o.facts),
                o.narrative,
                list(&o.concepts),
                list(&o.files_read),
                list(&o.files_modified),
                r.prompt_number,
                o.discovery_tokens,
                r.created_at,
                r.created_at_epoch,
                o.model,
                r.origin
            ])?,
        ImportBody::Summary(s) => tx
            .prepare_cached(
                "INSERT INTO session_summaries (session_id, project, project_name, request,
                   investigated, learned, completed, next_steps, notes, files_read, files_edited,
                   prompt_number, created_at, created_at_epoch, source, origin)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,
                   'claude-mem', ?15)
                 ON CONFLICT (origin) WHERE origin IS NOT NULL DO NOTHING",
            )?
            .execute(params![
                r.session_id,
                project,
                name,
                s.request,
                s.investigated,
                s.learned,
                s.completed,
                s.next_steps,
                s.notes,
                list(&s.files_read),
                list(&s.files_edited),
                r.prompt_number,
                r.created_at,
                r.created_at_epoch,
                r.origin
            ])?,
        ImportBody::Prompt { prompt_text } => {
            let Some(text) = prompt_to_store(&prompt_text) else {
                return Ok(None);
            };
            tx.prepare_cached(
                "INSERT INTO user_prompts (session_id, project, project_name, prompt_number,
                   prompt_text, created_at, created_at_epoch, origin)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (origin) WHERE origin IS NOT NULL DO NOTHING",
            )?
            .execute(params![
                r.session_id,
                project,
                name,
                r.prompt_number,
                text,
                r.created_at,
                r.created_at_epoch,
                r.origin
            ])?
        }
    };
    Ok(Some(n == 1))
}

/// The same privacy rules as for hook events: private and injected tags stripped, secrets
/// redacted (prompts are cleaned by [`prompt_to_store`]).
fn clean(body: ImportBody) -> ImportBody {
    if matches!(body, ImportBody::Prompt { .. }) {
        return body;
    }
    let mut v = serde_json::to_value(&body).expect("records serialize");
    sanitize(&mut v);
    serde_json::from_value(v).expect("sanitizing keeps the shape")
}
