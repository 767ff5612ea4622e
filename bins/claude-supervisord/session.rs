//! One session's task: its FIFO of turns (one in flight), its child (spawned lazily,
//! restarted with backoff after a crash, reaped when idle, evicted for room), and the
//! crash-loop breaker. Everything about a session changes here, in one task, so no lock
//! orders or races between a turn, a crash and a reap.

use crate::backoff::{Backoff, Breaker};
use crate::child::{self, Child, ChildEvent, ExitInfo, Spec};
use crate::pool::PoolInner;
use crate::records::{self, Settings};
use crate::turn::{Turn, TurnError};
use claude_daemons::api::supervisor::{AskResult, EventKind};
use claude_daemons::claude::{ChildInput, ChildMessage, ResultMessage};
use std::collections::VecDeque;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// How long an interrupted (timed-out) turn may take to end before its child is killed.
const DRAIN_GRACE: Duration = Duration::from_secs(5);

/// Bad lines per child reported as events; the rest only go to the log.
const BAD_EVENTS_PER_CHILD: u32 = 5;

pub enum Command {
    Ask(Turn),
    Interrupt(oneshot::Sender<bool>),
    /// Stop the child; with `forget`, drop the mapping. The task ends.
    Stop {
        forget: bool,
        reply: oneshot::Sender<(bool, bool)>,
    },
    /// Stop the child if it is idle, to make room.
    Evict,
    Shutdown,
}

/// What other tasks may read about a session.
#[derive(Clone, Debug)]
pub struct Live {
    pub state: &'static str,
    pub pid: Option<u32>,
    pub busy: bool,
    pub queued: usize,
    pub last_used: Instant,
    pub spawned_at: Option<Instant>,
    pub failure: Option<String>,
    pub recent_crashes: usize,
    /// An eviction was asked for and not yet handled.
    pub evicting: bool,
}

#[derive(Clone)]
pub struct SessionHandle {
    pub tx: mpsc::UnboundedSender<Command>,
    pub live: Arc<Mutex<Live>>,
    pub pending: Arc<AtomicUsize>,
    pub session_id: Arc<str>,
    /// The settings last stored for the session, so a warm ask that changes nothing needs
    /// no database round trip.
    pub settings: Arc<Mutex<Settings>>,
}

