//! Records imported from another memory system (claude-mem): where each foreign project
//! goes, checks, and one transaction per batch in which an origin already stored is skipped.

use crate::privacy::{prompt_to_store, sanitize_observation, sanitize_summary};
use crate::project::Project;
use claude_daemons::api::memory::{
    validate_import, ImportBody, ImportProject, ImportRecord, ImportRequest, ImportResult,
    ImportedProject,
};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::BTreeMap;
use std::path::Path;

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

/// Where a foreign project name goes: `--project`'s directory; else where an earlier import
/// put it; else the one project of that name claude-memd knows; else the git root of the
/// files its records touched, when it has that name; else the bare name. The choice is
/// remembered. When it changes (a directory given now, or a repository found for a name
/// that had none), the records imported under the old key move to the new one.
pub fn resolve(tx: &Connection, hint: &ImportProject) -> rusqlite::Result<ImportedProject> {
    let remembered: Option<(String, String)> = tx
        .query_row(
            "SELECT project, how FROM imported_projects WHERE name = ?1",
            [&hint.name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let chosen = match (&hint.dir, &remembered) {
        (Some(dir), _) => (Project::of(Path::new(dir)).key(), "dir".to_string()),
        (None, Some((project, how))) if how != "unmapped" => (project.clone(), how.clone()),
        _ => find(tx, hint)?,
    };
    // Records are moved only when no other imported name shares the old key: they carry
    // no foreign name, so the others' records would move with them.
    let shared = |old: &str| -> rusqlite::Result<bool> {
        tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM imported_projects WHERE project = ?1 AND name <> ?2)",
            params![old, hint.name],
            |r| r.get(0),
        )
    };
    if let Some((old, _)) = remembered.filter(|(old, _)| *old != chosen.0) {
        if shared(&old)? {
            tracing::warn!(
                name = %hint.name,
                from = %old,
                to = %chosen.0,
                "earlier imported records stay where they are: another imported project shares them"
            );
        } else {
            let name = display_name(&chosen.0);
            for table in ["observations", "session_summaries", "user_prompts"] {
                tx.execute(
                    &format!(
                        "UPDATE {table} SET project = ?1, project_name = ?2
                     WHERE project = ?3 AND origin IS NOT NULL"
                    ),
                    params![chosen.0, name, old],
                )?;
            }
        }
    }
    tx.execute(
        "INSERT INTO imported_projects (name, project, how) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO UPDATE SET project = excluded.project, how = excluded.how",
        params![hint.name, chosen.0, chosen.1],
    )?;
    Ok(ImportedProject {
        name: hint.name.clone(),
        project: chosen.0,
        how: chosen.1,
    })
}

