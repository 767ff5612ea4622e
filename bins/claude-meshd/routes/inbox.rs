//! `GET /v1/inbox`.

use super::{db, query};
use crate::inbox::{self, Query};
use crate::mesh::{ApiError, Mesh};
use axum::extract::State;
use axum::http::Uri;
use axum::Json;
use claude_daemons::api::mesh::{InboxPage, MAX_PAGE};
use serde::Deserialize;
use std::sync::Arc;

#[derive(Deserialize)]
struct Params {
    #[serde(default)]
    since: i64,
    from: Option<String>,
    topic: Option<String>,
    #[serde(default)]
    unread_only: bool,
    #[serde(default)]
    mark_seen: bool,
    limit: Option<usize>,
    /// One session's view (its DMs, groups, topics, broadcasts).
    session: Option<String>,
}

pub async fn list(State(mesh): State<Arc<Mesh>>, uri: Uri) -> Result<Json<InboxPage>, ApiError> {
    let p: Params = query(&uri)?;
    let limit = p.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::new(
            400,
            "invalid_query",
            format!("limit must be 1 to {MAX_PAGE}"),
        ));
    }
    let who = match &p.session {
        Some(s) if mesh.peers.local(s).is_none() => {
            return Err(ApiError::new(
                404,
                "unknown_session",
                format!("no session {s:?}"),
            ))
        }
        Some(s) => Some(mesh.peers.membership(s)),
        None => None,
    };
    let q = Query {
        since: p.since,
        from: p.from,
        topic: p.topic,
        unread_only: p.unread_only,
        limit,
    };
    let mark = p.mark_seen;
    let (items, next_cursor) = db(&mesh, move |c| {
        let tx = c.transaction()?;
        let (items, cursor) = inbox::page(&tx, &q, who.as_ref())?;
        if mark {
            let ids: Vec<i64> = items.iter().map(|i| i.id).collect();
            inbox::mark_seen(&tx, &ids, who.as_ref().map(|m| m.session.as_str()))?;
        }
        tx.commit()?;
        Ok((items, cursor))
    })
    .await?;
    Ok(Json(InboxPage { items, next_cursor }))
}
