//! `POST /v1/hook` (and `/v1/hooks/{event}`): one hook payload, exactly as Claude Code wrote
//! it. Answered only after the event is committed; SessionStart answers carry the context.

use super::{with_db, Fail};
use crate::privacy::{elide, excluded, prompt_to_store, sanitize};
use crate::project::Project;
use crate::{context, Memd};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::Json;
use claude_daemons::api::memory::{HookAck, Intake};
use claude_daemons::claude::{HookEvent, HookInput};
use serde_json::Value;
use std::sync::Arc;

/// Longest string kept from a tool's input or output; the rest is elided in the middle
/// (60 % head, 30 % tail), as the observer would see it.
const MAX_STRING: usize = 16_000;

/// `POST /v1/hook`.
pub async fn hook(State(m): State<Arc<Memd>>, body: Bytes) -> Result<Json<HookAck>, Fail> {
    let input = HookInput::parse(&body).map_err(Fail::bad)?;
    accept(&m, input).await.map(Json)
}

/// `POST /v1/hooks/{event}`: the path must agree with `hook_event_name`.
pub async fn hook_event(
    State(m): State<Arc<Memd>>,
    Path(event): Path<String>,
    body: Bytes,
) -> Result<Json<HookAck>, Fail> {
    let input = HookInput::parse(&body).map_err(Fail::bad)?;
    if input.hook_event_name != event {
        return Err(Fail::bad(format!(
            "path says {event:?} but hook_event_name is {:?}",
            input.hook_event_name
        )));
    }
    accept(&m, input).await.map(Json)
}

fn skipped(reason: &str) -> HookAck {
    HookAck {
        intake: Intake::Skipped,
        event_id: None,
        reason: Some(reason.into()),
        context: None,
    }
}

/// Privacy decisions, sanitizing, the durable commit, and the context for SessionStart.
pub async fn accept(m: &Memd, input: HookInput) -> Result<HookAck, Fail> {
    let event = input.validate().map_err(Fail::bad)?;
    let cfg = &m.config.memory;
    let cwd = std::path::PathBuf::from(&input.cwd);
    let project = Project::of(&cwd);
    if excluded(&project.key(), &cfg.exclude_projects) || project.opted_out(&cwd) {
        return Ok(skipped("project excluded from memory"));
    }
    if input
        .tool_name
        .as_ref()
        .is_some_and(|t| cfg.skip_tools.contains(t))
    {
        return Ok(skipped("tool on the skip list"));
    }
    // Stripping, redaction and clipping are linear but not free on an 8 MB body: they run
    // here, off the async workers and before the writer's transaction, so one huge payload
    // delays only its own answer.
    let input = tokio::task::spawn_blocking(move || prepare(input))
        .await
        .map_err(|e| Fail::internal(format!("preparing the event: {e}")))?
        .map_err(Fail::bad)?;
    let session_id = input.session_id.clone();
    let guard = m.activity.enter();
    let mut ack = m
        .intake
        .submit(input, event, project.clone(), guard)
        .await
        .map_err(Fail::internal)?;
    // Fields become journal fields: `journalctl --user -u claude-memd SESSION_ID=…`.
    tracing::debug!(
        session_id = %session_id,
        project = %project.key(),
        event = %event,
        intake = ?ack.intake,
        "hook"
    );
    if event == HookEvent::SessionStart {
        let budget = cfg.context_tokens;
        let r = with_db(m, move |c| {
            Ok(context::render(c, &project.key(), &project.name, budget)?)
        })
        .await?;
        ack.context = Some(r.markdown);
    }
    Ok(ack)
}

/// Sanitize (strip private and injected tags, redact secrets) and then clip every string
/// but the identifiers; the prompt becomes what of it is stored (`None`: all private).
/// Sanitizing sees whole strings first, so a clip can neither cut a private region's
/// opening tag away nor leave half a secret.
fn prepare(mut input: HookInput) -> Result<HookInput, serde_json::Error> {
    let prompt = input.prompt.take();
    let ids = (
        input.session_id.clone(),
        input.hook_event_name.clone(),
        input.cwd.clone(),
        input.tool_use_id.clone(),
        input.tool_name.clone(),
    );
    let mut v = serde_json::to_value(&input)?;
    sanitize(&mut v);
    clip_strings(&mut v);
    let mut out: HookInput = serde_json::from_value(v)?;
    (
        out.session_id,
        out.hook_event_name,
        out.cwd,
        out.tool_use_id,
        out.tool_name,
    ) = ids;
    out.prompt = prompt.as_deref().and_then(prompt_to_store).map(|k| {
        if k.elided > 0 {
            tracing::info!(
                session_id = %out.session_id,
                elided = k.elided,
                "prompt clipped to {} characters",
                crate::privacy::MAX_PROMPT_CHARS
            );
        }
        k.text
    });
    Ok(out)
}

fn clip_strings(v: &mut Value) {
    match v {
        Value::String(s) => {
            elide(s, MAX_STRING);
        }
        Value::Array(a) => a.iter_mut().for_each(clip_strings),
        Value::Object(o) => o.values_mut().for_each(clip_strings),
        _ => {}
    }
}
