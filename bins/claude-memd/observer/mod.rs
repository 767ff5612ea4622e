//! The Claude observer provider: one observer session per user session, run by
//! claude-supervisord under the key `memd-observer:<session_id>`, locked down (no tools,
//! `dontAsk`, an empty workspace of its own), fed the session's tool events and asked for a
//! summary on Stop. The local builder stands in when the observer cannot be used: the
//! supervisor or Claude is unavailable (the event is observed again later), its answers stay
//! invalid (the event is marked failed), or a budget cap is reached.

mod budget;
mod client;
// The answer parser is in the library, where it is fuzzed.
use claude_daemons::claude::observer_answer as parse;
mod prompts;
mod status;

pub use status::Status;
use status::Today;

use crate::local::LocalBuilder;
use crate::provider::{
    EventRow, NewObservation, NewSummary, Observed, Provider, ProviderError, Summarized, TurnFacts,
};
use budget::Caps;
use claude_daemons::api::memory::SummaryText;
use claude_daemons::api::supervisor::{AskRequest, AskResult, SessionOptions};
use claude_daemons::claude::HookEvent;
use claude_daemons::config::MemoryConfig;
use client::{Supervisor, Unavailable};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Source of records the local builder wrote while the observer was unavailable or its
/// answers invalid.
const FALLBACK: &str = "local-fallback";
/// Source of records the local builder wrote because a budget cap was reached.
const BUDGET: &str = "local-budget";

/// The supervisor session key of a user session's observer.
fn key(session: &str) -> String {
    let safe: String = session
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(150)
        .collect();
    format!("{KEY_PREFIX}{safe}")
}

/// Prefix of observer session keys.
const KEY_PREFIX: &str = "memd-observer:";

/// Stop every observer process the supervisor at `socket` runs for us (their conversations
/// are kept and resume on the next event). Called as claude-memd exits: nothing would reap
/// them until the supervisor's own idle reap, an hour later by default.
pub fn stop_all(socket: &std::path::Path) {
    let supervisor = client::Supervisor::new(socket.to_path_buf());
    for key in supervisor.live_keys(KEY_PREFIX) {
        supervisor.stop(&key, false);
    }
}

/// The Claude observer.
pub struct ClaudeObserver {
    conn: Connection,
    supervisor: Supervisor,
    local: LocalBuilder,
    model: String,
    workspace: PathBuf,
    caps: Caps,
    max_observers: usize,
    idle_reap: Duration,
    batch: usize,
    parse_retries: u32,
    timeout_ms: u64,
    retry_every: Duration,
    last_probe: Option<Instant>,
    /// Observer processes believed alive, by user session, with their last use.
    live: HashMap<String, Instant>,
    /// Whether live observers of an earlier run were looked for.
    adopted: bool,
    status: Arc<Status>,
}

/// A failed use of the observer.
enum Failure {
    /// Supervisor or Claude unavailable: stand in, observe again later.
    Unavailable(String),
    /// Answers stayed invalid: stand in, mark failed.
    Invalid(String),
}

impl ClaudeObserver {
    /// An observer using the supervisor at `socket`, its own database connection `conn`
    /// and `workspace` (created empty) as the observer sessions' working directory.
    pub fn new(
        conn: Connection,
        socket: PathBuf,
        workspace: PathBuf,
        config: &MemoryConfig,
        status: Arc<Status>,
    ) -> std::io::Result<ClaudeObserver> {
        std::fs::create_dir_all(&workspace)?;
        // The observer is a Claude Code session too: if the user's settings register
        // claude-hook, its own hooks reach memd. The opt-out marker keeps them out, so the
        // observer never observes (or summarizes) itself.
        std::fs::write(workspace.join(crate::project::OPT_OUT_MARKER), "")?;
        let observer = ClaudeObserver {
            conn,
            supervisor: Supervisor::new(socket),
            local: LocalBuilder,
            model: config.model.clone(),
            workspace,
            caps: Caps::of(config),
            max_observers: config.max_observers.max(1),
            idle_reap: Duration::from_secs(config.observer_idle_reap_secs.max(1)),
            batch: config.observer_batch.max(1),
            parse_retries: config.observer_parse_retries,
            timeout_ms: config.observer_timeout_ms.max(1000),
            retry_every: Duration::from_secs(config.observer_retry_secs.max(1)),
            last_probe: None,
            live: HashMap::new(),
            adopted: false,
            status,
        };
        // After a restart the header shows what today already cost, not 0.
        observer.note_today();
        Ok(observer)
    }

