//! The open-file limit: raised for the daemon, put back for the programs it starts.
//!
//! Every connection costs a file descriptor, and the usual soft limit (1,024) is small
//! enough for another local user to use up with idle TCP connections. The hard limit is
//! what the administrator allows; the soft one is only a default for programs that still
//! use `select(2)`. So a daemon raises its soft limit to the hard one at start, and
//! children (Claude Code) get the original soft limit back ([`restore_for_child`]).

use std::sync::OnceLock;

static ORIGINAL: OnceLock<libc::rlimit> = OnceLock::new();

/// The open-file limit before and after [`raise_nofile`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NofileRaise {
    /// The soft limit the process started with.
    pub from: u64,
    /// The soft limit now.
    pub to: u64,
}

fn get() -> Option<libc::rlimit> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } == 0).then_some(r)
}

/// The current soft open-file limit (1,024 when it cannot be read).
pub fn nofile() -> u64 {
    get().map_or(1024, |r| r.rlim_cur)
}

/// Raise the soft open-file limit to the hard limit. Returns what changed, or `None` when
/// it could not be read or was already at the hard limit.
pub fn raise_nofile() -> Option<NofileRaise> {
    let original = get()?;
    let _ = ORIGINAL.set(original);
    if original.rlim_cur >= original.rlim_max {
        return None;
    }
    // macOS refuses a soft limit above OPEN_MAX (10,240) even when the hard one is
    // "unlimited"; try that when the hard limit is refused.
    for target in [original.rlim_max, 10_240] {
        if target <= original.rlim_cur {
            continue;
        }
        let raised = libc::rlimit {
            rlim_cur: target,
            rlim_max: original.rlim_max,
        };
        // SAFETY: setrlimit reads the struct we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return Some(NofileRaise {
                from: original.rlim_cur,
                to: target,
            });
        }
    }
    None
}

/// Put back the soft open-file limit the daemon started with. Meant for `pre_exec` of a
/// child process: it only calls `setrlimit(2)`, which is async-signal-safe.
pub fn restore_for_child() -> std::io::Result<()> {
    if let Some(original) = ORIGINAL.get() {
        // SAFETY: setrlimit reads the struct we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, original) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