impl SessionHandle {
    pub fn live(&self) -> Live {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn settings(&self) -> Settings {
        self.settings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set_settings(&self, s: Settings) {
        *self.settings.lock().unwrap_or_else(|p| p.into_inner()) = s;
    }
}

/// The turn at the head of the queue.
struct Active {
    turn: Turn,
    deadline: Instant,
    /// Written to the child (else waiting for a child to be ready).
    sent: bool,
    cold: bool,
}

struct Actor {
    key: String,
    session_id: String,
    pool: Arc<PoolInner>,
    rx: mpsc::UnboundedReceiver<Command>,
    live: Arc<Mutex<Live>>,
    queue: VecDeque<Turn>,
    active: Option<Active>,
    child: Option<Child>,
    child_settings: Option<Settings>,
    ready: bool,
    handshake_id: String,
    spawn_deadline: Option<Instant>,
    /// A timed-out turn's result is still to come from the child; discard it.
    draining: Option<Instant>,
    restart_at: Option<Instant>,
    failed: Option<String>,
    backoff: Backoff,
    breaker: Breaker,
    last_used: Instant,
    bad_events: u32,
    seq: u64,
}

pub fn start(
    pool: Arc<PoolInner>,
    key: String,
    session_id: String,
    settings: Settings,
) -> SessionHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    let live = Arc::new(Mutex::new(Live {
        state: "idle",
        pid: None,
        busy: false,
        queued: 0,
        last_used: Instant::now(),
        spawned_at: None,
        failure: None,
        recent_crashes: 0,
        evicting: false,
    }));
    let c = &pool.config;
    let handle_id: Arc<str> = session_id.as_str().into();
    let actor = Actor {
        key,
        session_id,
        backoff: Backoff::new(
            Duration::from_millis(c.restart_base_ms),
            Duration::from_millis(c.restart_max_ms),
        ),
        breaker: Breaker::new(c.crash_limit, Duration::from_secs(c.crash_window_secs)),
        pool,
        rx,
        live: live.clone(),
        queue: VecDeque::new(),
        active: None,
        child: None,
        child_settings: None,
        ready: false,
        handshake_id: String::new(),
        spawn_deadline: None,
        draining: None,
        restart_at: None,
        failed: None,
        last_used: Instant::now(),
        bad_events: 0,
        seq: 0,
    };
    tokio::spawn(actor.run());
    SessionHandle {
        tx,
        live,
        pending: Arc::new(AtomicUsize::new(0)),
        session_id: handle_id,
        settings: Arc::new(Mutex::new(settings)),
    }
}

enum Wake {
    Cmd(Option<Command>),
    Child(ChildEvent),
    Tick,
}

impl Actor {
    async fn run(mut self) {
        loop {
            self.advance().await;
            self.publish();
            let deadline = self.next_deadline();
            let wake = tokio::select! {
                biased;
                cmd = self.rx.recv() => Wake::Cmd(cmd),
                ev = next_event(&mut self.child) => Wake::Child(ev),
                _ = sleep_until(deadline) => Wake::Tick,
            };
            match wake {
                Wake::Cmd(None) | Wake::Cmd(Some(Command::Shutdown)) => {
                    self.stop_all("shutting_down", "the supervisor is shutting down")
                        .await;
                    return;
                }
                Wake::Cmd(Some(Command::Stop { forget, reply })) => {
                    let stopped = self.stop_all("stopped", "the session was stopped").await;
                    let mut forgotten = false;
                    if forget {
                        let key = self.key.clone();
                        forgotten = matches!(
                            self.pool.db.call(move |c| records::delete(c, &key)).await,
                            Ok(Ok(true))
                        );
                    }
                    let _ = reply.send((stopped, forgotten));
                    return;
                }
                Wake::Cmd(Some(cmd)) => self.command(cmd).await,
                Wake::Child(ev) => self.child_event(ev).await,
                Wake::Tick => self.tick().await,
            }
        }
    }

    fn emit(&self, kind: EventKind, detail: Option<String>) {
        let pid = self.child.as_ref().map(|c| c.pid);
        self.pool.events.emit(kind, &self.key, pid, detail);
    }

    fn idle(&self) -> bool {
        self.active.is_none() && self.queue.is_empty() && self.draining.is_none()
    }

    fn publish(&mut self) {
        let state = if self.failed.is_some() {
            "failed"
        } else if self.child.is_some() && !self.ready {
            "starting"
        } else if self.child.is_some() && !self.idle() {
            "busy"
        } else if self.child.is_some() {
            "ready"
        } else if self.restart_at.is_some() {
            "backoff"
        } else {
            "idle"
        };
        let recent = self.breaker.recent(Instant::now());
        let mut l = self.live.lock().unwrap_or_else(|p| p.into_inner());
        l.state = state;
        l.pid = self.child.as_ref().map(|c| c.pid);
        l.spawned_at = self.child.as_ref().map(|c| c.spawned_at);
        l.busy = !self.idle();
        l.queued = self.queue.len();
        l.last_used = self.last_used;
        l.failure = self.failed.clone();
        l.recent_crashes = recent;
    }

