//! The processor: claims pending events (`pending → processing`, committed, attempts
//! counted), hands them to the [`Provider`], stores what it returns and marks them `done`, or
//! back to `pending` with the error, or `failed` after the last attempt. At start, events
//! left `processing` by a crash go back to `pending`. Observations are unique per
//! `(event_id, seq)`, so an event processed again after a crash cannot be stored twice.

use crate::announce::{Announce, Announcer};
use crate::provider::{EventRow, Observed, Provider, Summarized, TurnFacts};
use crate::stats::Stats;
use claude_daemons::claude::{HookEvent, HookInput};
use claude_daemons::daemon::{Activity, ActivityGuard};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc;
use std::sync::Arc;

/// Events claimed per pass: small, so the write lock is never held long against the intake.
const BATCH: i64 = 64;

/// How recent an intake commit makes the processor wait.
const DEFER_WINDOW: std::time::Duration = std::time::Duration::from_millis(5);
/// Most waits in a row before a batch is processed anyway.
const MAX_DEFERRALS: u32 = 40;

/// Start the processor thread. Send it an [`ActivityGuard`] per committed event: it holds the
/// guards until the queue is empty, so idle exit waits for processing.
pub fn start(
    mut conn: Connection,
    mut provider: Box<dyn Provider>,
    max_attempts: u32,
    announce: Announcer,
    stats: Arc<Stats>,
    activity: Activity,
) -> std::io::Result<mpsc::Sender<ActivityGuard>> {
    let (tx, rx) = mpsc::channel::<ActivityGuard>();
    let initial = match recover(&conn) {
        Ok(n) if n > 0 => {
            tracing::info!(pending = n, "resuming unprocessed events");
            Some(activity.enter())
        }
        Ok(_) => None,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the event queue at start");
            None
        }
    };
    std::thread::Builder::new()
        .name("memd-processor".into())
        .spawn(move || {
            let _watch = stats.watch_processor();
            let mut held: Vec<ActivityGuard> = initial.into_iter().collect();
            loop {
                held.extend(rx.try_iter());
                if held.is_empty() {
                    // Between events: housekeeping, and events a stand-in observed while
                    // the observer was unavailable (no activity guard: they may wait for
                    // the next start).
                    provider.tick();
                    if provider.ready_for_retries() {
                        if let Err(e) = retry_pass(&mut conn, provider.as_mut(), &announce, &stats)
                        {
                            tracing::error!(error = %e, "observer retry pass failed");
                        }
                    }
                    match rx.recv_timeout(IDLE_TICK) {
                        Ok(g) => held.push(g),
                        Err(mpsc::RecvTimeoutError::Timeout) => continue,
                        Err(mpsc::RecvTimeoutError::Disconnected) => return,
                    }
                }
                let mut deferred = 0;
                loop {
                    // Hooks wait for the intake, nobody waits for processing: during a burst
                    // of hooks, step aside (bounded, so a sustained burst cannot starve it).
                    if deferred < MAX_DEFERRALS && stats.intake_busy(DEFER_WINDOW) {
                        deferred += 1;
                        std::thread::sleep(DEFER_WINDOW);
                        continue;
                    }
                    deferred = 0;
                    match pass(
                        &mut conn,
                        provider.as_mut(),
                        max_attempts,
                        &announce,
                        &stats,
                    ) {
                        Ok(0) => break,
                        Ok(_) => {}
                        Err(e) => {
                            tracing::error!(error = %e, "processing pass failed; retrying in 1 s");
                            release_claims(&conn);
                            std::thread::sleep(std::time::Duration::from_secs(1));
                        }
                    }
                }
                let (pending, failed) = queue_depth(&conn).unwrap_or((0, 0));
                stats.pending.store(pending, Relaxed);
                announce.send(Announce::queue(pending, failed));
                // Work that arrived during the pass is picked up by the next loop turn.
                if pending == 0 {
                    held.clear();
                } else {
                    // Rows still claimed here were left by a failed pass (this thread is the
                    // only processor): give them back, and pause rather than spin while the
                    // database refuses (the held guards keep the daemon up meanwhile).
                    release_claims(&conn);
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
            }
        })?;
    Ok(tx)
}

/// How often the idle processor looks after its provider (idle observers, retries).
const IDLE_TICK: std::time::Duration = std::time::Duration::from_secs(1);

/// How often an event may be interrupted (the daemon died while processing it) before it
/// is taken for the cause and marked failed.
const MAX_INTERRUPTIONS: u32 = 5;

