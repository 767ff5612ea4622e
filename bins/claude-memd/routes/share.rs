//! `GET /v1/share` and `POST /v1/share`: which projects are shared with the team (see
//! [`crate::share`]).

use super::{with_db, ApiResult, Fail};
use crate::project::Project;
use crate::share::{identity, outbox};
use crate::Memd;
use axum::extract::{Query, State};
use axum::Json;
use claude_daemons::api::memory_share::{ShareRequest, ShareStatus};
use serde::Deserialize;
use std::sync::Arc;

/// `GET /v1/share` parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusQuery {
    /// A directory inside a project: only that one.
    project: Option<String>,
}

fn answer(
    m: &Memd,
    projects: Vec<claude_daemons::api::memory_share::SharedProject>,
) -> ShareStatus {
    ShareStatus {
        configured: m.share.is_some(),
        broker: m.share.as_ref().map(|s| s.details()),
        projects,
    }
}

/// `GET /v1/share`.
pub async fn status(
    State(m): State<Arc<Memd>>,
    Query(q): Query<StatusQuery>,
) -> ApiResult<ShareStatus> {
    let key = q
        .project
        .filter(|p| !p.is_empty())
        .map(|p| Project::of(std::path::Path::new(&p)).key());
    let projects = with_db(&m, move |c| Ok(outbox::status(c, key.as_deref())?)).await?;
    Ok(Json(answer(&m, projects)))
}

/// `POST /v1/share`: share a project (refused for one without an `origin` remote, an
/// excluded one or one with a `.no-claude-memory` file), or stop sharing it.
pub async fn set(
    State(m): State<Arc<Memd>>,
    Json(req): Json<ShareRequest>,
) -> ApiResult<ShareStatus> {
    let dir = std::path::Path::new(&req.project);
    if !dir.is_absolute() || !dir.is_dir() {
        return Err(Fail::bad(format!(
            "project must be an existing directory given by its absolute path, not {:?}",
            req.project
        )));
    }
    let p = Project::of(dir);
    let key = p.key();
    if req.enabled {
        if crate::import::kept_out(&key, &m.config.memory.exclude_projects) || p.opted_out(dir) {
            return Err(Fail::bad(format!(
                "{key} is excluded from memory ([memory] exclude_projects or {}): it is never shared",
                crate::project::OPT_OUT_MARKER
            )));
        }
        let Some(portable) = identity::portable(&p.root) else {
            return Err(Fail::bad(format!(
                "{key} has no `origin` remote: a shared project is known to the team by it"
            )));
        };
        let k = key.clone();
        let fresh = with_db(&m, move |c| Ok(outbox::enable(c, &k, &portable)?)).await?;
        tracing::info!(project = %key, fresh, "team memory: project shared");
        if let Some(s) = &m.share {
            s.kick();
        }
    } else {
        let k = key.clone();
        let was = with_db(&m, move |c| Ok(outbox::disable(c, &k)?)).await?;
        tracing::info!(project = %key, was, "team memory: project no longer shared");
    }
    let projects = with_db(&m, move |c| Ok(outbox::status(c, Some(&key))?)).await?;
    Ok(Json(answer(&m, projects)))
}
