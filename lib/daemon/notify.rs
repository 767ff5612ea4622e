//! Talking to the service manager with `sd_notify`: readiness, status lines a person reads in
//! `systemctl --user status`, watchdog pings and the stopping notice. Without `NOTIFY_SOCKET`
//! (foreground, launchd) every call is a no-op.

use sd_notify::NotifyState;
use std::time::Duration;

/// Sends notifications when a service manager listens for them.
#[derive(Clone, Debug)]
pub struct Notifier {
    enabled: bool,
}

impl Notifier {
    /// Notify only when `NOTIFY_SOCKET` is set and `enabled` (foreground mode disables it).
    pub fn from_env(enabled: bool) -> Notifier {
        Notifier {
            enabled: enabled && std::env::var_os("NOTIFY_SOCKET").is_some(),
        }
    }

    fn send(&self, states: &[NotifyState]) {
        if self.enabled {
            // The socket variable stays set: we notify for the whole life of the process.
            if let Err(e) = sd_notify::notify(false, states) {
                tracing::warn!(error = %e, "sd_notify failed");
            }
        }
    }

    /// `READY=1` with a status line.
    pub fn ready(&self, status: &str) {
        self.send(&[NotifyState::Ready, NotifyState::Status(status)]);
    }

    /// A new status line.
    pub fn status(&self, status: &str) {
        self.send(&[NotifyState::Status(status)]);
    }

    /// `WATCHDOG=1`.
    pub fn watchdog(&self) {
        self.send(&[NotifyState::Watchdog]);
    }

    /// `STOPPING=1` with the reason.
    pub fn stopping(&self, status: &str) {
        self.send(&[NotifyState::Stopping, NotifyState::Status(status)]);
    }

    /// The watchdog interval requested by the service manager for this process, if any.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        if !self.enabled {
            return None;
        }
        let mut usec = 0;
        sd_notify::watchdog_enabled(false, &mut usec).then(|| Duration::from_micros(usec))
    }
}