/// Put events a crash left `processing` back to `pending`. The interrupted try does not
/// count as an attempt (the provider never answered); it counts as an interruption, and an
/// event interrupted [`MAX_INTERRUPTIONS`] times is marked failed. Returns how many events
/// wait.
pub fn recover(conn: &Connection) -> rusqlite::Result<i64> {
    conn.execute(
        "UPDATE events SET
           attempts = max(attempts - 1, 0),
           interrupted = interrupted + 1,
           state = CASE WHEN interrupted + 1 >= ?1 THEN 'failed' ELSE 'pending' END,
           last_error = 'interrupted: the daemon stopped while processing',
           updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
         WHERE state = 'processing'",
        [MAX_INTERRUPTIONS],
    )?;
    conn.query_row(
        "SELECT count(*) FROM events WHERE state = 'pending'",
        [],
        |r| r.get(0),
    )
}

/// Give rows claimed by a pass that failed part-way back to the queue. Not an attempt and
/// not an interruption: the database failed, not the event.
fn release_claims(conn: &Connection) {
    if let Err(e) = conn.execute(
        "UPDATE events SET state = 'pending' WHERE state = 'processing'",
        [],
    ) {
        tracing::error!(error = %e, "cannot release claimed events; retrying later");
    }
}

fn queue_depth(conn: &Connection) -> rusqlite::Result<(i64, i64)> {
    conn.query_row(
        "SELECT (SELECT count(*) FROM events WHERE state IN ('pending', 'processing')),
                (SELECT count(*) FROM events WHERE state = 'failed')",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

enum Outcome {
    Observations(Observed),
    Summary(Box<Summarized>),
    Failed(String),
}

/// Claim and process one batch; returns how many events were claimed.
fn pass(
    conn: &mut Connection,
    provider: &mut dyn Provider,
    max_attempts: u32,
    announce: &Announcer,
    stats: &Stats,
) -> rusqlite::Result<usize> {
    let claimed = claim(conn)?;
    let n = claimed.len();
    process(
        conn,
        provider,
        claimed,
        max_attempts,
        false,
        announce,
        stats,
    )?;
    Ok(n)
}

fn process(
    conn: &mut Connection,
    provider: &mut dyn Provider,
    claimed: Vec<Claimed>,
    max_attempts: u32,
    retrying: bool,
    announce: &Announcer,
    stats: &Stats,
) -> rusqlite::Result<()> {
    let mut done: Vec<(EventRow, Outcome)> = Vec::new();
    let mut run: Vec<EventRow> = Vec::new();
    for ev in claimed {
        let ev = match ev {
            Ok(ev) => ev,
            Err((id, _, why)) => {
                // An unreadable row never gets better: no retries.
                tracing::warn!(event_id = id, error = %why, "event failed for good");
                conn.execute(
                    "UPDATE events SET state = 'failed', last_error = ?2 WHERE id = ?1",
                    params![id, why],
                )?;
                stats.processed(0, 1);
                continue;
            }
        };
        if ev.event != HookEvent::Stop {
            run.push(ev);
            continue;
        }
        // The turn's facts come from the database: store what came before first.
        observe_run(provider, &mut run, &mut done);
        finish(conn, &mut done, max_attempts, retrying, announce, stats)?;
        let outcome = if ev.input.stop_hook_active == Some(true) {
            Outcome::Summary(Box::default())
        } else {
            let turn = turn_facts(conn, &ev)?;
            match guarded(|| provider.summarize_full(&ev, &turn)) {
                Ok(s) => Outcome::Summary(Box::new(s)),
                Err(e) => Outcome::Failed(e),
            }
        };
        done.push((ev, outcome));
    }
    observe_run(provider, &mut run, &mut done);
    finish(conn, &mut done, max_attempts, retrying, announce, stats)?;
    Ok(())
}

/// A provider call with panics turned into errors: a bug triggered by one event must cost
/// that event its attempts, not the processor thread.
fn guarded<T>(f: impl FnOnce() -> Result<T, crate::provider::ProviderError>) -> Result<T, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(p) => Err(format!(
            "provider panicked: {}",
            p.downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_default()
        )),
    }
}

type Claimed = Result<EventRow, (i64, u32, String)>;

type ClaimedRow = (
    i64,
    String,
    String,
    String,
    String,
    Option<i64>,
    String,
    u32,
);

fn row(r: &rusqlite::Row) -> rusqlite::Result<ClaimedRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    ))
}