    /// Today's spend for health (and the viewer's header), read back from the budget table.
    fn note_today(&self) {
        match budget::today(&self.conn) {
            Ok((day, spent)) => self.status.today(Today {
                day,
                tokens: spent.day_tokens,
                usd: spent.day_usd,
                tokens_cap: self.caps.day_tokens,
                usd_cap: self.caps.day_usd,
            }),
            Err(e) => tracing::debug!(error = %e, "today's observer spend"),
        }
    }

    fn db<T>(&self, r: rusqlite::Result<T>) -> Result<T, ProviderError> {
        r.map_err(|e| ProviderError(format!("observer database: {e}")))
    }

    /// The budget cap reached for `session`, if any; said once per session in the journal
    /// and once a day in the context header.
    fn over_budget(&mut self, session: &str) -> Result<Option<String>, ProviderError> {
        let spent = self.db(budget::spent(&self.conn, session))?;
        let Some(why) = budget::exceeded(&self.caps, &spent) else {
            return Ok(None);
        };
        if self.db(budget::note_once(&self.conn, session, &why))? {
            tracing::warn!(
                session_id = session,
                reason = %why,
                "observer budget reached; the local builder writes this session's observations"
            );
        }
        self.status.budget(&why);
        if let Some(k) = self.live.remove(session).map(|_| key(session)) {
            self.supervisor.stop(&k, false);
        }
        Ok(Some(why))
    }

