//! `/v1/search`, `/v1/timeline`, `/v1/observations/{id}`, `/v1/context`, `/v1/prune`.

use super::{with_db, ApiResult, Fail};
use crate::project::Project;
use crate::{context, embed, records, search, Memd};
use axum::extract::{Path, Query, State};
use axum::Json;
use claude_daemons::api::memory::{
    Context, Observation, PruneRequest, PruneResult, SearchMode, SearchQuery, SearchResults,
    Timeline, TimelineQuery, MAX_PRUNE_LIMIT,
};
use serde::Deserialize;
use std::sync::Arc;

/// `GET /v1/search`: lexical, semantic or hybrid (the default when a model is installed;
/// a model that does not load leaves the default lexical, and `status` says why).
pub async fn search(
    State(m): State<Arc<Memd>>,
    Query(q): Query<SearchQuery>,
) -> ApiResult<SearchResults> {
    let mode = match q.mode {
        Some(mode) => mode,
        None if m.semantic.installed() => SearchMode::Hybrid,
        None => SearchMode::Lexical,
    };
    if mode != SearchMode::Lexical {
        // The query is embedded on the query thread while the database thread finds its
        // lexical candidates; the vector half follows once both are there. The database
        // thread never waits for the model.
        let sem = m.semantic.clone();
        let text = q.q.clone();
        let embedding = tokio::task::spawn_blocking(move || embed::query::embed_query(&sem, &text));
        let lexical = async {
            if mode == SearchMode::Semantic {
                return Ok(None);
            }
            let q = q.clone();
            with_db(&m, move |c| Ok(Some(embed::query::lexical_half(c, &q)?))).await
        };
        let (qv, lexical) = tokio::join!(embedding, lexical);
        match qv.map_err(Fail::internal)? {
            Ok(qv) => {
                let lexical = lexical?;
                let sem = m.semantic.clone();
                return with_db(&m, move |c| {
                    if let Ok(model) = sem.model() {
                        sem.ensure_index(c, &model)?;
                    }
                    let r = embed::query::finish(c, &sem, &q, &qv, lexical)?;
                    Ok(crate::share::store::annotate(c, r)?)
                })
                .await
                .map(Json);
            }
            Err(e) if q.mode.is_some() => return Err(e.into()),
            Err(_) => {}
        }
    }
    with_db(&m, move |c| {
        let r = search::search(c, &q)?;
        Ok(crate::share::store::annotate(c, r)?)
    })
    .await
    .map(Json)
}

/// `GET /v1/timeline`.
pub async fn timeline(
    State(m): State<Arc<Memd>>,
    Query(q): Query<TimelineQuery>,
) -> ApiResult<Timeline> {
    with_db(&m, move |c| Ok(search::timeline(c, &q)?))
        .await
        .map(Json)
}

/// `GET /v1/observations/{id}`.
pub async fn observation(
    State(m): State<Arc<Memd>>,
    Path(id): Path<i64>,
) -> ApiResult<Observation> {
    with_db(&m, move |c| {
        records::get_observation(c, id)?
            .ok_or_else(|| Fail::not_found(format!("no observation {id}")))
    })
    .await
    .map(Json)
}

/// `GET /v1/context` parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextQuery {
    /// A directory inside the project (its git root is the project), or a project key.
    project: String,
    /// Token budget (defaults to `[memory] context_tokens`).
    tokens: Option<usize>,
}

/// `GET /v1/context?project=…`: what SessionStart would inject.
pub async fn context(
    State(m): State<Arc<Memd>>,
    Query(q): Query<ContextQuery>,
) -> ApiResult<Context> {
    if q.project.is_empty() {
        return Err(Fail::bad("project is required"));
    }
    let p = Project::of(std::path::Path::new(&q.project));
    let budget = q.tokens.unwrap_or(m.config.memory.context_tokens);
    if let Some(s) = &m.share {
        // A daemon just started for this session: teammates' records first (bounded).
        let limit = m.config.memory.context_timeout_ms / 2;
        s.caught_up(std::time::Duration::from_millis(limit)).await;
    }
    with_db(&m, move |c| {
        let r = context::render(c, &p.key(), &p.name, budget)?;
        Ok(Context {
            project: p.key(),
            markdown: r.markdown,
            observations: r.observations,
            tokens: r.tokens,
        })
    })
    .await
    .map(Json)
}

/// `POST /v1/prune`: delete old records (all, or a batch of `limit`) and shrink the file.
pub async fn prune(
    State(m): State<Arc<Memd>>,
    Json(req): Json<PruneRequest>,
) -> ApiResult<PruneResult> {
    if req.older_than_days == 0 {
        return Err(Fail::bad("older_than_days must be at least 1"));
    }
    if let Some(l) = req.limit {
        if l == 0 || l > MAX_PRUNE_LIMIT {
            return Err(Fail::bad(format!(
                "limit must be between 1 and {MAX_PRUNE_LIMIT} rows per call"
            )));
        }
    }
    let PruneRequest {
        older_than_days: days,
        limit,
        dry_run,
    } = req;
    let r = with_db(&m, move |c| Ok(records::prune(c, days, limit, dry_run)?)).await?;
    tracing::info!(?r, days, ?limit, "pruned");
    Ok(Json(r))
}