fn parse_row(
    (id, event, session_id, project, project_name, prompt_number, payload, attempts): ClaimedRow,
) -> Claimed {
    let event = HookEvent::from_name(&event)
        .ok_or_else(|| (id, attempts, format!("unknown event {event}")))?;
    let input: HookInput = serde_json::from_str(&payload)
        .map_err(|e| (id, attempts, format!("stored payload unreadable: {e}")))?;
    Ok(EventRow {
        id,
        event,
        session_id,
        project,
        project_name,
        prompt_number,
        input,
        attempts,
    })
}

fn claim(conn: &mut Connection) -> rusqlite::Result<Vec<Claimed>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let rows = {
        // Events interrupted twice go first, one at a time: a poison event that kills the
        // daemon is then isolated and uses up only its own interruptions, not those of the
        // innocent events that were claimed with it.
        let claim = |filter: &str, limit: i64| -> rusqlite::Result<Vec<ClaimedRow>> {
            tx.prepare_cached(&format!(
                "UPDATE events SET state = 'processing', attempts = attempts + 1,
                   updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
                 WHERE id IN (SELECT id FROM events WHERE state = 'pending' AND {filter}
                              ORDER BY id LIMIT ?1)
                 RETURNING id, event, session_id, project, project_name, prompt_number, payload, attempts"
            ))?
            .query_map([limit], row)?
            .collect()
        };
        let solo = claim("interrupted >= 2", 1)?;
        if solo.is_empty() {
            claim("interrupted < 2", BATCH)?
        } else {
            solo
        }
    };
    tx.commit()?;
    let mut out: Vec<Claimed> = rows.into_iter().map(parse_row).collect();
    // RETURNING order is unspecified; process in arrival order.
    out.sort_by_key(|r| match r {
        Ok(e) => e.id,
        Err((id, _, _)) => *id,
    });
    Ok(out)
}

fn json_list<T: AsRef<str>>(v: &[T]) -> String {
    serde_json::to_string(&v.iter().map(AsRef::as_ref).collect::<Vec<&str>>())
        .unwrap_or_else(|_| "[]".into())
}

