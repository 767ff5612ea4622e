//! An interactive child's terminal as the rest of the supervisor sees it: the screen (a
//! vt100 emulator fed with everything the child writes), the raw output for attached
//! viewers, the way in for keys and resizes, the one typist, and the way in of the child's
//! own call backs (its Stop hook, its channel server).

use crate::screen::{self, Parser};
use claude_daemons::api::supervisor::ChannelReply;
use claude_daemons::claude::ChannelNotification;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, mpsc, watch, Notify};
use tokio_util::sync::CancellationToken;

/// Output chunks a slow viewer may fall behind before it is redrawn from the screen.
const VIEWER_BACKLOG: usize = 1024;

/// What goes to the PTY's writer.
pub enum Write {
    Bytes(Vec<u8>),
    Resize(u16, u16),
}

/// What the child's own helpers tell its driver through the supervisor's socket.
#[derive(Debug)]
pub enum Call {
    /// The Stop hook's payload.
    Stop(Value),
    /// The channel server connected: prompts for it go here (closed when it goes).
    ChannelOpen(mpsc::UnboundedSender<ChannelNotification>),
    /// The model called the channel's `reply` tool.
    Reply(ChannelReply),
}

/// How prompts go in: none chosen yet, the channel, typing.
const INPUT_NONE: u8 = 0;
const INPUT_CHANNEL: u8 = 1;
const INPUT_TYPING: u8 = 2;

pub struct Terminal {
    pub pid: u32,
    parser: Mutex<Parser>,
    /// Bumped on every output chunk.
    changed: watch::Sender<u64>,
    output: broadcast::Sender<Arc<[u8]>>,
    writes: mpsc::UnboundedSender<Write>,
    calls: mpsc::UnboundedSender<Call>,
    input: AtomicU8,
    viewers: AtomicUsize,
    typist: AtomicBool,
    typist_gone: Notify,
    /// Cancelled when the child's output ends (it exited).
    closed: CancellationToken,
}

impl std::fmt::Debug for Terminal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Terminal").field("pid", &self.pid).finish()
    }
}

impl Terminal {
    pub fn new(
        pid: u32,
        writes: mpsc::UnboundedSender<Write>,
        calls: mpsc::UnboundedSender<Call>,
    ) -> Terminal {
        Terminal {
            pid,
            parser: Mutex::new(screen::parser(screen::ROWS, screen::COLS)),
            changed: watch::channel(0).0,
            output: broadcast::channel(VIEWER_BACKLOG).0,
            writes,
            calls,
            input: AtomicU8::new(INPUT_NONE),
            viewers: AtomicUsize::new(0),
            typist: AtomicBool::new(false),
            typist_gone: Notify::new(),
            closed: CancellationToken::new(),
        }
    }

    fn parser(&self) -> std::sync::MutexGuard<'_, Parser> {
        self.parser.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Feed what the child wrote: the screen, viewers, and answers to its queries.
    pub fn output(&self, bytes: &[u8]) {
        let replies = {
            let mut p = self.parser();
            p.process(bytes);
            std::mem::take(&mut p.callbacks_mut().pending)
        };
        if !replies.is_empty() {
            self.write(replies);
        }
        let _ = self.output.send(bytes.into());
        self.changed.send_modify(|n| *n += 1);
    }

    /// The child's output ended.
    pub fn close(&self) {
        self.closed.cancel();
    }

    /// Resolves once the child's output has ended.
    pub async fn closed(&self) {
        self.closed.cancelled().await
    }

    pub fn text(&self) -> String {
        screen::text(self.parser().screen())
    }

    pub fn size(&self) -> (u16, u16) {
        let (r, c) = self.parser().screen().size();
        (r.get(), c.get())
    }

    /// The whole screen as bytes that draw it on a cleared terminal (for a new viewer).
    pub fn redraw(&self) -> Vec<u8> {
        let p = self.parser();
        let mut v = b"\x1b[H\x1b[2J".to_vec();
        v.extend(p.screen().contents_formatted().into_bytes());
        v
    }

    pub fn watch(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<[u8]>> {
        self.output.subscribe()
    }

    pub fn write(&self, bytes: impl Into<Vec<u8>>) {
        let _ = self.writes.send(Write::Bytes(bytes.into()));
    }

    pub fn resize(&self, rows: u16, cols: u16) {
        let (rows, cols) = (rows.clamp(2, 1000), cols.clamp(10, 1000));
        self.parser()
            .set_size(screen::nonzero(rows), screen::nonzero(cols));
        let _ = self.writes.send(Write::Resize(rows, cols));
    }

    /// A call back for this child's driver; false once the child is gone.
    pub fn call(&self, call: Call) -> bool {
        self.calls.send(call).is_ok()
    }

    /// Record how prompts go in (`true`: the channel).
    pub fn set_input(&self, channel: bool) {
        let v = if channel { INPUT_CHANNEL } else { INPUT_TYPING };
        self.input.store(v, Ordering::Release);
    }

    /// `channel` or `typing`, once the child is ready.
    pub fn input(&self) -> Option<&'static str> {
        match self.input.load(Ordering::Acquire) {
            INPUT_CHANNEL => Some("channel"),
            INPUT_TYPING => Some("typing"),
            _ => None,
        }
    }

    pub fn viewers(&self) -> usize {
        self.viewers.load(Ordering::Acquire)
    }

    /// Count a viewer for as long as the guard lives.
    pub fn view(self: &Arc<Self>) -> ViewerGuard {
        self.viewers.fetch_add(1, Ordering::AcqRel);
        ViewerGuard {
            term: self.clone(),
            typist: false,
        }
    }

    pub fn typist(&self) -> bool {
        self.typist.load(Ordering::Acquire)
    }

    /// Wait until no person is typing.
    pub async fn typist_released(&self) {
        loop {
            let gone = self.typist_gone.notified();
            if !self.typist() {
                return;
            }
            gone.await;
        }
    }
}

/// A viewer (and maybe the typist) of a terminal, until dropped.
pub struct ViewerGuard {
    term: Arc<Terminal>,
    typist: bool,
}

impl ViewerGuard {
    pub fn is_typist(&self) -> bool {
        self.typist
    }

    /// Become the typist; false when someone else is.
    pub fn take_typist(&mut self) -> bool {
        if !self.typist {
            self.typist = self
                .term
                .typist
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_ok();
        }
        self.typist
    }
}

impl Drop for ViewerGuard {
    fn drop(&mut self) {
        self.term.viewers.fetch_sub(1, Ordering::AcqRel);
        if self.typist {
            // The session's own size again (the typist's terminal had set its own).
            self.term.resize(screen::ROWS, screen::COLS);
            self.term.typist.store(false, Ordering::Release);
            self.term.typist_gone.notify_waiters();
        }
    }
}
