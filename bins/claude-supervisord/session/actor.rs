//! The session task's loop: schedule turns, spawn and stop the child, keep the timers.

use super::output::tail_suffix;
use super::permission::Pending;
use crate::backoff::{Backoff, Breaker};
use crate::child::{self, Child, ChildEvent, ExitInfo};
use crate::child_spec::Spec;
use crate::handle::{Command, Live};
use crate::pool::PoolInner;
use crate::records;
use crate::settings::Settings;
use crate::turn::{Turn, TurnError};
use claude_daemons::api::supervisor::EventKind;
use claude_daemons::claude::ChildInput;
use claude_daemons::paths::Daemon;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// How long an interrupted (timed-out) turn may take to end before its child is killed.
const DRAIN_GRACE: Duration = Duration::from_secs(5);

/// How long a session task without a child lingers when reaping is off.
const RETIRE_WITHOUT_REAP: Duration = Duration::from_secs(600);

/// The turn at the head of the queue.
pub(super) struct Active {
    pub(super) turn: Turn,
    pub(super) deadline: Instant,
    /// Written to the child (else waiting for a child to be ready).
    pub(super) sent: bool,
    pub(super) cold: bool,
}

pub(super) struct Actor {
    pub(super) key: String,
    pub(super) session_id: String,
    pub(super) pool: Arc<PoolInner>,
    pub(super) rx: mpsc::UnboundedReceiver<Command>,
    pub(super) live: Arc<Mutex<Live>>,
    pub(super) queue: VecDeque<Turn>,
    pub(super) active: Option<Active>,
    pub(super) child: Option<Child>,
    pub(super) child_settings: Option<Settings>,
    pub(super) ready: bool,
    pub(super) handshake_id: String,
    pub(super) spawn_deadline: Option<Instant>,
    /// A timed-out turn's result is still to come from the child; discard it.
    pub(super) draining: Option<Instant>,
    pub(super) restart_at: Option<Instant>,
    pub(super) failed: Option<String>,
    pub(super) backoff: Backoff,
    pub(super) breaker: Breaker,
    pub(super) last_used: Instant,
    pub(super) bad_events: u32,
    pub(super) seq: u64,
    /// A stop or shutdown that arrived while waiting for a slot, handled next.
    pub(super) deferred: Option<Command>,
    /// The session's settings as last stored (shared with its handle): the permission
    /// rules in force.
    pub(super) settings: Arc<Mutex<Settings>>,
    /// A fork's origin, until the fork's first turn completed.
    pub(super) fork_of: Option<String>,
    /// Permission prompts waiting for an answer, by our id.
    pub(super) permissions: HashMap<String, Pending>,
    /// Control requests of live changes (model, permission mode) not yet answered; the
    /// turn waits for them.
    pub(super) controls: HashSet<String>,
    /// Prewarm requests waiting for the child to be ready.
    pub(super) starters: Vec<oneshot::Sender<Result<(), TurnError>>>,
}

/// What a session task is made of.
pub(super) struct Parts {
    pub(super) pool: Arc<PoolInner>,
    pub(super) key: String,
    pub(super) session_id: String,
    pub(super) fork_of: Option<String>,
    pub(super) rx: mpsc::UnboundedReceiver<Command>,
    pub(super) live: Arc<Mutex<Live>>,
    pub(super) settings: Arc<Mutex<Settings>>,
}

