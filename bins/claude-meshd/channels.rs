//! Which local sessions have a channel connected: a `claudectl mcp` started by
//! `claudectl launch` follows `/v1/events?session=<id>&channel=true` for as long as the
//! session runs, and pushes what arrives into it. `doctor` and `peers` show it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Open channel streams per session.
#[derive(Default, Clone)]
pub struct Channels(Arc<Mutex<HashMap<String, usize>>>);

/// Held by a channel's event stream; the count drops with it.
pub struct ChannelGuard {
    channels: Channels,
    session: String,
}

impl Channels {
    /// A channel stream for `session` opened.
    pub fn open(&self, session: &str) -> ChannelGuard {
        *self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(session.to_string())
            .or_default() += 1;
        ChannelGuard {
            channels: self.clone(),
            session: session.to_string(),
        }
    }

    /// Whether `session` has a channel connected now.
    pub fn connected(&self, session: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(session)
            .is_some_and(|n| *n > 0)
    }
}

impl Drop for ChannelGuard {
    fn drop(&mut self) {
        let mut m = self.channels.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.session) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.session);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_the_guards() {
        let c = Channels::default();
        let a = c.open("s");
        let b = c.open("s");
        drop(a);
        assert!(c.connected("s"));
        drop(b);
        assert!(!c.connected("s"));
    }
}
