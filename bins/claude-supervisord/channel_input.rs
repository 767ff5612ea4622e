//! How prompts go into an interactive child: through the supervisor's own channel server
//! (`claudectl sup channel`, in the child's `--mcp-config`, loaded as a development
//! channel) when Claude Code listens to it, else typed into the PTY.
//!
//! The choice is made once, when the child is otherwise ready (its prompt box on screen),
//! from events rather than guesses: the channel server's connection back (matched on the
//! session key and id, `routes/channel.rs`) and Claude Code's own verdict in its
//! `--debug-file` (`Channel notifications registered`, or `skipped: <reason>` — the
//! feature flag is off, for one). Claude Code drops a notification that arrives before
//! it registered the channel, so a prompt is sent only after both. Without a verdict
//! within [`CHANNEL_WAIT`] of the prompt box, `auto` types; `channel` waits on (the
//! spawn's own timeout bounds it) and fails the start only on Claude Code's `skipped`.

use crate::file_tail::FileTail;
use claude_daemons::api::supervisor::{CHANNEL_META_KEY, CHANNEL_SERVER};
use claude_daemons::claude::{channel_log_verdict, ChannelNotification};
use claude_daemons::config::InteractiveInput;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long after the prompt box shows the channel may take to connect and register.
pub const CHANNEL_WAIT: Duration = Duration::from_secs(20);

/// What the starting child's input is to be.
#[derive(Debug, PartialEq, Eq)]
pub enum Choice {
    /// No verdict yet: look again later.
    NotYet,
    /// Through the channel.
    Channel,
    /// Typed; with the reason when the channel was wanted.
    Typing(Option<String>),
    /// `interactive_input = "channel"` and Claude Code did not load it.
    Fail(String),
}

pub struct ChannelInput {
    mode: InteractiveInput,
    key: String,
    debug: FileTail,
    sender: Option<mpsc::UnboundedSender<ChannelNotification>>,
    /// Claude Code's verdict from its debug log.
    verdict: Option<Result<(), String>>,
    /// When the prompt box was first seen.
    waiting_since: Option<Instant>,
    /// Chosen: prompts go through the channel.
    active: bool,
}

impl ChannelInput {
    /// For a child started with `mode`, whose debug log is `debug_file` (read from its
    /// start: the log of an earlier process of the session was moved aside before the
    /// spawn).
    pub fn new(mode: InteractiveInput, key: &str, debug_file: PathBuf) -> ChannelInput {
        ChannelInput {
            mode,
            key: key.to_string(),
            debug: FileTail::from_start(debug_file),
            sender: None,
            verdict: None,
            waiting_since: None,
            active: false,
        }
    }

    /// The channel server connected (a newer connection replaces an older one).
    pub fn connected(&mut self, tx: mpsc::UnboundedSender<ChannelNotification>) {
        self.sender = Some(tx);
    }

    fn connected_now(&self) -> bool {
        self.sender.as_ref().is_some_and(|s| !s.is_closed())
    }

    /// Decide, now that the prompt box is on screen.
    pub fn choose(&mut self) -> Choice {
        if self.mode == InteractiveInput::Typing {
            return Choice::Typing(None);
        }
        if self.verdict.is_none() {
            self.verdict = self
                .debug
                .read_lines()
                .iter()
                .find_map(|l| channel_log_verdict(&String::from_utf8_lossy(l), CHANNEL_SERVER));
        }
        let since = *self.waiting_since.get_or_insert_with(Instant::now);
        let why = match &self.verdict {
            Some(Ok(())) if self.connected_now() => {
                self.active = true;
                return Choice::Channel;
            }
            Some(Err(reason)) => format!("Claude Code skipped the channel: {reason}"),
            // Required: `spawn_timeout_secs` bounds the wait (a loaded machine may be slow to
            // start the server); wanted: typing after a while is better than waiting.
            _ if self.mode == InteractiveInput::Channel || since.elapsed() < CHANNEL_WAIT => {
                return Choice::NotYet
            }
            Some(Ok(())) => format!(
                "the channel server did not connect back within {} s",
                CHANNEL_WAIT.as_secs()
            ),
            None => format!(
                "Claude Code did not register the channel within {} s",
                CHANNEL_WAIT.as_secs()
            ),
        };
        match self.mode {
            InteractiveInput::Channel => Choice::Fail(format!(
                "interactive_input = \"channel\" and {why} (see its --debug-file)"
            )),
            _ => Choice::Typing(Some(why)),
        }
    }

    /// Send `text` as the next turn; false when it must be typed instead (the channel was
    /// not chosen, or its server went away).
    pub fn send(&mut self, text: &str) -> bool {
        if !self.active {
            return false;
        }
        let meta = [(CHANNEL_META_KEY.to_string(), self.key.clone())].into();
        let note = ChannelNotification::new(text.to_string(), meta);
        match &self.sender {
            Some(s) if s.send(note).is_ok() => true,
            _ => {
                self.active = false;
                false
            }
        }
    }

    /// Whether prompts go through the channel.
    pub fn active(&self) -> bool {
        self.active
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_debug_log_and_the_connection_decide() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("debug.log");
        std::fs::write(&log, "[DEBUG] starting\n").unwrap();
        let mut c = ChannelInput::new(InteractiveInput::Auto, "k", log.clone());
        assert_eq!(c.choose(), Choice::NotYet);
        let (tx, mut rx) = mpsc::unbounded_channel();
        c.connected(tx);
        assert_eq!(c.choose(), Choice::NotYet, "connected, not registered");
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        writeln!(
            f,
            "[DEBUG] MCP server \"claude-supervisord\": Channel notifications registered"
        )
        .unwrap();
        assert_eq!(c.choose(), Choice::Channel);
        assert!(c.send("hi"));
        let n = rx.try_recv().unwrap();
        assert_eq!(
            (n.content.as_str(), n.meta["session_key"].as_str()),
            ("hi", "k")
        );
        drop(rx);
        assert!(!c.send("again"), "the server went away: typed");
        assert!(!c.active());

        let skipped = "MCP server \"claude-supervisord\": Channel notifications skipped: channels feature is not currently available\n";
        for (mode, want_fail) in [
            (InteractiveInput::Auto, false),
            (InteractiveInput::Channel, true),
        ] {
            std::fs::write(&log, "").unwrap();
            let mut c = ChannelInput::new(mode, "k", log.clone());
            std::fs::write(&log, skipped).unwrap();
            match c.choose() {
                Choice::Typing(Some(why)) if !want_fail => {
                    assert!(why.contains("not currently available"), "{why}")
                }
                Choice::Fail(why) if want_fail => {
                    assert!(why.contains("not currently available"), "{why}")
                }
                other => panic!("{mode:?}: {other:?}"),
            }
        }
        let mut c = ChannelInput::new(InteractiveInput::Typing, "k", log);
        assert_eq!(c.choose(), Choice::Typing(None));
        assert!(!c.send("typed"));
    }
}
