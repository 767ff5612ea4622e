//! Seed 000's routes, with its paths and JSON shapes: `/health`, `/api/*` and
//! `/sessions/:sessionDbId/*` (`:sessionDbId` is the session's row id). The viewer page
//! (`GET /`) is in viewer.rs.

use super::hooks::accept;
use super::{with_db, ApiResult, Fail};
use crate::{records, Memd};
use axum::extract::{Path, Query, State};
use axum::Json;
use claude_daemons::api::memory::Who;
use claude_daemons::claude::HookInput;
use rusqlite::{params, OptionalExtension};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// `GET /health`.
pub async fn health(State(m): State<Arc<Memd>>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "uptime": m.started.elapsed().as_millis() as u64,
        "port": m.config.memory.viewer_port,
    }))
}

/// `?project=&who=&limit=&offset=`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    project: Option<String>,
    /// Team memory: only this member's records or only teammates' (the viewer's filter).
    who: Option<Who>,
    limit: Option<u32>,
    offset: Option<u32>,
}

impl PageQuery {
    fn parts(self) -> (Option<String>, Option<Who>, i64, i64) {
        (
            self.project.filter(|p| !p.is_empty()),
            self.who,
            i64::from(self.limit.unwrap_or(20).clamp(1, 500)),
            i64::from(self.offset.unwrap_or(0)),
        )
    }
}

fn page<T: serde::Serialize>(key: &str, (items, total): records::Page<T>, offset: i64) -> Value {
    let has_more = offset + (items.len() as i64) < total;
    json!({ key: items, "total": total, "hasMore": has_more })
}

/// `GET /api/prompts`.
pub async fn prompts(State(m): State<Arc<Memd>>, Query(q): Query<PageQuery>) -> ApiResult<Value> {
    let (p, who, limit, offset) = q.parts();
    with_db(&m, move |c| {
        Ok(page(
            "prompts",
            records::prompts(c, p.as_deref(), who, limit, offset)?,
            offset,
        ))
    })
    .await
    .map(Json)
}

/// `GET /api/observations`.
pub async fn observations(
    State(m): State<Arc<Memd>>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Value> {
    let (p, who, limit, offset) = q.parts();
    with_db(&m, move |c| {
        Ok(page(
            "observations",
            records::observations(c, p.as_deref(), who, limit, offset)?,
            offset,
        ))
    })
    .await
    .map(Json)
}

/// `GET /api/summaries`.
pub async fn summaries(State(m): State<Arc<Memd>>, Query(q): Query<PageQuery>) -> ApiResult<Value> {
    let (p, who, limit, offset) = q.parts();
    with_db(&m, move |c| {
        Ok(page(
            "summaries",
            records::summaries(c, p.as_deref(), who, limit, offset)?,
            offset,
        ))
    })
    .await
    .map(Json)
}

/// `GET /api/stats`.
pub async fn stats(State(m): State<Arc<Memd>>) -> ApiResult<Value> {
    with_db(&m, |c| Ok(records::stats(c)?)).await.map(Json)
}

/// `GET /api/settings`: stored settings over the defaults.
pub async fn get_settings(State(m): State<Arc<Memd>>) -> ApiResult<Value> {
    with_db(&m, |c| {
        let mut out = Map::new();
        out.insert("sidebarOpen".into(), true.into());
        out.insert("selectedProject".into(), Value::Null);
        out.insert("theme".into(), "system".into());
        let mut st = c.prepare_cached("SELECT key, value FROM settings ORDER BY key")?;
        for row in st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
            let (k, v) = row?;
            out.insert(k, serde_json::from_str(&v).unwrap_or(Value::String(v)));
        }
        Ok(Value::Object(out))
    })
    .await
    .map(Json)
}

/// `POST /api/settings`: a JSON object of settings, stored all or nothing.
pub async fn save_settings(
    State(m): State<Arc<Memd>>,
    Json(body): Json<Value>,
) -> ApiResult<Value> {
    let Value::Object(map) = body else {
        return Err(Fail::bad("settings must be a JSON object"));
    };
    if map.len() > 100 || map.keys().any(|k| k.is_empty() || k.len() > 100) {
        return Err(Fail::bad(
            "at most 100 settings with names of 1 to 100 characters",
        ));
    }
    with_db(&m, move |c| {
        let tx = c.transaction()?;
        for (k, v) in &map {
            tx.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE
                 SET value = excluded.value, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
                params![k, v.to_string()],
            )?;
        }
        tx.commit()?;
        Ok(json!({"success": true}))
    })
    .await
    .map(Json)
}

/// `POST /sessions/:id/init` body.
#[derive(Debug, Deserialize)]
pub struct InitBody {
    sdk_session_id: String,
    project: String,
}

