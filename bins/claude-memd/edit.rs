//! Correcting an observation by hand (`PATCH /v1/observations/{id}`): title, subtitle,
//! facts, narrative, type, concepts. The record keeps its id, files and time and records
//! when it was edited; the full-text index follows through the update trigger. Like a
//! forget, the old text leaves no copy in the file (a correction may remove something that
//! should not have been kept).

use crate::forget;
use claude_daemons::api::memory::{ObservationEdit, OBSERVATION_TYPES};
use rusqlite::{params, Connection, OptionalExtension};

/// Why an edit was refused.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The edit itself is wrong (400).
    #[error("{0}")]
    Bad(String),
    /// No such observation (404).
    #[error("no observation {0}")]
    NotFound(i64),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
}

/// Longest title, subtitle or fact; longest narrative.
const MAX_LINE: usize = 1_000;
const MAX_NARRATIVE: usize = 20_000;

fn check(e: &ObservationEdit) -> Result<(), EditError> {
    let bad = |m: String| Err(EditError::Bad(m));
    if e == &ObservationEdit::default() {
        return bad(
            "nothing to change: give title, subtitle, facts, narrative, type or concepts".into(),
        );
    }
    if let Some(t) = &e.title {
        if t.trim().is_empty() {
            return bad("title must not be empty".into());
        }
    }
    if let Some(k) = &e.kind {
        if !OBSERVATION_TYPES.contains(&k.as_str()) {
            return bad(format!(
                "type {k:?} is not one of {}",
                OBSERVATION_TYPES.join(", ")
            ));
        }
    }
    let lines = e
        .title
        .iter()
        .chain(&e.subtitle)
        .chain(e.facts.iter().flatten())
        .chain(e.concepts.iter().flatten());
    for l in lines {
        if l.chars().count() > MAX_LINE {
            return bad(format!(
                "a title, subtitle, fact or concept is longer than {MAX_LINE} characters"
            ));
        }
    }
    if e.narrative
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_NARRATIVE)
    {
        return bad(format!(
            "narrative is longer than {MAX_NARRATIVE} characters"
        ));
    }
    Ok(())
}

/// Apply `e` to observation `id`; its project.
pub fn edit(conn: &mut Connection, id: i64, e: &ObservationEdit) -> Result<String, EditError> {
    check(e)?;
    let nonempty = |s: &Option<String>| {
        s.as_ref()
            .map(|s| s.trim().to_string())
            .map(|s| (!s.is_empty()).then_some(s))
    };
    let json = |v: &Option<Vec<String>>| {
        v.as_ref()
            .map(|v| serde_json::to_string(v).unwrap_or_else(|_| "[]".into()))
    };
    forget::secure(conn)?;
    let tx = conn.transaction()?;
    tx.execute(
        "INSERT INTO observations_fts(observations_fts, rank) VALUES ('secure-delete', 1)",
        [],
    )?;
    // For subtitle and narrative, NULL in ?3/?5 means "leave", and ?4/?6 say "set" (an empty
    // text removes the field).
    let project: Option<String> = tx
        .query_row(
            "UPDATE observations SET
               title = coalesce(?2, title),
               subtitle = CASE WHEN ?4 THEN ?3 ELSE subtitle END,
               narrative = CASE WHEN ?6 THEN ?5 ELSE narrative END,
               facts = coalesce(?7, facts),
               type = coalesce(?8, type),
               concepts = coalesce(?9, concepts),
               edited_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
             WHERE id = ?1 RETURNING project",
            params![
                id,
                e.title.as_deref().map(str::trim),
                nonempty(&e.subtitle).flatten(),
                e.subtitle.is_some(),
                nonempty(&e.narrative).flatten(),
                e.narrative.is_some(),
                json(&e.facts),
                e.kind,
                json(&e.concepts),
            ],
            |r| r.get(0),
        )
        .optional()?;
    let Some(project) = project else {
        return Err(EditError::NotFound(id));
    };
    tx.commit()?;
    forget::checkpoint(conn)?;
    Ok(project)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::search;
    use claude_daemons::api::memory::SearchQuery;

    #[test]
    fn an_edit_keeps_the_id_and_moves_the_index() {
        let (_dir, mut c) = crate::schema::test_db();
        let id: i64 = c
            .query_row(
                "INSERT INTO observations (session_id, project, project_name, type, title,
                   narrative, created_at, created_at_epoch)
                 VALUES ('s', '/p', 'p', 'change', 'Wrong frobulator title', 'mistaken story',
                   '2026-01-01T00:00:00Z', 1) RETURNING id",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let e = ObservationEdit {
            title: Some("Right gizmo title".into()),
            narrative: Some(String::new()),
            kind: Some("decision".into()),
            facts: Some(vec!["corrected by hand".into()]),
            ..Default::default()
        };
        assert_eq!(edit(&mut c, id, &e).unwrap(), "/p");
        let o = crate::records::get_observation(&c, id).unwrap().unwrap();
        assert_eq!(
            (o.title.as_str(), o.kind.as_str(), o.narrative, o.facts),
            (
                "Right gizmo title",
                "decision",
                None,
                vec!["corrected by hand".to_string()]
            )
        );
        assert!(o.edited_at.is_some());
        let hits = |q: &str| {
            search(
                &c,
                &SearchQuery {
                    q: q.into(),
                    ..Default::default()
                },
            )
            .unwrap()
            .results
            .len()
        };
        assert_eq!(
            (hits("frobulator"), hits("mistaken"), hits("gizmo")),
            (0, 0, 1)
        );
        assert!(matches!(
            edit(&mut c, id + 1, &e),
            Err(EditError::NotFound(_))
        ));
        for bad in [
            ObservationEdit::default(),
            ObservationEdit {
                title: Some(" ".into()),
                ..Default::default()
            },
            ObservationEdit {
                kind: Some("nonsense".into()),
                ..Default::default()
            },
        ] {
            assert!(
                matches!(edit(&mut c, id, &bad), Err(EditError::Bad(_))),
                "{bad:?}"
            );
        }
    }
}
