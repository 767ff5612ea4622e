//! An interactive child: `claude` (its terminal UI, no `-p`) in a pseudo-terminal the
//! supervisor owns, driven so that the session sees what a headless child would say.
//!
//! It takes the same stream-json lines a headless child reads on stdin and answers with the
//! same lines: the `initialize` handshake is answered once Claude Code's prompt box is on
//! screen (startup dialogs answered on the way, `dialogs.rs`) and the way prompts go in is
//! chosen (`channel_input.rs`); a user message goes through the supervisor's channel, or is
//! typed into the prompt (bracketed paste, then Enter once the screen shows it); an
//! `interrupt` is the Escape key; the model's messages come from the transcript, its
//! `reply` tool calls as text deltas, and the turn's `result` from the Stop hook
//! (`stop_hook.rs`). Screen text is only used to start up and to see an interruption
//! through, never for answers.
//!
//! pty-process spawns under tokio with the PTY as the controlling terminal of a new session
//! (so the child leads its own process group, as headless children do); vt100 is the screen.

use crate::channel_input::{ChannelInput, Choice};
use crate::child::{wait_exit, ChildEvent, Tail};
use crate::child_spec::{prepare_child, transcript_path, Spec};
use crate::dialogs::{self, Step};
use crate::screen;
use crate::stop_hook::{self, Ending, Transcript};
use crate::terminal::{Call, Terminal, Write};
use claude_daemons::api::supervisor::ChannelReply;
use claude_daemons::claude::ChildMessage;
use claude_daemons::config::InteractiveInput;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// How often the transcript and a starting screen are looked at.
const TICK: Duration = Duration::from_millis(100);
/// An unknown dialog must stay this long before the spawn fails (a frame being drawn).
const UNKNOWN_FOR: Duration = Duration::from_millis(1000);
/// A known dialog is answered again only after this long (the answer takes a frame).
const ANSWER_AGAIN: Duration = Duration::from_millis(1500);
/// How long a turn whose Stop hook came waits for the model's message in the transcript.
const TRANSCRIPT_GRACE: Duration = Duration::from_secs(2);
/// How long after Escape an idle screen counts as the end of the turn.
const SETTLE: Duration = Duration::from_millis(500);
/// How long typed text may take to show in the prompt box before Enter is pressed anyway.
const PASTE_SHOWN: Duration = Duration::from_secs(3);

/// Start `spec`'s child under a PTY.
pub fn spawn(
    spec: &Spec,
    resume: bool,
    lines: mpsc::UnboundedReceiver<String>,
    events: mpsc::UnboundedSender<ChildEvent>,
    signals: mpsc::UnboundedReceiver<i32>,
) -> std::io::Result<(u32, Arc<Terminal>)> {
    std::fs::create_dir_all(&spec.state_dir)?;
    let settings = stop_hook::settings(&stop_hook::hook_program(), &spec.socket, &spec.key);
    std::fs::write(spec.settings_file(), settings.to_string())?;
    if spec.input != InteractiveInput::Typing {
        std::fs::write(spec.channel_file(), spec.channel_config().to_string())?;
    }
    // The channel's verdict is read from this process's own log: the last one's is kept aside.
    let _ = std::fs::rename(spec.debug_file(), spec.state_dir.join("debug.previous.log"));
    let (pty, pts) = pty_process::open().map_err(std::io::Error::other)?;
    pty.resize(pty_process::Size::new(screen::ROWS, screen::COLS))
        .map_err(std::io::Error::other)?;
    let mut cmd = pty_process::Command::new(&spec.bin)
        .args(spec.interactive_args(resume))
        .current_dir(&spec.settings.cwd)
        .kill_on_drop(true);
    for k in spec.env_removed() {
        cmd = cmd.env_remove(k);
    }
    // The supervisor has no terminal of its own; this one is an xterm as far as it can tell.
    cmd = cmd.env("TERM", "xterm-256color");
    let parent = std::process::id();
    // SAFETY: prepare_child makes only async-signal-safe calls.
    let cmd = unsafe { cmd.pre_exec(move || prepare_child(parent)) };
    let proc = cmd.spawn(pts).map_err(std::io::Error::other)?;
    let pid = proc.id().unwrap_or(0);
    tracing::debug!(pid, bin = %spec.bin, resume, cwd = %spec.settings.cwd, "spawned under a PTY");

    let (read, write) = pty.into_split();
    let (writes_tx, writes_rx) = mpsc::unbounded_channel();
    let (calls_tx, calls_rx) = mpsc::unbounded_channel();
    let term = Arc::new(Terminal::new(pid, writes_tx, calls_tx));
    tokio::spawn(write_pty(write, writes_rx));
    let reader = tokio::spawn(read_pty(read, term.clone()));
    let driver = Driver {
        term: term.clone(),
        events: events.clone(),
        session_id: spec.session_id.clone(),
        cwd: spec.settings.cwd.clone(),
        handshake: None,
        channel: ChannelInput::new(spec.input, &spec.key, spec.debug_file()),
        ready: false,
        failed: false,
        answered: None,
        unknown_since: None,
        turn: None,
    };
    tokio::spawn(driver.run(lines, calls_rx));
    let t = term.clone();
    let said: Tail = Box::new(move || {
        let tail = screen::tail(&t.text(), 20);
        if tail.is_empty() {
            tail
        } else {
            format!("screen:\n{tail}")
        }
    });
    tokio::spawn(wait_exit(proc, pid, signals, vec![reader], said, events));
    Ok((pid, term))
}