    fn next_deadline(&self) -> Option<Instant> {
        let reap = (self.pool.config.idle_reap_secs > 0
            && self.child.is_some()
            && self.ready
            && self.idle())
        .then(|| self.last_used + Duration::from_secs(self.pool.config.idle_reap_secs));
        [
            self.active.as_ref().map(|a| a.deadline),
            self.spawn_deadline,
            self.draining,
            self.restart_at,
            reap,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Move the head turn forward as far as it can go without waiting.
    async fn advance(&mut self) {
        if let Some(why) = &self.failed {
            let why = why.clone();
            for t in self.queue.drain(..) {
                t.finish(Err(TurnError::new("session_failed", why.clone())));
            }
            return;
        }
        if self.active.is_none() && self.draining.is_none() {
            if let Some(turn) = self.queue.pop_front() {
                self.active = Some(Active {
                    deadline: Instant::now() + turn.timeout,
                    turn,
                    sent: false,
                    cold: false,
                });
            }
        }
        let Some((sent, wanted, deadline)) = self
            .active
            .as_ref()
            .map(|a| (a.sent, a.turn.settings.clone(), a.deadline))
        else {
            return;
        };
        if sent {
            return;
        }
        if self.child.is_some() && self.ready && self.child_settings.as_ref() != Some(&wanted) {
            self.stop_child(
                EventKind::Stopped,
                "settings changed; restarting with --resume",
            )
            .await;
        }
        if self.child.is_none() {
            if self.restart_at.is_some_and(|t| t > Instant::now()) {
                return;
            }
            self.restart_at = None;
            self.spawn(wanted, Some(deadline)).await;
            if let Some(a) = &mut self.active {
                a.cold = true;
            }
        }
        if self.ready {
            let a = self.active.as_mut().expect("active turn");
            let child = self.child.as_ref().expect("ready child");
            if child.send(&ChildInput::user(a.turn.prompt.clone())) {
                a.sent = true;
                self.last_used = Instant::now();
            }
        }
    }

    /// Start a child; `deadline` set means a turn waits for it (so another idle child may
    /// be evicted for room), else this is a restart that only takes a free slot.
    async fn spawn(&mut self, settings: Settings, deadline: Option<Instant>) {
        let Some(permit) = self.pool.acquire_slot(&self.key, deadline).await else {
            if let Some(a) = self.active.take() {
                a.turn.finish(Err(TurnError::new(
                    "spawn_failed",
                    format!(
                        "no room for another process (max_processes = {}) and none idle to evict",
                        self.pool.config.max_processes
                    ),
                )));
            }
            return;
        };
        let spec = Spec {
            kind: child::ChildKind::StreamJson,
            bin: self.pool.config.claude_bin.clone(),
            session_id: self.session_id.clone(),
            settings: settings.clone(),
        };
        match child::spawn(&spec, permit, self.pool.activity.enter()) {
            Ok(c) => {
                self.seq += 1;
                self.handshake_id = format!("init-{}", self.seq);
                c.send(&ChildInput::control(
                    self.handshake_id.clone(),
                    "initialize",
                ));
                let detail = if c.resumed {
                    format!("--resume {}", self.session_id)
                } else {
                    format!("--session-id {}", self.session_id)
                };
                self.child = Some(c);
                self.child_settings = Some(settings);
                self.ready = false;
                self.bad_events = 0;
                self.spawn_deadline =
                    Some(Instant::now() + Duration::from_secs(self.pool.config.spawn_timeout_secs));
                self.emit(EventKind::Spawned, Some(detail));
            }
            Err(e) => {
                let why = format!("cannot start {}: {e}", spec.bin);
                self.crashed(why, "spawn_failed").await;
            }
        }
    }

    async fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Ask(turn) => {
                if let Some(why) = &self.failed {
                    turn.finish(Err(TurnError::new("session_failed", why.clone())));
                } else {
                    self.queue.push_back(turn);
                }
            }
            Command::Interrupt(reply) => {
                let sent = match (&self.active, &self.child) {
                    (Some(a), Some(c)) if a.sent => {
                        self.seq += 1;
                        c.send(&ChildInput::control(
                            format!("interrupt-{}", self.seq),
                            "interrupt",
                        ))
                    }
                    _ => false,
                };
                if sent {
                    self.emit(EventKind::Interrupted, None);
                }
                let _ = reply.send(sent);
            }
            Command::Evict => {
                self.live.lock().unwrap_or_else(|p| p.into_inner()).evicting = false;
                if self.child.is_some() && self.idle() {
                    self.stop_child(EventKind::Evicted, "room needed under max_processes")
                        .await;
                }
            }
            Command::Stop { .. } | Command::Shutdown => unreachable!("handled by run"),
        }
    }