pub(super) fn spawn(parts: Parts) {
    let Parts {
        pool,
        key,
        session_id,
        fork_of,
        rx,
        live,
        settings,
    } = parts;
    let c = &pool.config;
    let actor = Actor {
        key,
        session_id,
        settings,
        fork_of,
        permissions: HashMap::new(),
        controls: HashSet::new(),
        starters: Vec::new(),
        backoff: Backoff::new(
            Duration::from_millis(c.restart_base_ms),
            Duration::from_millis(c.restart_max_ms),
        ),
        breaker: Breaker::new(c.crash_limit, Duration::from_secs(c.crash_window_secs)),
        pool,
        rx,
        live,
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
        deferred: None,
    };
    tokio::spawn(actor.run());
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
            let deferred = self.deferred.take();
            let wake = tokio::select! {
                biased;
                cmd = async { deferred }, if deferred.is_some() => Wake::Cmd(cmd),
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
                Wake::Tick => {
                    self.tick().await;
                    if self.retire_at().is_some_and(|t| t <= Instant::now())
                        && self.pool.retire(&self.key, &self.live, &self.rx)
                    {
                        return;
                    }
                }
            }
        }
    }

    pub(super) fn emit(&self, kind: EventKind, detail: Option<String>) {
        let pid = self.child.as_ref().map(|c| c.pid);
        self.pool.events.emit(kind, &self.key, pid, detail);
    }

    pub(super) fn idle(&self) -> bool {
        self.active.is_none()
            && self.queue.is_empty()
            && self.draining.is_none()
            && self.permissions.is_empty()
    }

    pub(super) fn publish(&mut self) {
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
        l.terminal = self.child.as_ref().and_then(|c| c.terminal.clone());
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
            self.retire_at(),
            self.permissions.values().map(|p| p.deadline).min(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// When this task may end: nothing running, queued or pending for a while. Its session
    /// lives on in the database; the next ask starts a new task. A failed session stays, so
    /// its failure is visible until it is reset.
    fn retire_at(&self) -> Option<Instant> {
        let after = match self.pool.config.idle_reap_secs {
            0 => RETIRE_WITHOUT_REAP,
            s => Duration::from_secs(s),
        };
        (self.child.is_none() && self.idle() && self.restart_at.is_none() && self.failed.is_none())
            .then(|| self.last_used + after)
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
                    // Waiting for a child still starting (a restart) is a cold turn too.
                    cold: !self.ready,
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
            let in_place = self
                .child_settings
                .as_ref()
                .is_some_and(|c| c.same_process(&wanted));
            if in_place {
                self.change_in_place(wanted.clone());
            } else {
                self.stop_child(
                    EventKind::Stopped,
                    "settings changed; restarting with --resume",
                )
                .await;
            }
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
        if self.ready && self.controls.is_empty() {
            let a = self.active.as_mut().expect("active turn");
            let child = self.child.as_ref().expect("ready child");
            if child.send(&a.turn.input()) {
                a.sent = true;
                self.last_used = Instant::now();
            }
        }
    }

    /// Start a child; `deadline` set means a turn waits for it (so another idle child may
    /// be evicted for room), else this is a restart that only takes a free slot.
    pub(super) async fn spawn(&mut self, settings: Settings, deadline: Option<Instant>) {
        let Some(permit) = self.wait_for_slot(deadline).await else {
            if self.deferred.is_some() {
                // Stopping: the stop fails the turn with its own reason.
                return;
            }
            if let Some(a) = self.active.take() {
                let e = if self.pool.shutdown.is_cancelled() {
                    TurnError::new("shutting_down", "the supervisor is shutting down")
                } else {
                    TurnError::new(
                        "spawn_failed",
                        format!(
                            "no room for another process (max_processes = {}) and none idle to evict",
                            self.pool.config.max_processes
                        ),
                    )
                };
                a.turn.finish(Err(e));
            }
            return;
        };
        let paths = &self.pool.paths;
        let spec = Spec {
            kind: settings.kind,
            bin: self.pool.config.claude_bin.clone(),
            session_id: self.session_id.clone(),
            fork_of: self.fork_of.clone(),
            settings: settings.clone(),
            key: self.key.clone(),
            state_dir: paths.state_dir.join("interactive").join(&self.session_id),
            socket: paths.socket(Daemon::Supervisord),
            input: self.pool.config.interactive_input,
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
                } else if let Some(origin) = &self.fork_of {
                    format!(
                        "--resume {origin} --fork-session --session-id {}",
                        self.session_id
                    )
                } else {
                    format!("--session-id {}", self.session_id)
                };
                self.child = Some(c);
                self.child_settings = Some(settings);
                self.ready = false;
                self.controls.clear();
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

    /// A slot for a child, staying responsive meanwhile: asks queue up, interrupts find
    /// nothing to interrupt, and a stop or shutdown ends the wait (and is handled next).
    async fn wait_for_slot(
        &mut self,
        deadline: Option<Instant>,
    ) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let pool = self.pool.clone();
        let key = self.key.clone();
        let acquire = pool.acquire_slot(&key, deadline);
        tokio::pin!(acquire);
        loop {
            tokio::select! {
                p = &mut acquire => return p,
                cmd = self.rx.recv() => match cmd {
                    Some(Command::Ask(t)) => self.queue.push_back(*t),
                    Some(Command::Interrupt(reply)) => {
                        let _ = reply.send(false);
                    }
                    Some(Command::Evict) => {
                        self.live.lock().unwrap_or_else(|p| p.into_inner()).evicting = false;
                    }
                    Some(Command::Start(reply)) => self.starters.push(reply),
                    Some(Command::Permission { reply, .. }) => {
                        // No child yet, so nothing is pending.
                        let _ = reply.send(None);
                    }
                    Some(stop) => {
                        self.deferred = Some(stop);
                        return None;
                    }
                    None => {
                        self.deferred = Some(Command::Shutdown);
                        return None;
                    }
                },
            }
        }
    }

    async fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Ask(turn) => {
                if let Some(why) = &self.failed {
                    turn.finish(Err(TurnError::new("session_failed", why.clone())));
                } else {
                    self.queue.push_back(*turn);
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
            Command::Start(reply) => self.prewarm(reply).await,
            Command::Permission {
                id,
                decision,
                reply,
            } => {
                let r = self.answer_permission(&id, decision).await;
                let _ = reply.send(r);
            }
            Command::Stop { .. } | Command::Shutdown => unreachable!("handled by run"),
        }
    }

    async fn tick(&mut self) {
        let now = Instant::now();
        self.expire_permissions(now).await;
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