async fn read_pty(mut read: pty_process::OwnedReadPty, term: Arc<Terminal>) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match read.read(&mut buf).await {
            // EIO once the child (and everything holding the terminal) is gone.
            Ok(0) | Err(_) => return term.close(),
            Ok(n) => term.output(&buf[..n]),
        }
    }
}

async fn write_pty(mut write: pty_process::OwnedWritePty, mut rx: mpsc::UnboundedReceiver<Write>) {
    while let Some(w) = rx.recv().await {
        match w {
            Write::Bytes(b) => {
                if write.write_all(&b).await.is_err() || write.flush().await.is_err() {
                    return;
                }
            }
            Write::Resize(rows, cols) => {
                let _ = write.resize(pty_process::Size::new(rows, cols));
            }
        }
    }
}

/// The turn typed in and not yet ended.
struct Turn {
    started: Instant,
    transcript: Transcript,
    usage: Value,
    last_text: Option<String>,
    messages: u64,
    /// When Escape was pressed.
    interrupted: Option<Instant>,
    /// The Stop hook's payload, and when it came.
    stop: Option<(Value, Instant)>,
    /// The text of the model's last `reply(final: true)` through the channel.
    reply: Option<String>,
}

struct Driver {
    term: Arc<Terminal>,
    events: mpsc::UnboundedSender<ChildEvent>,
    session_id: String,
    cwd: String,
    /// The `initialize` request to answer once ready.
    handshake: Option<String>,
    /// The supervisor's channel into the child, and whether prompts go through it.
    channel: ChannelInput,
    ready: bool,
    /// The spawn was failed (unknown dialog); nothing more to say.
    failed: bool,
    answered: Option<(&'static str, Instant)>,
    unknown_since: Option<Instant>,
    turn: Option<Turn>,
}

impl Driver {
    async fn run(
        mut self,
        mut lines: mpsc::UnboundedReceiver<String>,
        mut calls: mpsc::UnboundedReceiver<Call>,
    ) {
        let mut changed = self.term.watch();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                line = lines.recv() => match line {
                    Some(l) => self.line(&l, &mut changed).await,
                    None => return self.exit().await,
                },
                Some(c) = calls.recv() => match c {
                    Call::Stop(payload) => self.stopped(payload),
                    Call::ChannelOpen(tx) => {
                        self.channel.connected(tx);
                        self.look();
                    }
                    Call::Reply(r) => self.replied(r),
                },
                r = changed.changed() => {
                    if r.is_err() {
                        return;
                    }
                    self.look();
                }
                _ = tick.tick() => {
                    self.look();
                    self.follow();
                }
            }
        }
    }

    fn emit(&self, line: String) {
        match ChildMessage::parse(&line) {
            Ok(m) => {
                let _ = self.events.send(ChildEvent::Message(m, line.into()));
            }
            Err(e) => tracing::error!("pty child: cannot parse our own line: {e}"),
        }
    }

    fn answer(&self, id: &str, error: Option<String>) {
        let response = match error {
            None => json!({"subtype": "success", "request_id": id, "response": {}}),
            Some(e) => json!({"subtype": "error", "request_id": id, "error": e}),
        };
        self.emit(json!({"type": "control_response", "response": response}).to_string());
    }

    /// A starting child's screen: dialogs, readiness, or a dialog we do not know.
    fn look(&mut self) {
        if self.ready || self.failed {
            return;
        }
        let text = self.term.text();
        if screen::prompt_box(&text).is_some() {
            let failure = match self.channel.choose() {
                Choice::NotYet => return,
                Choice::Channel => None,
                Choice::Typing(why) => {
                    if let Some(why) = why {
                        tracing::warn!(pid = self.term.pid, "prompts are typed: {why}");
                    }
                    None
                }
                Choice::Fail(why) => Some(why),
            };
            if failure.is_some() {
                // Answered once the handshake is there (it comes first, in practice).
                let Some(id) = self.handshake.clone() else {
                    return;
                };
                self.failed = true;
                return self.answer(&id, failure);
            }
            self.term.set_input(self.channel.active());
            self.ready = true;
            if let Some(id) = self.handshake.clone() {
                self.answer(&id, None);
            }
            return;
        }
        match dialogs::step(&text) {
            Step::Wait => self.unknown_since = None,
            Step::Answer { dialog, keys } => {
                self.unknown_since = None;
                let again = self
                    .answered
                    .is_none_or(|(d, at)| d != dialog || at.elapsed() >= ANSWER_AGAIN);
                if again {
                    tracing::debug!(pid = self.term.pid, "answering the {dialog} dialog");
                    self.term.write(keys);
                    self.answered = Some((dialog, Instant::now()));
                }
            }
            Step::Unknown => {
                let since = *self.unknown_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= UNKNOWN_FOR {
                    if let Some(id) = self.handshake.clone() {
                        self.failed = true;
                        let why = format!(
                            "Claude Code shows a dialog the supervisor does not know; screen:\n{}",
                            screen::tail(&text, 25)
                        );
                        self.answer(&id, Some(why));
                    }
                }
            }
        }
    }

    /// A stream-json line from the session.
    async fn line(&mut self, line: &str, changed: &mut tokio::sync::watch::Receiver<u64>) {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            return;
        };
        match v["type"].as_str() {
            Some("control_request") => {
                let id = v["request_id"].as_str().unwrap_or_default().to_string();
                match v["request"]["subtype"].as_str() {
                    Some("initialize") => {
                        self.handshake = Some(id.clone());
                        if self.ready {
                            self.answer(&id, None);
                        } else {
                            self.look();
                        }
                    }
                    Some("interrupt") => {
                        if let Some(t) = &mut self.turn {
                            t.interrupted = Some(Instant::now());
                            self.term.write(b"\x1b".to_vec());
                        }
                        self.answer(&id, None);
                    }
                    Some(other) => {
                        // Model and permission mode changes restart the child with the new
                        // flags and `--resume` (the session does that on a refusal).
                        let why = format!("an interactive session does not take `{other}` live");
                        self.answer(&id, Some(why));
                    }
                    None => {}
                }
            }
            Some("user") => self.start_turn(&v["message"]["content"], changed).await,
            _ => {}
        }
    }

    async fn start_turn(
        &mut self,
        content: &Value,
        changed: &mut tokio::sync::watch::Receiver<u64>,
    ) {
        let text = match content {
            Value::String(s) => Some(s.clone()),
            Value::Array(blocks) if blocks.iter().all(|b| b["type"] == "text") => Some(
                blocks
                    .iter()
                    .filter_map(|b| b["text"].as_str())
                    .collect::<Vec<_>>()
                    .join("\n\n"),
            ),
            _ => None,
        };
        let Some(text) = text else {
            let usage = json!({});
            self.emit(
                Ending {
                    session_id: &self.session_id,
                    text: Some("an interactive session takes text only (no images)".into()),
                    subtype: "error_during_execution",
                    duration_ms: 0,
                    num_turns: 0,
                    usage: &usage,
                }
                .line(),
            );
            return;
        };
        let path = transcript_path(&self.cwd, &self.session_id);
        self.turn = Some(Turn {
            started: Instant::now(),
            transcript: Transcript::at_end(path),
            usage: json!({}),
            last_text: None,
            messages: 0,
            interrupted: None,
            stop: None,
            reply: None,
        });
        if self.channel.send(&text) {
            return;
        }
        if self.term.input() == Some("channel") {
            tracing::warn!(pid = self.term.pid, "the channel server went away; typing");
            self.term.set_input(false);
        }
        // An interrupted turn's prompt may be back in the input box: clear it first
        // (Ctrl-C clears a non-empty input; on an empty one it would start to exit).
        if screen::prompt_box(&self.term.text()).is_some_and(|typed| !typed.is_empty()) {
            self.term.write(b"\x03".to_vec());
            self.wait_for(changed, |t| {
                screen::prompt_box(t).is_some_and(|b| b.is_empty())
            })
            .await;
        }
        // The end-of-paste marker inside the text would end the paste early.
        let clean = text.replace("\x1b[201~", "");
        let mut paste = b"\x1b[200~".to_vec();
        paste.extend(clean.as_bytes());
        paste.extend(b"\x1b[201~");
        self.term.write(paste);
        // Enter once the prompt box shows what was pasted: sent at once, Claude Code could
        // take it as part of the paste.
        if !self
            .wait_for(changed, |t| {
                screen::prompt_box(t).is_some_and(|typed| !typed.is_empty())
            })
            .await
        {
            tracing::warn!(
                pid = self.term.pid,
                "the pasted prompt did not show; pressing Enter anyway"
            );
        }
        self.term.write(b"\r".to_vec());
    }

    /// Wait (up to [`PASTE_SHOWN`]) until the screen text satisfies `f`.
    async fn wait_for(
        &self,
        changed: &mut tokio::sync::watch::Receiver<u64>,
        f: impl Fn(&str) -> bool,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + PASTE_SHOWN;
        loop {
            if f(&self.term.text()) {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed.changed())
                .await
                .is_err()
            {
                return false;
            }
        }
    }

    /// New transcript entries of the turn: the model's messages, or an interruption.
    fn follow(&mut self) {
        let Some(turn) = &mut self.turn else {
            return;
        };
        if turn.transcript.path.is_none() {
            // A new session's transcript appears with its first turn (read from its start).
            turn.transcript.path = transcript_path(&self.cwd, &self.session_id);
        }
        let mut lines = Vec::new();
        let mut interrupted = false;
        for e in turn.transcript.read_json() {
            if let Some(l) = stop_hook::assistant_line(&e) {
                stop_hook::add_usage(&mut turn.usage, &e);
                turn.messages += 1;
                if let Some(t) = stop_hook::assistant_text(&e) {
                    turn.last_text = Some(t);
                }
                lines.push(l);
            }
            interrupted |= stop_hook::is_interruption(&e);
        }
        for l in lines {
            self.emit(l);
        }
        self.finish_stopped();
        let Some(since) = self.turn.as_ref().and_then(|t| t.interrupted) else {
            return;
        };
        // The transcript notes the interruption, or, when Claude Code took the prompt back
        // into its input box (interrupted before any answer), the screen is idle again.
        let idle = || {
            let text = self.term.text();
            text.contains("Interrupted")
                || (screen::prompt_box(&text).is_some() && !screen::working(&text))
        };
        if interrupted || (since.elapsed() >= SETTLE && idle()) {
            self.end("error_during_execution", None);
        }
    }

    /// The Stop hook called back: the turn is over once the transcript holds the model's
    /// message (Claude Code may write it just after the hook), or after a short grace.
    fn stopped(&mut self, payload: Value) {
        let Some(t) = &mut self.turn else {
            // A turn a person typed while attached: not ours to report.
            return;
        };
        if t.transcript.path.is_none() {
            t.transcript.path = payload["transcript_path"].as_str().map(Into::into);
        }
        t.stop = Some((payload, Instant::now()));
        self.follow();
    }

    /// The model called the channel's `reply` tool: its text streams as a text delta (as
    /// `-p --include-partial-messages` would stream the model's own words).
    fn replied(&mut self, r: ChannelReply) {
        let Some(t) = &mut self.turn else {
            return;
        };
        if r.is_final {
            t.reply = Some(r.text.clone());
        }
        let delta = json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": r.text}});
        let line = json!({"type": "stream_event", "event": delta,
            "parent_tool_use_id": null, "session_id": self.session_id});
        self.emit(line.to_string());
    }

    /// End a stopped turn whose message is in (or whose grace is over).
    fn finish_stopped(&mut self) {
        let Some(t) = &self.turn else {
            return;
        };
        let Some((payload, at)) = &t.stop else {
            return;
        };
        let hook_text = payload["last_assistant_message"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(String::from);
        let written = match (&hook_text, &t.last_text) {
            (Some(h), Some(l)) => h == l,
            (None, l) => l.is_some(),
            (Some(_), None) => false,
        };
        if written || at.elapsed() >= TRANSCRIPT_GRACE {
            // A turn whose only words went to the channel's reply tool answers with those.
            let text = hook_text
                .or_else(|| t.last_text.clone())
                .or_else(|| t.reply.clone());
            self.end("success", text);
        }
    }

    fn end(&mut self, subtype: &str, text: Option<String>) {
        let Some(t) = self.turn.take() else {
            return;
        };
        self.emit(
            Ending {
                session_id: &self.session_id,
                text,
                subtype,
                duration_ms: t.started.elapsed().as_millis() as u64,
                num_turns: t.messages.max(1),
                usage: &t.usage,
            }
            .line(),
        );
    }

    /// The session closed our input: leave as a person would (Ctrl-C twice).
    async fn exit(self) {
        for _ in 0..3 {
            self.term.write(b"\x03".to_vec());
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}
