//! Ctrl-C and SIGTERM for commands that own child processes (`claudectl run`, `claudectl
//! bench`): the signal is only remembered, so the command can stop its children and clean
//! up before it exits, instead of dying with them orphaned.

use std::sync::atomic::{AtomicI32, Ordering};

static SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn remember(sig: libc::c_int) {
    SIGNAL.store(sig, Ordering::SeqCst);
}

/// Catch SIGINT and SIGTERM from now on.
pub fn catch() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, remember as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, remember as *const () as libc::sighandler_t);
    }
}

/// The signal received since [`catch`], if any.
pub fn received() -> Option<i32> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        sig => Some(sig),
    }
}