    /// The preamble a message needs: the init prompt for a session the observer has not
    /// seen, the new request when the prompt changed.
    fn preamble(&self, ev: &EventRow) -> Result<String, ProviderError> {
        let row: Option<(Option<String>, Option<i64>)> = self.db(self
            .conn
            .query_row(
                "SELECT claude_session, prompt_number FROM observer_sessions WHERE session_id = ?1",
                [&ev.session_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional())?;
        let request = match ev.prompt_number {
            Some(n) => self.db(
                self.conn
                    .query_row(
                        "SELECT prompt_text FROM user_prompts WHERE session_id = ?1 AND prompt_number = ?2",
                        params![ev.session_id, n],
                        |r| r.get::<_, String>(0),
                    )
                    .optional(),
            )?,
            None => None,
        };
        Ok(match row {
            Some((Some(_), seen)) if seen == ev.prompt_number => String::new(),
            Some((Some(_), _)) => request
                .map(|r| prompts::continuation(&r))
                .unwrap_or_default(),
            _ => format!(
                "{}\n\n",
                prompts::init(&ev.project_name, request.as_deref())
            ),
        })
    }

    /// Make room under `max_observers` before a new observer process is started.
    fn make_room(&mut self, session: &str) {
        if self.live.contains_key(session) {
            return;
        }
        while self.live.len() >= self.max_observers {
            let Some(oldest) = self
                .live
                .iter()
                .min_by_key(|(_, t)| **t)
                .map(|(s, _)| s.clone())
            else {
                break;
            };
            self.live.remove(&oldest);
            self.supervisor.stop(&key(&oldest), false);
        }
    }

    fn ask(&mut self, ev: &EventRow, prompt: String) -> Result<AskResult, Failure> {
        self.make_room(&ev.session_id);
        let req = AskRequest {
            prompt,
            content: None,
            timeout_ms: Some(self.timeout_ms),
            options: SessionOptions {
                cwd: Some(self.workspace.display().to_string()),
                model: Some(self.model.clone()),
                permission_mode: Some("dontAsk".into()),
                // No tools, no MCP servers, no user settings (so no hooks of ours either).
                isolated: Some(true),
                ..SessionOptions::default()
            },
        };
        let started = Instant::now();
        match self.supervisor.ask(&key(&ev.session_id), &req) {
            Ok(r) => {
                self.live.insert(ev.session_id.clone(), Instant::now());
                let tokens = budget::tokens(r.usage.as_ref());
                let usd =
                    budget::usd_delta(&self.conn, &ev.session_id, r.total_cost_usd).unwrap_or(0.0);
                self.status.answered(tokens, started.elapsed());
                // The observer has now seen the init prompt and this request.
                let _ = self.conn.execute(
                    "INSERT INTO observer_sessions (session_id, claude_session, prompt_number)
                     VALUES (?1, ?2, ?3)
                     ON CONFLICT (session_id) DO UPDATE SET claude_session = ?2, prompt_number = ?3",
                    params![ev.session_id, r.session_id, ev.prompt_number],
                );
                let _ = budget::record(&self.conn, &ev.session_id, tokens, usd);
                self.note_today();
                Ok(r)
            }
            Err(Unavailable(why)) => {
                self.live.remove(&ev.session_id);
                self.status.unavailable(&why);
                Err(Failure::Unavailable(why))
            }
        }
    }

    /// Ask with `prompt`, parse with `read`, re-ask with the reason while invalid.
    fn ask_until_valid<T>(
        &mut self,
        ev: &EventRow,
        prompt: String,
        read: impl Fn(&str) -> Result<T, parse::Invalid>,
    ) -> Result<(T, u64), Failure> {
        let mut prompt = prompt;
        let mut tokens = 0;
        let mut last = String::new();
        for _ in 0..=self.parse_retries {
            let r = self.ask(ev, prompt)?;
            tokens += budget::tokens(r.usage.as_ref());
            match read(r.result.as_deref().unwrap_or("")) {
                Ok(v) => return Ok((v, tokens)),
                Err(parse::Invalid(why)) => {
                    self.status.invalid();
                    tracing::info!(session_id = %ev.session_id, event_id = ev.id, reason = %why, "invalid observer answer");
                    prompt = prompts::correction(&why);
                    last = why;
                }
            }
        }
        Err(Failure::Invalid(format!(
            "observer answer invalid after {} tries: {last}",
            self.parse_retries + 1
        )))
    }

    fn local_observed(&mut self, ev: &EventRow, source: &'static str) -> Vec<NewObservation> {
        let mut list = self.local.observe(ev).unwrap_or_default();
        for o in &mut list {
            o.source = source;
        }
        list
    }

    /// One session's consecutive tool events as one message.
    fn observe_group(&mut self, group: &[&EventRow]) -> Result<Vec<Observed>, ProviderError> {
        let first = group[0];
        if self.over_budget(&first.session_id)?.is_some() {
            return Ok(group
                .iter()
                .map(|e| self.local_observed(e, BUDGET).into())
                .collect());
        }
        let mut prompt = self.preamble(first)?;
        for ev in group {
            let at: String = self
                .conn
                .query_row(
                    "SELECT created_at FROM events WHERE id = ?1",
                    [ev.id],
                    |r| r.get(0),
                )
                .unwrap_or_default();
            prompt.push_str(&prompts::event(ev, &at));
        }
        match self.ask_until_valid(first, prompt, parse::observations) {
            Ok((mut list, tokens)) => {
                let n = list.len().max(1) as u64;
                for (i, o) in list.iter_mut().enumerate() {
                    o.model = Some(self.model.clone());
                    o.discovery_tokens = (tokens / n + u64::from(i == 0) * (tokens % n)) as i64;
                }
                let _ = budget::counted(&self.conn, &first.session_id, group.len(), list.len());
                self.status.batched(group.len());
                let mut out = vec![Observed::from(list)];
                out.extend(group[1..].iter().map(|_| Observed::default()));
                Ok(out)
            }
            Err(Failure::Unavailable(why)) => Ok(group
                .iter()
                .map(|e| Observed {
                    observations: self.local_observed(e, FALLBACK),
                    retry_later: Some(why.clone()),
                    failed: None,
                })
                .collect()),
            Err(Failure::Invalid(why)) => Ok(group
                .iter()
                .map(|e| Observed {
                    observations: self.local_observed(e, FALLBACK),
                    retry_later: None,
                    failed: Some(why.clone()),
                })
                .collect()),
        }
    }

    fn local_summary(
        &mut self,
        stop: &EventRow,
        turn: &TurnFacts,
        source: &'static str,
    ) -> Option<NewSummary> {
        self.local
            .summarize(stop, turn)
            .ok()
            .flatten()
            .map(|s| NewSummary { source, ..s })
    }
}

impl Provider for ClaudeObserver {
    fn name(&self) -> &'static str {
        "claude"
    }

    fn observe(&mut self, event: &EventRow) -> Result<Vec<NewObservation>, ProviderError> {
        let mut r = self.observe_batch(std::slice::from_ref(event));
        r.pop()
            .unwrap_or_else(|| Ok(Observed::default()))
            .map(|o| o.observations)
    }

    fn observe_batch(&mut self, events: &[EventRow]) -> Vec<Result<Observed, ProviderError>> {
        let mut out: Vec<Option<Result<Observed, ProviderError>>> =
            events.iter().map(|_| None).collect();
        // Groups: a session's tool events, in arrival order, at most `batch` per message.
        let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
        for (i, ev) in events.iter().enumerate() {
            if ev.input.tool_name.is_none() {
                if ev.event == HookEvent::SessionEnd {
                    // The user session is over: so is its observer, conversation included.
                    self.live.remove(&ev.session_id);
                    self.supervisor.stop(&key(&ev.session_id), true);
                    // A resumed session starts a new observer: it gets the init prompt again.
                    let _ = self.conn.execute(
                        "UPDATE observer_sessions SET claude_session = NULL WHERE session_id = ?1",
                        [&ev.session_id],
                    );
                }
                out[i] = Some(Ok(Observed::default()));
                continue;
            }
            match groups
                .iter_mut()
                .find(|(s, g)| *s == ev.session_id && g.len() < self.batch)
            {
                Some((_, g)) => g.push(i),
                None => groups.push((ev.session_id.clone(), vec![i])),
            }
        }
        for (_, idx) in groups {
            let group: Vec<&EventRow> = idx.iter().map(|&i| &events[i]).collect();
            match self.observe_group(&group) {
                Ok(list) => {
                    for (i, o) in idx.iter().zip(list) {
                        out[*i] = Some(Ok(o));
                    }
                }
                Err(e) => {
                    for i in &idx {
                        out[*i] = Some(Err(ProviderError(e.0.clone())));
                    }
                }
            }
        }
        out.into_iter()
            .map(|o| o.unwrap_or_else(|| Ok(Observed::default())))
            .collect()
    }

    fn summarize(
        &mut self,
        stop: &EventRow,
        turn: &TurnFacts,
    ) -> Result<Option<NewSummary>, ProviderError> {
        self.summarize_full(stop, turn).map(|s| s.summary)
    }

    fn summarize_full(
        &mut self,
        stop: &EventRow,
        turn: &TurnFacts,
    ) -> Result<Summarized, ProviderError> {
        if self.over_budget(&stop.session_id)?.is_some() {
            return Ok(Summarized {
                summary: self.local_summary(stop, turn, BUDGET),
                ..Summarized::default()
            });
        }
        let prompt = format!(
            "{}{}",
            self.preamble(stop)?,
            prompts::summary(stop.input.last_assistant_message.as_deref())
        );
        match self.ask_until_valid(stop, prompt, parse::summary) {
            Ok((parse::SummaryAnswer::Summary(s), _)) => Ok(Summarized {
                summary: Some(NewSummary {
                    model: Some(self.model.clone()),
                    text: SummaryText {
                        files_read: turn.files_read.clone(),
                        files_edited: turn.files_modified.clone(),
                        ..s.text
                    },
                    ..*s
                }),
                ..Summarized::default()
            }),
            Ok((parse::SummaryAnswer::Skip(reason), _)) => {
                tracing::debug!(session_id = %stop.session_id, %reason, "observer skipped the summary");
                Ok(Summarized::default())
            }
            Err(Failure::Unavailable(why)) => Ok(Summarized {
                summary: self.local_summary(stop, turn, FALLBACK),
                retry_later: Some(why),
                failed: None,
            }),
            Err(Failure::Invalid(why)) => Ok(Summarized {
                summary: self.local_summary(stop, turn, FALLBACK),
                retry_later: None,
                failed: Some(why),
            }),
        }
    }

    fn ready_for_retries(&mut self) -> bool {
        let waiting: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM events WHERE observer_retry = 1",
                [],
                |r| r.get(0),
            )
            .unwrap_or(0);
        self.status.retry_waiting(waiting);
        if waiting == 0 {
            return false;
        }
        if self.status.is_up() {
            return true;
        }
        if self
            .last_probe
            .is_some_and(|t| t.elapsed() < self.retry_every)
        {
            return false;
        }
        self.last_probe = Some(Instant::now());
        self.supervisor.reachable()
    }

    fn tick(&mut self) {
        if !self.adopted {
            // Observers a previous run of memd left alive count against the cap and are
            // reaped like ours.
            self.adopted = true;
            for k in self.supervisor.live_keys(KEY_PREFIX) {
                let session = k[KEY_PREFIX.len()..].to_string();
                self.live.entry(session).or_insert_with(Instant::now);
            }
        }
        let idle: Vec<String> = self
            .live
            .iter()
            .filter(|(_, t)| t.elapsed() >= self.idle_reap)
            .map(|(s, _)| s.clone())
            .collect();
        for s in idle {
            tracing::debug!(session_id = %s, "stopping an idle observer");
            self.live.remove(&s);
            self.supervisor.stop(&key(&s), false);
        }
        self.status.live(self.live.len());
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_are_valid_supervisor_keys() {
        let k = super::key("3f2a-b c/d");
        assert!(
            claude_daemons::api::supervisor::valid_session_key(&k),
            "{k}"
        );
    }
}