/// `POST /sessions/:id/init`: create (or reactivate) the session with this row id.
pub async fn init(
    State(m): State<Arc<Memd>>,
    Path(id): Path<i64>,
    Json(b): Json<InitBody>,
) -> ApiResult<Value> {
    if b.sdk_session_id.trim().is_empty() || b.project.trim().is_empty() {
        return Err(Fail::bad("sdk_session_id and project are required"));
    }
    let name = std::path::Path::new(&b.project)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| b.project.clone());
    with_db(&m, move |c| {
        let owner: Option<i64> = c
            .query_row("SELECT id FROM sessions WHERE content_session_id = ?1", [&b.sdk_session_id], |r| r.get(0))
            .optional()?;
        if owner.is_some_and(|o| o != id) {
            return Err(Fail(axum::http::StatusCode::CONFLICT, format!("session {} already has another id", b.sdk_session_id)));
        }
        c.execute(
            "INSERT INTO sessions (id, content_session_id, project, project_name, cwd) VALUES (?1, ?2, ?3, ?4, ?3)
             ON CONFLICT(id) DO UPDATE SET status = 'active', completed_at = NULL",
            params![id, b.sdk_session_id, b.project, name],
        )?;
        Ok(json!({"success": true, "session_id": b.sdk_session_id}))
    })
    .await
    .map(Json)
}

/// `POST /sessions/:id/observations` body.
#[derive(Debug, Deserialize)]
pub struct ObservationBody {
    tool_name: String,
    #[serde(default)]
    tool_input: Value,
    #[serde(default)]
    tool_result: Value,
    correlation_id: Option<String>,
}

async fn session_of(m: &Memd, id: i64) -> Result<(String, String), Fail> {
    with_db(m, move |c| {
        let s =
            records::session(c, id)?.ok_or_else(|| Fail::not_found(format!("no session {id}")))?;
        Ok((s.0, s.2))
    })
    .await
}

fn synthetic(session_id: String, cwd: String, event: &str) -> HookInput {
    serde_json::from_value(json!({"session_id": session_id, "cwd": cwd, "hook_event_name": event}))
        .expect("static shape")
}

/// Wait (bounded) for the processor to turn `event_id` into a row of `table`.
async fn built(m: &Memd, table: &'static str, event_id: Option<i64>) -> Result<Option<i64>, Fail> {
    let Some(event_id) = event_id else {
        return Ok(None);
    };
    for _ in 0..200 {
        let id = with_db(m, move |c| {
            Ok(c.query_row(
                &format!("SELECT min(id) FROM {table} WHERE event_id = ?1"),
                [event_id],
                |r| r.get::<_, Option<i64>>(0),
            )?)
        })
        .await?;
        if id.is_some() {
            return Ok(id);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(None)
}

/// `POST /sessions/:id/observations`: queue a tool use like a PostToolUse hook.
pub async fn add_observation(
    State(m): State<Arc<Memd>>,
    Path(id): Path<i64>,
    Json(b): Json<ObservationBody>,
) -> ApiResult<Value> {
    let (sid, cwd) = session_of(&m, id).await?;
    let mut input = synthetic(sid, cwd, "PostToolUse");
    input.tool_name = Some(b.tool_name);
    input.tool_input = Some(b.tool_input);
    input.tool_response = Some(b.tool_result);
    input.tool_use_id = b.correlation_id;
    let ack = accept(&m, input).await?;
    let obs = built(&m, "observations", ack.event_id).await?;
    Ok(Json(json!({"success": true, "observation_id": obs})))
}

/// `POST /sessions/:id/summarize`: summarize like a Stop hook.
pub async fn summarize(
    State(m): State<Arc<Memd>>,
    Path(id): Path<i64>,
    body: Option<Json<Value>>,
) -> ApiResult<Value> {
    let (sid, cwd) = session_of(&m, id).await?;
    let mut input = synthetic(sid, cwd, "Stop");
    if let Some(Json(b)) = body {
        input.extra.insert(
            "trigger".into(),
            b.get("trigger").cloned().unwrap_or(Value::Null),
        );
    }
    let ack = accept(&m, input).await?;
    let s = built(&m, "session_summaries", ack.event_id).await?;
    Ok(Json(json!({"success": true, "summary_id": s})))
}

/// `GET /sessions/:id/status`.
pub async fn status(State(m): State<Arc<Memd>>, Path(id): Path<i64>) -> ApiResult<Value> {
    with_db(&m, move |c| {
        records::session_status(c, id)?.ok_or_else(|| Fail::not_found(format!("no session {id}")))
    })
    .await
    .map(Json)
}

/// `DELETE /sessions/:id`: the session and everything recorded for it.
pub async fn delete(State(m): State<Arc<Memd>>, Path(id): Path<i64>) -> ApiResult<Value> {
    with_db(&m, move |c| {
        if records::delete_session(c, id)? {
            Ok(json!({"success": true}))
        } else {
            Err(Fail::not_found(format!("no session {id}")))
        }
    })
    .await
    .map(Json)
}
