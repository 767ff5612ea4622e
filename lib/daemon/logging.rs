//! Logging: to the journal with structured fields when systemd connected our stderr to it
//! (`JOURNAL_STREAM` matches stderr's device and inode), otherwise readable lines on stderr.
//! `RUST_LOG` filters either way (default `info`).

use std::os::fd::AsRawFd;
use tracing_subscriber::{layer::SubscriberExt, util::SubscriberInitExt, EnvFilter};

/// Where log lines go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogTarget {
    /// The systemd journal, with event fields as journal fields (`SESSION_ID=…`).
    Journal,
    /// Human-readable lines on stderr.
    Stderr,
}

/// Whether stderr is the journal stream systemd set up for this service.
pub fn stderr_is_journal() -> bool {
    let Some(value) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = value.to_str().and_then(|v| v.split_once(':')) else {
        return false;
    };
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat on our own stderr with a valid out-pointer.
    if unsafe { libc::fstat(std::io::stderr().as_raw_fd(), &mut st) } != 0 {
        return false;
    }
    dev.parse::<u64>().ok() == Some(st.st_dev as u64)
        && ino.parse::<u64>().ok() == Some(st.st_ino as u64)
}

/// Install the global subscriber for `program`. `force_stderr` (foreground mode) skips the
/// journal even when it is available.
pub fn init(program: &'static str, force_stderr: bool) -> LogTarget {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    if !force_stderr && stderr_is_journal() {
        match tracing_journald::layer() {
            Ok(layer) => {
                // No field prefix: `session_id` becomes `SESSION_ID`, so
                // `journalctl --user -u claude-memd SESSION_ID=…` works.
                let layer = layer
                    .with_syslog_identifier(program.to_string())
                    .with_field_prefix(None);
                tracing_subscriber::registry()
                    .with(filter)
                    .with(layer)
                    .init();
                return LogTarget::Journal;
            }
            Err(e) => eprintln!("{program}: journal unavailable ({e}); logging to stderr"),
        }
    }
    // Colours only for a person at a terminal, never into pipes and log files.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    LogTarget::Stderr
}