/// A project key for `hint` from what claude-memd knows or the files tell; the bare name
/// when neither helps.
fn find(tx: &Connection, hint: &ImportProject) -> rusqlite::Result<(String, String)> {
    let known: Vec<String> = tx
        .prepare_cached(
            "SELECT project FROM sessions WHERE project_name = ?1
             UNION SELECT project FROM observations WHERE project_name = ?1 AND project <> ?1",
        )?
        .query_map([&hint.name], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if let [one] = known.as_slice() {
        return Ok((one.clone(), "known".into()));
    }
    for path in hint.paths.iter().map(Path::new).filter(|p| p.is_absolute()) {
        // The file may be gone; its nearest directory still there tells the repository.
        if let Some(dir) = path.ancestors().skip(1).find(|d| d.is_dir()) {
            let p = Project::of(dir);
            if p.name == hint.name {
                return Ok((p.key(), "files".into()));
            }
        }
    }
    Ok((hint.name.clone(), "unmapped".into()))
}

/// Whether `project` (a key) is excluded by `[memory] exclude_projects` or opted out with
/// a marker file in its root.
pub fn kept_out(project: &str, exclude_projects: &[String]) -> bool {
    let root = Path::new(project);
    crate::privacy::excluded(project, exclude_projects)
        || (root.is_absolute() && Project::of(root).opted_out(root))
}

/// The display name of a project key: the path's basename, or the bare name itself.
fn display_name(project: &str) -> String {
    Path::new(project)
        .file_name()
        .map_or_else(|| project.to_string(), |n| n.to_string_lossy().into_owned())
}

/// Store a checked batch in one transaction; records whose origin is already stored are
/// counted as duplicates.
pub fn store(
    conn: &mut Connection,
    req: ImportRequest,
    exclude_projects: &[String],
) -> Result<ImportResult, ImportError> {
    validate_import(&req).map_err(|e| ImportError::Bad(e.0))?;
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
    let tx = conn.transaction()?;
    for (name, hint) in &hints {
        let p = resolve(&tx, hint)?;
        keys.insert(name.to_string(), p.project.clone());
        out.projects.push(p);
    }
    for r in req.records {
        let project = &keys[&r.project];
        // The privacy rules of the hooks hold for imported records too: an excluded or
        // opted-out project keeps nothing.
        if kept_out(project, exclude_projects) {
            out.withheld += 1;
            continue;
        }
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
    let name = display_name(project);
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
            let Some(text) = prompt_to_store(&prompt_text).map(|k| k.text) else {
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
fn clean(mut body: ImportBody) -> ImportBody {
    match &mut body {
        ImportBody::Observation(o) => sanitize_observation(o),
        ImportBody::Summary(s) => sanitize_summary(s),
        ImportBody::Prompt { .. } => {}
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use claude_daemons::api::memory::ImportBody;
    use claude_daemons::api::memory_transfer::ObservationFields;

    fn obs(origin: &str, project: &str) -> ImportRecord {
        ImportRecord {
            origin: origin.into(),
            session_id: "s".into(),
            project: project.into(),
            created_at: "2026-01-05T10:00:00.000Z".into(),
            created_at_epoch: 1_767_607_200,
            prompt_number: Some(1),
            body: ImportBody::Observation(ObservationFields {
                kind: "change".into(),
                title: format!("title of {origin}"),
                ..ObservationFields::default()
            }),
        }
    }

    fn key_of(c: &Connection, origin: &str) -> (String, String) {
        c.query_row(
            "SELECT project, project_name FROM observations WHERE origin = ?1",
            [origin],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    }

    #[test]
    fn projects_map_by_dir_memory_known_files_then_bare_name_and_move_when_found() {
        let (t, mut c) = crate::schema::test_db();
        let repo = |name: &str| {
            let d = t.path().join("src").join(name);
            std::fs::create_dir_all(d.join(".git")).unwrap();
            std::fs::create_dir_all(d.join("lib")).unwrap();
            std::fs::canonicalize(d).unwrap()
        };
        let (shop, api, web) = (repo("shop"), repo("api"), repo("web"));
        c.execute(
            "INSERT INTO sessions (content_session_id, project, project_name, cwd)
             VALUES ('live', ?1, 'web', ?1)",
            [web.display().to_string()],
        )
        .unwrap();
        let req = ImportRequest {
            projects: vec![
                ImportProject {
                    name: "shop".into(),
                    dir: None,
                    paths: vec![
                        "relative/ignored.rs".into(),
                        shop.join("lib/gone/deleted.rs").display().to_string(),
                    ],
                },
                ImportProject {
                    name: "api".into(),
                    dir: None,
                    paths: vec![],
                },
            ],
            records: vec![obs("o:1", "shop"), obs("o:2", "api"), obs("o:3", "web")],
        };
        let r = store(&mut c, req.clone(), &[]).unwrap();
        assert_eq!((r.imported, r.duplicates), (3, 0));
        let how: BTreeMap<_, _> = r
            .projects
            .iter()
            .map(|p| (p.name.as_str(), p.how.as_str()))
            .collect();
        assert_eq!(how["shop"], "files");
        assert_eq!(how["api"], "unmapped");
        assert_eq!(how["web"], "known");
        assert_eq!(
            key_of(&c, "o:1"),
            (shop.display().to_string(), "shop".into())
        );
        assert_eq!(key_of(&c, "o:2"), ("api".into(), "api".into()));
        assert_eq!(key_of(&c, "o:3").0, web.display().to_string());

        // Again with a directory for api: nothing new, and the bare-name record moves.
        let mut again = req;
        again.projects[1].dir = Some(api.join("lib").display().to_string());
        again.projects[0].paths.clear();
        let r = store(&mut c, again, &[]).unwrap();
        assert_eq!((r.imported, r.duplicates), (0, 3));
        assert_eq!(key_of(&c, "o:2"), (api.display().to_string(), "api".into()));
        assert_eq!(
            key_of(&c, "o:1").0,
            shop.display().to_string(),
            "remembered, though no file says so any more"
        );
        let fts: i64 = c
            .query_row(
                "SELECT count(*) FROM observations_fts WHERE observations_fts MATCH 'title'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(fts, 3, "moving kept the index in step");
    }

    #[test]
    fn one_bad_record_refuses_the_whole_batch() {
        let (_dir, mut c) = crate::schema::test_db();
        let mut bad = obs("o:2", "shop");
        bad.created_at_epoch = 0;
        let req = ImportRequest {
            projects: vec![],
            records: vec![obs("o:1", "shop"), bad],
        };
        let e = store(&mut c, req, &[]).unwrap_err();
        assert!(e.to_string().contains("record 1 (o:2)"), "{e}");
        let n: i64 = c
            .query_row("SELECT count(*) FROM observations", [], |r| r.get(0))
            .unwrap();
        let mapped: i64 = c
            .query_row("SELECT count(*) FROM imported_projects", [], |r| r.get(0))
            .unwrap();
        assert_eq!((n, mapped), (0, 0));
    }

    #[test]
    fn excluded_and_opted_out_projects_keep_nothing_and_shared_keys_do_not_move() {
        let (t, mut c) = crate::schema::test_db();
        let repo = |name: &str| {
            let d = t.path().join("src").join(name);
            std::fs::create_dir_all(d.join(".git")).unwrap();
            std::fs::canonicalize(d).unwrap()
        };
        let (secret, quiet, x, y) = (repo("secret"), repo("quiet"), repo("x"), repo("y"));
        std::fs::write(quiet.join(".no-claude-memory"), "").unwrap();
        let dir = |name: &str, d: &Path| ImportProject {
            name: name.into(),
            dir: Some(d.display().to_string()),
            paths: vec![],
        };
        let req = ImportRequest {
            projects: vec![dir("secret", &secret), dir("quiet", &quiet)],
            records: vec![
                obs("o:1", "secret"),
                obs("o:2", "quiet"),
                obs("o:3", "open"),
            ],
        };
        let r = store(
            &mut c,
            req,
            &[format!("{}/se*", t.path().join("src").display())],
        )
        .unwrap();
        assert_eq!((r.imported, r.withheld), (1, 2), "{r:?}");

        // Two names on one directory; moving one must not take the other's records along.
        let req = ImportRequest {
            projects: vec![dir("a", &x), dir("b", &x)],
            records: vec![obs("o:a", "a"), obs("o:b", "b")],
        };
        store(&mut c, req, &[]).unwrap();
        let req = ImportRequest {
            projects: vec![dir("a", &y)],
            records: vec![obs("o:a2", "a")],
        };
        store(&mut c, req, &[]).unwrap();
        assert_eq!(key_of(&c, "o:b").0, x.display().to_string());
        assert_eq!(key_of(&c, "o:a2").0, y.display().to_string());
    }
}
