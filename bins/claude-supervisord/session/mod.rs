//! One session's task: its FIFO of turns (one in flight), its child (spawned lazily,
//! restarted with backoff after a crash, reaped when idle, evicted for room), and the
//! crash-loop breaker. Everything about a session changes in that one task, so there are no
//! lock orders or races between a turn, a crash and a reap.
//!
//! - this file: what other tasks see (the handle, its live state, commands);
//! - `actor.rs`: the task's loop, turn scheduling, timers and stopping the child;
//! - `output.rs`: what the child says, how a turn ends, and crashes;
//! - `stop.rs`: stopping the child, gracefully or not.

mod actor;
mod output;
mod stop;

use crate::pool::PoolInner;
use crate::records::Settings;
use crate::turn::Turn;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

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
    let handle_id: Arc<str> = session_id.as_str().into();
    actor::spawn(pool, key, session_id, rx, live.clone());
    SessionHandle {
        tx,
        live,
        pending: Arc::new(AtomicUsize::new(0)),
        session_id: handle_id,
        settings: Arc::new(Mutex::new(settings)),
    }
}