    async fn child_event(&mut self, ev: ChildEvent) {
        match ev {
            ChildEvent::Exited(info) => {
                let why = format!(
                    "claude exited ({}){}",
                    info.status,
                    tail_suffix(&info.stderr_tail)
                );
                self.emit(EventKind::Exited, Some(why.clone()));
                self.child = None;
                self.crashed(why, "child_exited").await;
            }
            ChildEvent::Bad { reason, ends_turn } => {
                self.bad_events += 1;
                if self.bad_events <= BAD_EVENTS_PER_CHILD {
                    self.emit(EventKind::BadOutput, Some(reason.clone()));
                } else {
                    tracing::warn!(SESSION_KEY = %self.key, "skipped child output: {reason}");
                }
                if ends_turn {
                    if let Some(a) = self.active.take_if(|a| a.sent) {
                        a.turn.finish(Err(TurnError::new("child_output", reason)));
                        self.last_used = Instant::now();
                    }
                }
            }
            ChildEvent::Message(msg, raw) => self.message(msg, raw).await,
        }
    }

    async fn message(&mut self, msg: ChildMessage, raw: Arc<str>) {
        if let Some(a) = self.active.as_ref().filter(|a| a.sent) {
            if self.draining.is_none() {
                a.turn.line(&raw);
            }
        }
        match msg {
            ChildMessage::ControlResponse(r) if r.response.request_id == self.handshake_id => {
                if r.response.is_success() {
                    self.became_ready();
                } else {
                    let why = format!(
                        "claude refused the handshake: {}",
                        r.response.error.unwrap_or_default()
                    );
                    self.kill_child().await;
                    self.crashed(why, "spawn_failed").await;
                }
            }
            // Older CLIs or other drivers announce themselves with `init` only.
            ChildMessage::System(s) if s.subtype == "init" => {
                if s.session_id
                    .as_deref()
                    .is_some_and(|id| id != self.session_id)
                {
                    tracing::warn!(SESSION_KEY = %self.key, expected = %self.session_id, got = ?s.session_id, "child reports another session id");
                }
                if !self.ready {
                    self.became_ready();
                }
            }
            ChildMessage::ControlRequest(r) => {
                // Nobody here answers permission prompts; say so rather than let it hang.
                if let Some(c) = &self.child {
                    c.send(&ChildInput::refuse(
                        r.request_id.clone(),
                        format!(
                            "claude-supervisord does not answer `{}` requests; set allowed_tools or a permission mode",
                            r.subtype()
                        ),
                    ));
                }
            }
            ChildMessage::Result(r) => {
                if self.draining.take().is_some() {
                    return;
                }
                match self.active.take_if(|a| a.sent) {
                    Some(a) => self.complete(a, *r).await,
                    None => {
                        tracing::warn!(SESSION_KEY = %self.key, "result with no turn in flight; skipped")
                    }
                }
            }
            _ => {}
        }
    }

    fn became_ready(&mut self) {
        self.ready = true;
        self.spawn_deadline = None;
        self.last_used = Instant::now();
        self.emit(EventKind::Ready, None);
    }

    async fn complete(&mut self, a: Active, r: ResultMessage) {
        self.last_used = Instant::now();
        self.backoff.reset();
        let cost = r.total_cost_usd;
        let result = AskResult {
            key: self.key.clone(),
            session_id: r.session_id.unwrap_or_else(|| self.session_id.clone()),
            result: r.result,
            is_error: r.is_error,
            subtype: r.subtype,
            total_cost_usd: r.total_cost_usd,
            duration_ms: r.duration_ms,
            num_turns: r.num_turns,
            usage: r.usage,
            cold: a.cold,
            elapsed_ms: a.turn.accepted.elapsed().as_millis() as u64,
        };
        // The caller first; the bookkeeping is not on its path. The next command waits for
        // it, so turns are counted in order.
        a.turn.finish(Ok(result));
        let key = self.key.clone();
        if let Ok(Err(e)) = self
            .pool
            .db
            .call(move |c| records::record_turn(c, &key, cost))
            .await
        {
            tracing::error!(SESSION_KEY = %self.key, "cannot record the turn: {e}");
        }
    }

    /// The child is gone unexpectedly (or never came up): fail what waited on it, then
    /// schedule a restart or trip the breaker.
    async fn crashed(&mut self, why: String, code: &'static str) {
        self.child = None;
        self.ready = false;
        self.spawn_deadline = None;
        self.draining = None;
        if let Some(a) = self.active.take() {
            a.turn.finish(Err(TurnError::new(code, why.clone())));
        }
        if self.breaker.record(Instant::now()) {
            let reason = format!(
                "{} crashes within {} s; last: {why}",
                self.pool.config.crash_limit, self.pool.config.crash_window_secs
            );
            self.failed = Some(reason.clone());
            self.restart_at = None;
            self.emit(EventKind::Failed, Some(reason));
            return;
        }
        let delay = self.backoff.next_delay();
        self.restart_at = Some(Instant::now() + delay);
        self.emit(
            EventKind::RestartScheduled,
            Some(format!("in {} ms", delay.as_millis())),
        );
    }

