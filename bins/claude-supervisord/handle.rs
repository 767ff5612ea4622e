//! What other tasks hold of a session's task: its command channel, its live state and its
//! settings. The task itself is in `session/`.

use crate::settings::Settings;
use crate::terminal::Terminal;
use crate::turn::{Turn, TurnError};
use claude_daemons::api::supervisor::{PermissionDecision, PermissionRequest};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

pub enum Command {
    // Boxed: a turn carries its settings, much larger than any other command.
    Ask(Box<Turn>),
    Interrupt(oneshot::Sender<bool>),
    /// Spawn the child now if there is none (prewarm); the reply comes once it is ready.
    Start(oneshot::Sender<Result<(), TurnError>>),
    /// Answer a pending permission prompt; `None` if it is not pending here.
    Permission {
        id: String,
        decision: PermissionDecision,
        reply: oneshot::Sender<Option<PermissionRequest>>,
    },
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
    /// An interactive child's terminal.
    pub terminal: Option<Arc<Terminal>>,
}

impl Live {
    pub fn new() -> Live {
        Live {
            state: "idle",
            pid: None,
            busy: false,
            queued: 0,
            last_used: Instant::now(),
            spawned_at: None,
            failure: None,
            recent_crashes: 0,
            evicting: false,
            terminal: None,
        }
    }
}

#[derive(Clone)]
pub struct SessionHandle {
    pub tx: mpsc::UnboundedSender<Command>,
    pub live: Arc<Mutex<Live>>,
    pub pending: Arc<AtomicUsize>,
    pub session_id: Arc<str>,
    /// The settings last stored for the session, shared with its task: a warm ask that
    /// changes nothing needs no database round trip, and the task reads the permission
    /// rules in force.
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
