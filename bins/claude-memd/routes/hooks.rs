//! `POST /v1/hook` (and `/v1/hooks/{event}`): one hook payload, exactly as Claude Code wrote
//! it. Answered only after the event is committed; SessionStart answers carry the context.
//! An `Idempotency-Key` header makes a repeat of the same event a duplicate (the spool
//! drain sends the key the hook sent). `507` means the disk is full: the hook spools the event.

use super::{with_db, Fail};
use crate::intake::{Intake as Writer, IntakeError};
use crate::privacy::{elide, excluded, prompt_to_store, sanitize};
use crate::project::Project;
use crate::{context, embed, recall, Memd};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use claude_daemons::api::memory::{HookAck, Intake};
use claude_daemons::claude::{HookEvent, HookInput};
use claude_daemons::config::MemoryConfig;
use claude_daemons::daemon::Activity;
use claude_daemons::spool::valid_key;
use futures::future::{BoxFuture, FutureExt, Shared};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// Longest string kept from a tool's input or output; the rest is elided in the middle
/// (60 % head, 30 % tail), as the observer would see it.
const MAX_STRING: usize = 16_000;

/// `POST /v1/hook`.
pub async fn hook(
    State(m): State<Arc<Memd>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<HookAck>, Fail> {
    let key = idempotency_key(&headers)?;
    let input = HookInput::parse(&body).map_err(Fail::bad)?;
    accept_keyed(&m, input, key, body.len()).await.map(Json)
}

/// The `Idempotency-Key` header, if any; refused unless a short token.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Fail> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match v.to_str() {
        Ok(k) if valid_key(k) => Ok(Some(k.to_string())),
        _ => Err(Fail::bad(
            "Idempotency-Key must be 1 to 128 letters, digits, '-' or '_'",
        )),
    }
}