    async fn tick(&mut self) {
        let now = Instant::now();
        if self.spawn_deadline.is_some_and(|d| d <= now) {
            let why = format!(
                "claude did not answer its handshake within {} s",
                self.pool.config.spawn_timeout_secs
            );
            let tail = self.kill_child().await;
            self.crashed(format!("{why}{}", tail_suffix(&tail)), "spawn_failed")
                .await;
            return;
        }
        if let Some(a) = self.active.take_if(|a| a.deadline <= now) {
            let ms = a.turn.timeout.as_millis();
            self.emit(EventKind::TurnTimeout, Some(format!("after {ms} ms")));
            if a.sent {
                if let Some(c) = &self.child {
                    self.seq += 1;
                    c.send(&ChildInput::control(
                        format!("interrupt-{}", self.seq),
                        "interrupt",
                    ));
                }
                self.draining = Some(now + DRAIN_GRACE);
            }
            a.turn.finish(Err(TurnError::new(
                "turn_timeout",
                format!("no result within {ms} ms"),
            )));
            self.last_used = now;
        }
        if self.draining.is_some_and(|d| d <= now) {
            self.draining = None;
            self.kill_child().await;
            self.emit(
                EventKind::Stopped,
                Some("an interrupted turn did not end; killed".into()),
            );
        }
        if self.restart_at.is_some_and(|t| t <= now) {
            self.restart_at = None;
            if self.child.is_none() && self.active.is_none() && self.failed.is_none() {
                let settings = self.child_settings.clone();
                if let Some(s) = settings {
                    self.spawn(s, None).await;
                }
            }
        }
        let reap = self.pool.config.idle_reap_secs;
        if reap > 0
            && self.child.is_some()
            && self.ready
            && self.idle()
            && self.last_used + Duration::from_secs(reap) <= now
        {
            self.stop_child(EventKind::Reaped, &format!("idle for {reap} s"))
                .await;
        }
    }

    /// Graceful stop of the child (not a crash).
    async fn stop_child(&mut self, kind: EventKind, why: &str) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        let pid = c.pid;
        let exit = c
            .stop(Duration::from_millis(self.pool.config.stop_grace_ms))
            .await;
        drop(c);
        self.ready = false;
        self.spawn_deadline = None;
        self.pool.events.emit(
            kind,
            &self.key,
            Some(pid),
            Some(format!("{why} ({})", exit.status)),
        );
    }

    /// SIGKILL the child's group and wait for it; returns its stderr tail.
    async fn kill_child(&mut self) -> String {
        let Some(mut c) = self.child.take() else {
            return String::new();
        };
        c.signal(libc::SIGKILL);
        let exit: ExitInfo = c.stop(Duration::from_secs(1)).await;
        self.ready = false;
        self.spawn_deadline = None;
        exit.stderr_tail
    }

    /// Fail every turn and stop the child; true if a child was running.
    async fn stop_all(&mut self, code: &'static str, why: &str) -> bool {
        if let Some(a) = self.active.take() {
            a.turn.finish(Err(TurnError::new(code, why)));
        }
        for t in self.queue.drain(..) {
            t.finish(Err(TurnError::new(code, why)));
        }
        let running = self.child.is_some();
        self.stop_child(EventKind::Stopped, why).await;
        running
    }
}

fn tail_suffix(tail: &str) -> String {
    if tail.is_empty() {
        String::new()
    } else {
        format!("; stderr: {tail}")
    }
}

async fn next_event(child: &mut Option<Child>) -> ChildEvent {
    match child {
        Some(c) => c
            .events
            .recv()
            .await
            .unwrap_or(ChildEvent::Exited(ExitInfo {
                status: "gone".into(),
                stderr_tail: String::new(),
            })),
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}
