//! `DELETE /v1/observations/{id}`, `/v1/summaries/{id}`, `/v1/prompts/{id}`: forget one
//! record for good (see [`crate::forget`]) and tell open viewers; `?project=DIR` forgets it
//! only when it belongs to that project (the MCP `forget` tool's guard). `POST /v1/forget`:
//! every record of a session, a project, or before a time, in one transaction.

use super::{with_db, ApiResult, Fail};
use crate::announce::Announce;
use crate::forget::{self, Record};
use crate::project::Project;
use crate::search::parse_time;
use crate::Memd;
use axum::extract::{Path, Query, State};
use axum::Json;
use claude_daemons::api::memory::{ForgetRequest, ForgetResult};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// `?project=`: a directory inside the only project the record may belong to.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    project: Option<String>,
}

async fn forget_one(m: Arc<Memd>, r: Record, id: i64, scope: Scope) -> ApiResult<Value> {
    let only = scope
        .project
        .map(|p| Project::of(std::path::Path::new(&p)).key());
    let (project, checkpointed) = with_db(&m, move |c| {
        if let Some(only) = &only {
            let theirs = forget::project_of(c, r, id)?;
            if theirs.as_deref() != Some(only) {
                // Another project's record is not this caller's to see, let alone forget.
                return Err(Fail::not_found(format!(
                    "no {} {id} in project {only}",
                    r.name()
                )));
            }
        }
        let Some(project) = forget::forget(c, r, id)? else {
            return Err(Fail::not_found(format!("no {} {id}", r.name())));
        };
        Ok((project, forget::checkpoint(c)?))
    })
    .await?;
    if !checkpointed {
        tracing::warn!(
            record = r.name(),
            id,
            "WAL checkpoint kept busy; old pages stay in the WAL until the next one"
        );
    }
    tracing::info!(record = r.name(), id, %project, "record forgotten");
    m.announce.send(Announce::deleted(r.name(), id, &project));
    Ok(Json(
        json!({"deleted": true, "record": r.name(), "id": id, "checkpointed": checkpointed}),
    ))
}

/// `DELETE /v1/observations/{id}`.
pub async fn observation(
    State(m): State<Arc<Memd>>,
    Path(id): Path<i64>,
    Query(scope): Query<Scope>,
) -> ApiResult<Value> {
    forget_one(m, Record::Observation, id, scope).await
}

/// `DELETE /v1/summaries/{id}`.
pub async fn summary(
    State(m): State<Arc<Memd>>,
    Path(id): Path<i64>,
    Query(scope): Query<Scope>,
) -> ApiResult<Value> {
    forget_one(m, Record::Summary, id, scope).await
}

/// `DELETE /v1/prompts/{id}`.
pub async fn prompt(
    State(m): State<Arc<Memd>>,
    Path(id): Path<i64>,
    Query(scope): Query<Scope>,
) -> ApiResult<Value> {
    forget_one(m, Record::Prompt, id, scope).await
}

/// `POST /v1/forget`: every record matching all the filters given (at least one).
pub async fn many(
    State(m): State<Arc<Memd>>,
    Json(req): Json<ForgetRequest>,
) -> ApiResult<ForgetResult> {
    if req.session.is_none() && req.project.is_none() && req.before.is_none() {
        return Err(Fail::bad(
            "give at least one of session, project, before (forgetting everything is not offered)",
        ));
    }
    let (res, forgotten) = with_db(&m, move |c| {
        let mut projects = Vec::new();
        if let Some(p) = req.project.filter(|p| !p.is_empty()) {
            if std::path::Path::new(&p).is_absolute() {
                projects.push(Project::of(std::path::Path::new(&p)).key());
            }
            projects.push(p);
        }
        let f = forget::Filter {
            session: req.session,
            projects,
            before: req
                .before
                .as_deref()
                .map(|t| parse_time(c, t))
                .transpose()?,
        };
        let ids = forget::matching(c, &f)?;
        // A forgotten session's record of what it was shown (file names) goes too.
        if let (Some(s), false, true, None) =
            (&f.session, req.dry_run, f.projects.is_empty(), f.before)
        {
            c.execute("DELETE FROM session_recall WHERE session_id = ?1", [s])?;
        }
        let count = |k: Record| ids.iter().filter(|(r, _)| *r == k).count();
        let mut res = ForgetResult {
            observations: count(Record::Observation),
            summaries: count(Record::Summary),
            prompts: count(Record::Prompt),
            checkpointed: false,
        };
        if req.dry_run || ids.is_empty() {
            return Ok((res, Vec::new()));
        }
        let projects = forget::forget_all(c, &ids)?;
        res.checkpointed = forget::checkpoint(c)?;
        let forgotten: Vec<(Record, i64, String)> = ids
            .into_iter()
            .zip(projects)
            .filter_map(|((r, id), p)| p.map(|p| (r, id, p)))
            .collect();
        Ok((res, forgotten))
    })
    .await?;
    for (r, id, project) in &forgotten {
        m.announce.send(Announce::deleted(r.name(), *id, project));
    }
    if !forgotten.is_empty() {
        tracing::info!(?res, "records forgotten");
    }
    Ok(Json(res))
}
