//! Durable intake: one writer thread owns a connection and commits hook events in groups.
//! A handler hands its event over and waits; the writer takes everything queued (up to
//! [`MAX_GROUP`]), applies it in one transaction (a savepoint each, so one bad event cannot
//! sink the others), commits, and only then answers every waiter. So an acknowledgement
//! always means "on disk", and many concurrent hooks share one fsync.
//!
//! An event may carry an idempotency key (claude-hook sends one with every event and writes
//! it into the spool file when it gives up waiting): a key seen before is a duplicate,
//! whatever the event, so an event committed after its hook timed out is not stored again
//! when the spool is drained. When the state directory's filesystem has less free space than
//! the reserve, nothing is committed and the answer is [`IntakeError::Full`]: the hooks spool
//! their events into that reserve and they are stored once space returns.

use crate::announce::{Announce, Announcer};
use crate::project::Project;
use crate::reserve::Reserve;
use crate::stats::Stats;
use claude_daemons::api::memory::{HookAck, Intake as IntakeKind};
use claude_daemons::claude::{HookEvent, HookInput};
use claude_daemons::daemon::ActivityGuard;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::sync::mpsc;
use std::sync::Arc;
use tokio::sync::oneshot;

/// Most events committed in one transaction.
const MAX_GROUP: usize = 512;

/// One event waiting for the writer.
pub struct Pending {
    /// The sanitized payload; its prompt is what of it is stored (`None`: all private).
    pub input: HookInput,
    /// Its event.
    pub event: HookEvent,
    /// Its project.
    pub project: Project,
    /// Its idempotency key, if the sender gave one.
    pub key: Option<String>,
    /// Keeps the daemon awake until the processor has handled the event.
    pub guard: ActivityGuard,
    /// Where the answer goes once committed.
    pub reply: oneshot::Sender<Result<HookAck, IntakeError>>,
}

/// Why an event was not committed.
#[derive(Clone, Debug, thiserror::Error)]
pub enum IntakeError {
    /// The disk is full (or below the reserve): try again once space returns.
    #[error("{0}")]
    Full(String),
    /// Anything else.
    #[error("{0}")]
    Failed(String),
}

fn is_disk_full(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)
}

fn db_error(e: rusqlite::Error) -> IntakeError {
    if is_disk_full(&e) {
        IntakeError::Full(format!("disk full: {e}"))
    } else {
        IntakeError::Failed(format!("database: {e}"))
    }
}

/// Handle to the writer thread.
#[derive(Clone)]
pub struct Intake {
    tx: mpsc::Sender<Pending>,
}

impl Intake {
    /// Start the writer on `conn`; committed events that need processing wake `processor`.
    pub fn start(
        conn: Connection,
        processor: mpsc::Sender<ActivityGuard>,
        announce: Announcer,
        stats: Arc<Stats>,
        reserve: Reserve,
    ) -> std::io::Result<Intake> {
        let (tx, rx) = mpsc::channel::<Pending>();
        std::thread::Builder::new()
            .name("memd-writer".into())
            .spawn(move || writer(conn, rx, processor, announce, stats, reserve))?;
        Ok(Intake { tx })
    }

    /// Commit one event; resolves after the commit.
    pub async fn submit(
        &self,
        input: HookInput,
        event: HookEvent,
        project: Project,
        key: Option<String>,
        guard: ActivityGuard,
    ) -> Result<HookAck, IntakeError> {
        let stopped = || IntakeError::Failed("the database writer stopped".into());
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Pending {
                input,
                event,
                project,
                key,
                guard,
                reply,
            })
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }
}

struct Applied {
    ack: HookAck,
    /// Whether the processor has work from it.
    queued: bool,
    announce: Option<Announce>,
}

fn writer(
    mut conn: Connection,
    rx: mpsc::Receiver<Pending>,
    processor: mpsc::Sender<ActivityGuard>,
    announce: Announcer,
    stats: Arc<Stats>,
    reserve: Reserve,
) {
    let _watch = stats.watch_writer();
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(p) => group.push(p),
                Err(_) => break,
            }
        }
        if let Err(reason) = reserve.check() {
            tracing::warn!(%reason, events = group.len(), "hook events refused");
            for p in group {
                let _ = p.reply.send(Err(IntakeError::Full(reason.clone())));
            }
            continue;
        }
        let outcome = commit_group(&mut conn, &group);
        stats.intake_now();
        match outcome {
            Ok(results) => {
                for (p, r) in group.into_iter().zip(results) {
                    match r {
                        Ok(applied) => {
                            stats.count(applied.ack.intake);
                            if let Some(a) = applied.announce {
                                announce.send(a);
                            }
                            if applied.queued {
                                let _ = processor.send(p.guard);
                            }
                            let _ = p.reply.send(Ok(applied.ack));
                        }
                        Err(e) => {
                            let _ = p.reply.send(Err(e));
                        }
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, events = group.len(), "intake commit failed");
                let err = db_error(e);
                for p in group {
                    let _ = p.reply.send(Err(err.clone()));
                }
            }
        }
    }
}

type GroupResult = Vec<Result<Applied, IntakeError>>;

fn commit_group(conn: &mut Connection, group: &[Pending]) -> rusqlite::Result<GroupResult> {
    let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut results = Vec::with_capacity(group.len());
    for p in group {
        let sp = tx.savepoint()?;
        match apply(&sp, p) {
            Ok(a) => {
                sp.commit()?;
                results.push(Ok(a));
            }
            Err(e) => {
                drop(sp); // rolls back this event only
                tracing::warn!(error = %e, session_id = %p.input.session_id, "event not stored");
                results.push(Err(db_error(e)));
            }
        }
    }
    tx.commit()?;
    Ok(results)
}