/// `POST /v1/hooks/{event}`: the path must agree with `hook_event_name`.
pub async fn hook_event(
    State(m): State<Arc<Memd>>,
    Path(event): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<HookAck>, Fail> {
    let key = idempotency_key(&headers)?;
    let input = HookInput::parse(&body).map_err(Fail::bad)?;
    if input.hook_event_name != event {
        return Err(Fail::bad(format!(
            "path says {event:?} but hook_event_name is {:?}",
            input.hook_event_name
        )));
    }
    accept_keyed(&m, input, key, body.len()).await.map(Json)
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
    accept_keyed(m, input, None, usize::MAX).await
}

/// [`accept`] with the event's idempotency key and the size of its body.
async fn accept_keyed(
    m: &Memd,
    input: HookInput,
    key: Option<String>,
    size: usize,
) -> Result<HookAck, Fail> {
    // A prompt with a private part triggers no lookup at all (what is private is not
    // searched with either).
    let lookup = input
        .prompt
        .clone()
        .filter(|p| !p.contains("<private>") && m.config.memory.prompt_context_tokens > 0);
    let session = input.session_id.clone();
    let words = lookup.as_deref().filter(|p| {
        matches!(input.event(), Ok(HookEvent::UserPromptSubmit)) && recall::prompt_has_words(p)
    });
    // The prompt's meaning is computed while the event is stored (when the model is ready).
    let meaning = words.and_then(|p| embed::prompt::start(&m.semantic, p));
    // So are its word matches: the lookup only reads, and the event's commit waits for the
    // disk. Nothing is shown (or marked as shown) unless the event is then stored.
    // The project is found once (a canonicalize and a walk up to the git root) for both.
    let project = Project::of(std::path::Path::new(&input.cwd));
    let early = words.map(|p| {
        let (session, prompt) = (session.clone(), p.to_owned());
        let project = project.key();
        let n = m.config.memory.prompt_context_records;
        let marked = m.recall_marks.written();
        async move {
            marked.await;
            with_recall_db(m, move |c| {
                Ok(recall::prompt_matches(c, &session, &project, &prompt, n)?)
            })
            .await
        }
    });
    let early = async move {
        match early {
            Some(f) => f.await.map(Some),
            None => Ok(None),
        }
    };
    let (admitted, matches) = tokio::join!(
        admit_in(
            project,
            &m.intake,
            &m.config.memory,
            &m.activity,
            input,
            key,
            size
        ),
        early
    );
    let (mut ack, event, project) = admitted?;
    // A live hook got through: if some did not earlier, now is a good time to store them.
    m.drain.kick();
    if event == HookEvent::UserPromptSubmit && ack.intake != Intake::Skipped {
        if let (Some(project), Some(matches)) = (project, matches?.flatten()) {
            let (tokens, n) = (
                m.config.memory.prompt_context_tokens,
                m.config.memory.prompt_context_records,
            );
            let qv = match meaning {
                // A third of the hook's deadline: the lookup and the answer need the rest.
                Some(p) => {
                    p.finish(Duration::from_millis(m.config.memory.hook_timeout_ms / 3))
                        .await
                }
                None => None,
            };
            let recall = m.recall.clone();
            let Some(qv) = qv else {
                // Word matches alone need no database to be put together: answered from
                // here, and what was shown is marked after the answer has gone.
                let shown = recall::prompt_lines(matches, tokens);
                if let Some(shown) = &shown {
                    let ids = shown.ids.clone();
                    m.recall_marks.then(async move {
                        let marked = recall.call(move |c| recall::mark_shown(c, &session, &ids));
                        report(marked.await);
                    });
                }
                ack.context = shown.map(|s| s.text);
                return Ok(ack);
            };
            let sem = m.semantic.clone();
            let (tx, shown) = tokio::sync::oneshot::channel();
            let job = move |c: &mut rusqlite::Connection| -> rusqlite::Result<()> {
                let nearest = embed::prompt::nearest(&sem, &qv, &project.key());
                let shown = recall::prompt_context(
                    c,
                    &session,
                    &project.key(),
                    matches,
                    tokens,
                    n,
                    &nearest,
                )?;
                let ids = shown.as_ref().map(|s| s.ids.clone()).unwrap_or_default();
                let _ = tx.send(shown.map(|s| s.text));
                // Marked once the answer is on its way, still holding the connection: the
                // session's next lookup waits for the marks, the hook does not.
                recall::mark_shown(c, &session, &ids)
            };
            tokio::spawn(async move { report(recall.call(job).await) });
            ack.context = shown
                .await
                .map_err(|_| Fail::internal("the prompt's context failed; see the journal"))?;
        }
        return Ok(ack);
    }
    let Some(project) = project.filter(|_| event == HookEvent::SessionStart) else {
        return Ok(ack);
    };
    let budget = m.config.memory.context_tokens;
    if let Some(s) = &m.share {
        // A daemon just started for this session: teammates' records first (bounded).
        let limit = m.config.memory.context_timeout_ms / 2;
        s.caught_up(std::time::Duration::from_millis(limit)).await;
    }
    let r = with_db(m, move |c| {
        Ok(context::render(c, &project.key(), &project.name, budget)?)
    })
    .await?;
    ack.context = Some(r.markdown);
    Ok(ack)
}

/// Privacy decisions, sanitizing and the durable commit: everything but the context. The
/// spool drain stores events through here too. The project comes back when it was committed.
pub async fn admit(
    intake: &Writer,
    cfg: &MemoryConfig,
    activity: &Activity,
    input: HookInput,
    key: Option<String>,
) -> Result<(HookAck, HookEvent, Option<Project>), Fail> {
    let project = Project::of(std::path::Path::new(&input.cwd));
    admit_in(project, intake, cfg, activity, input, key, usize::MAX).await
}

/// Payloads up to this size are prepared on the async worker that has them: a trip to the
/// blocking pool costs a small one more than the work.
const PREPARE_HERE: usize = 16 << 10;

/// [`admit`] with the event's project already found (from its `cwd`).
async fn admit_in(
    project: Project,
    intake: &Writer,
    cfg: &MemoryConfig,
    activity: &Activity,
    input: HookInput,
    key: Option<String>,
    size: usize,
) -> Result<(HookAck, HookEvent, Option<Project>), Fail> {
    let event = input.validate().map_err(Fail::bad)?;
    let cwd = std::path::PathBuf::from(&input.cwd);
    if excluded(&project.key(), &cfg.exclude_projects) || project.opted_out(&cwd) {
        return Ok((skipped("project excluded from memory"), event, None));
    }
    if input
        .tool_name
        .as_ref()
        .is_some_and(|t| cfg.skip_tools.contains(t))
    {
        return Ok((skipped("tool on the skip list"), event, None));
    }
    // Stripping, redaction and clipping are linear but not free on an 8 MB body: a large
    // one is prepared off the async workers and before the writer's transaction, so it
    // delays only its own answer.
    let input = if size <= PREPARE_HERE {
        prepare(input)
    } else {
        tokio::task::spawn_blocking(move || prepare(input))
            .await
            .map_err(|e| Fail::internal(format!("preparing the event: {e}")))?
    }
    .map_err(Fail::bad)?;
    let session_id = input.session_id.clone();
    let guard = activity.enter();
    let ack = intake
        .submit(input, event, project.clone(), key, guard)
        .await
        .map_err(|e| match e {
            IntakeError::Full(reason) => {
                tracing::warn!(%reason, "hook event refused");
                Fail(StatusCode::INSUFFICIENT_STORAGE, reason)
            }
            IntakeError::Failed(reason) => Fail::internal(reason),
        })?;
    // Fields become journal fields: `journalctl --user -u claude-memd SESSION_ID=…`.
    tracing::debug!(
        session_id = %session_id,
        project = %project.key(),
        event = %event,
        intake = ?ack.intake,
        "hook"
    );
    Ok((ack, event, Some(project)))
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

/// The marks of what prompts were shown, written after their answers, in order: each
/// prompt's lookup first waits for those written before it started, so a session is never
/// shown a record twice however soon its next prompt comes.
#[derive(Default)]
pub struct Marks(std::sync::Mutex<Option<Shared<BoxFuture<'static, ()>>>>);

impl Marks {
    /// Write marks once the earlier ones are written.
    fn then(&self, write: impl std::future::Future<Output = ()> + Send + 'static) {
        let mut last = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let before = last.take();
        let task = tokio::spawn(async move {
            if let Some(b) = before {
                b.await;
            }
            write.await;
        });
        *last = Some(task.map(|_| ()).boxed().shared());
    }

    /// Resolves once the marks written so far are.
    fn written(&self) -> impl std::future::Future<Output = ()> {
        let last = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        async move {
            if let Some(l) = last {
                l.await;
            }
        }
    }
}

/// Log what went wrong marking a prompt's records as shown (nobody waits for it).
fn report(marked: Result<rusqlite::Result<()>, claude_daemons::store::DbTaskError>) {
    let failed = match marked {
        Ok(r) => r.err().map(|e| e.to_string()),
        Err(e) => Some(e.to_string()),
    };
    if let Some(error) = failed {
        tracing::warn!(%error, "marking a prompt's records as shown");
    }
}

/// Run an in-session lookup on the recall connection (see [`Memd::recall`]).
async fn with_recall_db<R, F>(m: &Memd, f: F) -> Result<R, Fail>
where
    R: Send + 'static,
    F: FnOnce(&mut rusqlite::Connection) -> Result<R, Fail> + Send + 'static,
{
    m.recall.call(f).await.map_err(Fail::internal)?
}

/// `POST /v1/recall/file` body: a Read or Edit about to happen (claude-hook at PreToolUse).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRecall {
    session_id: String,
    cwd: String,
    file_path: String,
}

/// `POST /v1/recall/file`: the project's observations naming the file, once per file per
/// session (`{"context": null}` otherwise). Nothing is stored but that it was shown.
pub async fn recall_file(
    State(m): State<Arc<Memd>>,
    Json(r): Json<FileRecall>,
) -> Result<Json<Value>, Fail> {
    let tokens = m.config.memory.file_context_tokens;
    let cwd = std::path::PathBuf::from(&r.cwd);
    let project = Project::of(&cwd);
    if tokens == 0
        || r.session_id.is_empty()
        || excluded(&project.key(), &m.config.memory.exclude_projects)
        || project.opted_out(&cwd)
    {
        return Ok(Json(serde_json::json!({"context": null})));
    }
    // Claude Code gives absolute paths; a relative one is taken from the working directory.
    let path = cwd.join(&r.file_path).display().to_string();
    let shown = std::path::Path::new(&path)
        .strip_prefix(&r.cwd)
        .map_or(path.clone(), |p| p.display().to_string());
    let ctx = with_recall_db(&m, move |c| {
        Ok(recall::file(
            c,
            &r.session_id,
            &project.key(),
            &path,
            &shown,
            tokens,
        )?)
    })
    .await?;
    Ok(Json(serde_json::json!({"context": ctx})))
}
