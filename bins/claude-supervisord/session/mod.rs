//! One session's task: its FIFO of turns (one in flight), its child (spawned lazily or on
//! prewarm, restarted with backoff after a crash, reaped when idle, evicted for room), its
//! permission prompts, and the crash-loop breaker. Everything about a session changes in
//! that one task, so there are no lock orders or races between a turn, a crash and a reap.
//!
//! - `crate::handle`: what other tasks see (the handle, its live state, commands);
//! - `actor.rs`: the task's loop, turn scheduling, timers and stopping the child;
//! - `output.rs`: what the child says, how a turn ends, and crashes;
//! - `permission.rs`: `can_use_tool` prompts: rules, waiting for a person, the timeout;
//! - `control.rs`: live changes of model and permission mode, prewarm;
//! - `stop.rs`: stopping the child, gracefully or not.

mod actor;
mod control;
mod output;
mod permission;
mod stop;

use crate::handle::{Live, SessionHandle};
use crate::pool::PoolInner;
use crate::settings::Settings;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Start the task of session `key` (Claude session `session_id`; a fork of `fork_of`).
pub fn start(
    pool: Arc<PoolInner>,
    key: String,
    session_id: String,
    fork_of: Option<String>,
    settings: Settings,
) -> SessionHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    let live = Arc::new(Mutex::new(Live::new()));
    let settings = Arc::new(Mutex::new(settings));
    let handle_id: Arc<str> = session_id.as_str().into();
    actor::spawn(actor::Parts {
        pool,
        key,
        session_id,
        fork_of,
        rx,
        live: live.clone(),
        settings: settings.clone(),
    });
    SessionHandle {
        tx,
        live,
        pending: Arc::new(AtomicUsize::new(0)),
        session_id: handle_id,
        settings,
    }
}