fn skipped(reason: &str) -> Applied {
    Applied {
        ack: HookAck {
            intake: IntakeKind::Skipped,
            event_id: None,
            reason: Some(reason.into()),
            context: None,
        },
        queued: false,
        announce: None,
    }
}

fn apply(tx: &Connection, p: &Pending) -> rusqlite::Result<Applied> {
    if let Some(key) = &p.key {
        let fresh = tx
            .prepare_cached("INSERT INTO hook_keys (key) VALUES (?1) ON CONFLICT DO NOTHING")?
            .execute([key])?;
        if fresh == 0 {
            let event_id: Option<i64> = tx
                .prepare_cached("SELECT event_id FROM hook_keys WHERE key = ?1")?
                .query_row([key], |r| r.get(0))?;
            return Ok(Applied {
                ack: HookAck {
                    intake: IntakeKind::Duplicate,
                    event_id,
                    reason: None,
                    context: None,
                },
                queued: false,
                announce: None,
            });
        }
    }
    let applied = apply_new(tx, p)?;
    if let (Some(key), Some(id)) = (&p.key, applied.ack.event_id) {
        tx.prepare_cached("UPDATE hook_keys SET event_id = ?2 WHERE key = ?1")?
            .execute(params![key, id])?;
    }
    Ok(applied)
}

fn apply_new(tx: &Connection, p: &Pending) -> rusqlite::Result<Applied> {
    let input = &p.input;
    let sid = input.session_id.as_str();
    let key = p.project.key();
    tx.prepare_cached(
        "INSERT INTO sessions (content_session_id, project, project_name, cwd)
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT(content_session_id) DO NOTHING",
    )?
    .execute(params![sid, key, p.project.name, input.cwd])?;
    let (mut prompt_number, private): (i64, bool) = tx
        .prepare_cached(
            "SELECT prompt_counter, prompt_private FROM sessions WHERE content_session_id = ?1",
        )?
        .query_row([sid], |r| Ok((r.get(0)?, r.get(1)?)))?;

    let mut stored = input.clone();
    let mut announce = None;
    let mut state = "done";
    match p.event {
        HookEvent::UserPromptSubmit => {
            // Cleaned before the transaction (routes/hooks.rs): nothing unbounded runs here.
            let kept = input.prompt.clone();
            prompt_number = tx
                .prepare_cached(
                    "UPDATE sessions SET prompt_counter = prompt_counter + 1, prompt_private = ?2,
                     status = 'active' WHERE content_session_id = ?1 RETURNING prompt_counter",
                )?
                .query_row(params![sid, kept.is_none()], |r| r.get(0))?;
            let Some(text) = kept else {
                return Ok(skipped("private prompt"));
            };
            let id: i64 = tx
                .prepare_cached(
                    "INSERT INTO user_prompts (session_id, project, project_name, prompt_number, prompt_text)
                     VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
                )?
                .query_row(params![sid, key, p.project.name, prompt_number, text], |r| {
                    r.get(0)
                })?;
            announce = Some(Announce::prompt(id, sid, &key, prompt_number, &text));
            stored.prompt = Some(text);
        }
        HookEvent::PostToolUse if private => return Ok(skipped("private prompt")),
        HookEvent::PostToolUse => state = "pending",
        HookEvent::Stop => {
            if private {
                // The model may have echoed private text; its answer is not kept.
                stored.last_assistant_message = None;
            }
            state = "pending";
        }
        HookEvent::SessionStart => {
            tx.prepare_cached(
                "UPDATE sessions SET status = 'active', completed_at = NULL
                 WHERE content_session_id = ?1",
            )?
            .execute([sid])?;
        }
        HookEvent::SessionEnd => {
            tx.prepare_cached(
                "UPDATE sessions SET status = 'completed',
                 completed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE content_session_id = ?1",
            )?
            .execute([sid])?;
        }
        HookEvent::SubagentStop | HookEvent::PreCompact => {}
        HookEvent::PreToolUse | HookEvent::Notification => {
            return Ok(skipped("event not recorded"))
        }
    }
    let payload = serde_json::to_string(&stored)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    let id: Option<i64> = tx
        .prepare_cached(
            "INSERT INTO events (session_id, event, tool_use_id, prompt_number, project, project_name, payload, state)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING RETURNING id",
        )?
        .query_row(
            params![
                sid,
                p.event.as_str(),
                input.tool_use_id,
                prompt_number,
                key,
                p.project.name,
                payload,
                state
            ],
            |r| r.get(0),
        )
        .optional()?;
    let ack = |intake, event_id| HookAck {
        intake,
        event_id: Some(event_id),
        reason: None,
        context: None,
    };
    match id {
        Some(id) => Ok(Applied {
            ack: ack(IntakeKind::Stored, id),
            queued: state == "pending",
            announce,
        }),
        None => {
            let id: i64 = tx
                .prepare_cached("SELECT id FROM events WHERE session_id = ?1 AND tool_use_id = ?2")?
                .query_row(params![sid, input.tool_use_id], |r| r.get(0))?;
            Ok(Applied {
                ack: ack(IntakeKind::Duplicate, id),
                queued: false,
                announce: None,
            })
        }
    }
}