/// The stored name of a record's source (the local builder leaves it unset).
fn source(s: &'static str) -> &'static str {
    if s.is_empty() {
        "local"
    } else {
        s
    }
}

/// An event's state after its records are stored: done (to observe again later when a
/// stand-in wrote them), or failed with the reason the observer's answers were refused.
fn settle(
    ev: &EventRow,
    retry_later: Option<String>,
    failed: Option<String>,
) -> (&'static str, Option<String>, bool) {
    if let Some(why) = failed {
        tracing::warn!(event_id = ev.id, reason = %why, "event failed; the local builder's records are stored instead");
        return ("failed", Some(why), false);
    }
    match retry_later {
        Some(why) => ("done", Some(why), true),
        None => ("done", None, false),
    }
}

/// Store outcomes and set states, in one transaction.
fn finish(
    conn: &mut Connection,
    items: &mut Vec<(EventRow, Outcome)>,
    max_attempts: u32,
    retrying: bool,
    announce: &Announcer,
    stats: &Stats,
) -> rusqlite::Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut news = Vec::new();
    let (mut ok, mut bad) = (0, 0);
    for (ev, outcome) in items.drain(..) {
        // A retry that fails again changes nothing: the stand-in's records stay.
        let unchanged = match &outcome {
            Outcome::Failed(_) => retrying,
            Outcome::Observations(o) => retrying && o.retry_later.is_some(),
            Outcome::Summary(s) => retrying && s.retry_later.is_some(),
        };
        if unchanged {
            continue;
        }
        let (state, error, retry) = match outcome {
            Outcome::Observations(o) => {
                if o.retry_later.is_none() {
                    // What the observer wrote replaces what a stand-in wrote earlier.
                    tx.prepare_cached(
                        "DELETE FROM observations WHERE event_id = ?1 AND source = 'local-fallback'",
                    )?
                    .execute([ev.id])?;
                }
                for (seq, o) in o.observations.iter().enumerate() {
                    let id: Option<i64> = tx
                        .prepare_cached(
                            "INSERT INTO observations (session_id, project, project_name, type, title,
                               subtitle, facts, narrative, concepts, files_read, files_modified,
                               prompt_number, event_id, seq, source, model, discovery_tokens,
                               created_at, created_at_epoch)
                             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,
                               ?15, ?16, ?17, created_at, created_at_epoch FROM events WHERE id = ?13
                             ON CONFLICT DO NOTHING RETURNING id",
                        )?
                        .query_row(
                            params![
                                ev.session_id,
                                ev.project,
                                ev.project_name,
                                o.kind,
                                o.title,
                                o.subtitle,
                                json_list(&o.facts),
                                o.narrative,
                                json_list(&o.concepts),
                                json_list(&o.files_read),
                                json_list(&o.files_modified),
                                ev.prompt_number,
                                ev.id,
                                seq as i64,
                                source(o.source),
                                o.model,
                                o.discovery_tokens
                            ],
                            |r| r.get(0),
                        )
                        .optional()?;
                    if let Some(id) = id {
                        news.push(Announce::observation(
                            id,
                            &ev.session_id,
                            &ev.project,
                            o.kind,
                            &o.title,
                        ));
                    }
                }
                settle(&ev, o.retry_later, o.failed)
            }
            Outcome::Summary(sm) => {
                let sm = *sm;
                if sm.retry_later.is_none() {
                    tx.prepare_cached(
                        "DELETE FROM session_summaries WHERE event_id = ?1 AND source = 'local-fallback'",
                    )?
                    .execute([ev.id])?;
                }
                if let Some(s) = &sm.summary {
                    let id: Option<i64> = tx
                        .prepare_cached(
                            "INSERT INTO session_summaries (session_id, project, project_name, request,
                               investigated, learned, completed, next_steps, notes, files_read,
                               files_edited, prompt_number, event_id, source, model, created_at,
                               created_at_epoch)
                             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
                               created_at, created_at_epoch FROM events WHERE id = ?13
                             ON CONFLICT DO NOTHING RETURNING id",
                        )?
                        .query_row(
                            params![
                                ev.session_id,
                                ev.project,
                                ev.project_name,
                                s.text.request,
                                s.text.investigated,
                                s.text.learned,
                                s.text.completed,
                                s.text.next_steps,
                                s.text.notes,
                                json_list(&s.text.files_read),
                                json_list(&s.text.files_edited),
                                ev.prompt_number,
                                ev.id,
                                source(s.source),
                                s.model
                            ],
                            |r| r.get(0),
                        )
                        .optional()?;
                    if let Some(id) = id {
                        news.push(Announce::summary(
                            id,
                            &ev.session_id,
                            &ev.project,
                            s.text.request.as_deref(),
                        ));
                    }
                }
                settle(&ev, sm.retry_later, sm.failed)
            }
            Outcome::Failed(e) if ev.attempts >= max_attempts => {
                tracing::warn!(event_id = ev.id, error = %e, "event failed for good");
                ("failed", Some(e), false)
            }
            Outcome::Failed(e) => ("pending", Some(e), false),
        };
        match state {
            "done" => ok += 1,
            "failed" => bad += 1,
            _ => {}
        }
        tx.prepare_cached(
            "UPDATE events SET state = ?2, last_error = ?3, observer_retry = ?4,
               updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?1",
        )?
        .execute(params![ev.id, state, error, retry])?;
    }
    tx.commit()?;
    stats.processed(ok, bad);
    for a in news {
        announce.send(a);
    }
    Ok(())
}

/// What the turn that `stop` ends did: its prompt and its observations.
fn turn_facts(conn: &Connection, stop: &EventRow) -> rusqlite::Result<TurnFacts> {
    let mut t = TurnFacts::default();
    let Some(n) = stop.prompt_number else {
        return Ok(t);
    };
    let prompt: Option<String> = conn
        .prepare_cached(
            "SELECT prompt_text FROM user_prompts WHERE session_id = ?1 AND prompt_number = ?2",
        )?
        .query_row(params![stop.session_id, n], |r| r.get(0))
        .optional()?;
    t.prompts.extend(prompt);
    let mut st = conn.prepare_cached(
        "SELECT title, files_read, files_modified FROM observations
         WHERE session_id = ?1 AND prompt_number = ?2 ORDER BY id",
    )?;
    let rows = st.query_map(params![stop.session_id, n], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    for row in rows {
        let (title, read, modified) = row?;
        let add = |list: &mut Vec<String>, json: &str| {
            for f in serde_json::from_str::<Vec<String>>(json).unwrap_or_default() {
                if !list.contains(&f) {
                    list.push(f);
                }
            }
        };
        add(&mut t.files_read, &read);
        add(&mut t.files_modified, &modified);
        if title.ends_with("(failed)") {
            t.failures.push(title.clone());
        }
        t.titles.push(title);
    }
    Ok(t)
}

#[path = "processor/runs.rs"]
mod runs;
use runs::{observe_run, retry_pass};

#[cfg(test)]
#[path = "processor/tests.rs"]
mod tests;
