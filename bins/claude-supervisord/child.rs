//! One Claude Code process: how it is started (its own process group, death with the
//! supervisor; arguments and environment in `child_spec.rs`), what it says (typed stdout
//! lines, the tail of stderr), and how it is stopped (close stdin, wait, SIGTERM, wait,
//! SIGKILL).
//!
//! The session talks to a [`Child`] only through a line sink and an event stream. An
//! interactive child (`pty_child.rs`) takes the same stream-json lines and produces the same
//! [`ChildEvent`]s, so the session drives both kinds alike.

use crate::child_spec::{prepare_child, Spec};
use crate::lines::{next_line, Line, MAX_LINE};
use crate::pty_child;
use crate::settings::ChildKind;
use crate::terminal::Terminal;
use claude_daemons::claude::{ChildInput, ChildMessage, StreamJsonError};
use claude_daemons::daemon::ActivityGuard;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, OwnedSemaphorePermit};

pub use crate::child_spec::{project_slug, projects_dir, transcript_exists, transcript_path};

/// Bytes of stderr kept for exit events and failures.
const STDERR_TAIL: usize = 2048;

/// What a child said or did.
#[derive(Debug)]
pub enum ChildEvent {
    /// A parsed stdout line and its raw text (forwarded to SSE clients as is).
    Message(ChildMessage, Arc<str>),
    /// A stdout line that was skipped, and why.
    Bad {
        reason: String,
        /// It claimed to be a turn's `result`: the turn cannot end normally.
        ends_turn: bool,
    },
    /// The process ended (always the last event).
    Exited(ExitInfo),
}

#[derive(Clone, Debug)]
pub struct ExitInfo {
    /// `exit code 1`, `signal 9`, …
    pub status: String,
    /// What it said last: `stderr: …` (headless) or `screen: …` (interactive); may be empty.
    pub stderr_tail: String,
}

/// What an exiting child leaves to say (its stderr tail, or its last screen).
pub type Tail = Box<dyn Fn() -> String + Send>;

/// A running child. Holds a slot under `max_processes` and keeps the daemon from idling out.
pub struct Child {
    pub pid: u32,
    /// Started with `--resume` (the transcript existed).
    pub resumed: bool,
    pub spawned_at: Instant,
    input: Option<mpsc::UnboundedSender<String>>,
    pub events: mpsc::UnboundedReceiver<ChildEvent>,
    signals: mpsc::UnboundedSender<i32>,
    /// An interactive child's terminal (screen, viewers, the Stop hook's way in).
    pub terminal: Option<Arc<Terminal>>,
    _permit: OwnedSemaphorePermit,
    _busy: ActivityGuard,
}

/// Start a child for `spec`. Must run on a runtime worker thread: the parent-death signal
/// fires when the *thread* that forked exits, and workers live as long as the daemon.
pub fn spawn(
    spec: &Spec,
    permit: OwnedSemaphorePermit,
    busy: ActivityGuard,
) -> std::io::Result<Child> {
    let resume = transcript_exists(&spec.settings.cwd, &spec.session_id);
    let (input_tx, input_rx) = mpsc::unbounded_channel();
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let (signals_tx, signals_rx) = mpsc::unbounded_channel();
    let (pid, terminal) = match spec.kind {
        ChildKind::StreamJson => {
            let pid = spawn_headless(spec, resume, input_rx, events_tx, signals_rx)?;
            (pid, None)
        }
        ChildKind::Interactive => {
            let (pid, t) = pty_child::spawn(spec, resume, input_rx, events_tx, signals_rx)?;
            (pid, Some(t))
        }
    };
    Ok(Child {
        pid,
        resumed: resume,
        spawned_at: Instant::now(),
        input: Some(input_tx),
        events: events_rx,
        signals: signals_tx,
        terminal,
        _permit: permit,
        _busy: busy,
    })
}

fn spawn_headless(
    spec: &Spec,
    resume: bool,
    input_rx: mpsc::UnboundedReceiver<String>,
    events_tx: mpsc::UnboundedSender<ChildEvent>,
    signals_rx: mpsc::UnboundedReceiver<i32>,
) -> std::io::Result<u32> {
    let mut cmd = tokio::process::Command::new(&spec.bin);
    cmd.args(spec.args(resume))
        .current_dir(&spec.settings.cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    for k in spec.env_removed() {
        cmd.env_remove(k);
    }
    let parent = std::process::id();
    // SAFETY: prepare_child makes only async-signal-safe calls.
    unsafe {
        cmd.pre_exec(move || prepare_child(parent));
    }
    let mut proc = cmd.spawn()?;
    let pid = proc.id().unwrap_or(0);
    let stdin = proc.stdin.take().expect("piped stdin");
    let stdout = proc.stdout.take().expect("piped stdout");
    let stderr = proc.stderr.take().expect("piped stderr");
    tracing::debug!(pid, bin = %spec.bin, resume, cwd = %spec.settings.cwd, "spawned");

    let tail = Arc::new(Mutex::new(Vec::new()));
    tokio::spawn(write_stdin(stdin, input_rx));
    let reader = tokio::spawn(read_stdout(stdout, events_tx.clone()));
    let errs = tokio::spawn(read_stderr(stderr, tail.clone(), pid));
    let said: Tail = Box::new(move || {
        let t = tail.lock().unwrap_or_else(|p| p.into_inner());
        let text = String::from_utf8_lossy(&t).trim().to_string();
        if text.is_empty() {
            text
        } else {
            format!("stderr: {text}")
        }
    });
    tokio::spawn(wait_exit(
        proc,
        pid,
        signals_rx,
        vec![reader, errs],
        said,
        events_tx,
    ));
    Ok(pid)
}

impl Child {
    /// Queue a line for stdin; false once stdin is closed.
    pub fn send(&self, input: &ChildInput) -> bool {
        self.input
            .as_ref()
            .is_some_and(|i| i.send(input.to_line()).is_ok())
    }

    /// Close stdin: Claude Code finishes, flushes its transcript and exits.
    pub fn close_stdin(&mut self) {
        self.input = None;
    }

    /// Signal the child's whole process group (its tools' processes too).
    pub fn signal(&self, sig: i32) {
        let _ = self.signals.send(sig);
    }

    /// Stop: close stdin, wait `grace`, SIGTERM, wait `grace`, SIGKILL. Lines still
    /// arriving are dropped. Returns how it exited.
    pub async fn stop(&mut self, grace: Duration) -> ExitInfo {
        self.close_stdin();
        if let Some(e) = self.wait_for_exit(grace).await {
            return e;
        }
        self.signal(libc::SIGTERM);
        if let Some(e) = self.wait_for_exit(grace).await {
            return e;
        }
        self.signal(libc::SIGKILL);
        self.wait_for_exit(Duration::from_secs(30))
            .await
            .unwrap_or_else(|| ExitInfo {
                status: "did not exit after SIGKILL".into(),
                stderr_tail: String::new(),
            })
    }

    async fn wait_for_exit(&mut self, limit: Duration) -> Option<ExitInfo> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Err(_) => return None,
                Ok(Some(ChildEvent::Exited(e))) => return Some(e),
                Ok(None) => {
                    return Some(ExitInfo {
                        status: "gone".into(),
                        stderr_tail: String::new(),
                    })
                }
                Ok(Some(_)) => {}
            }
        }
    }
}

async fn write_stdin(
    mut stdin: tokio::process::ChildStdin,
    mut lines: mpsc::UnboundedReceiver<String>,
) {
    while let Some(line) = lines.recv().await {
        if stdin.write_all(line.as_bytes()).await.is_err() || stdin.flush().await.is_err() {
            return;
        }
    }
    // Dropping stdin closes it.
}

async fn read_stdout(stdout: tokio::process::ChildStdout, tx: mpsc::UnboundedSender<ChildEvent>) {
    let mut r = BufReader::with_capacity(64 << 10, stdout);
    let mut buf = Vec::new();
    let bad = |reason: String| ChildEvent::Bad {
        reason,
        ends_turn: false,
    };
    loop {
        let line = next_line(&mut r, &mut buf, MAX_LINE).await;
        // One huge line must not pin its buffer for the child's whole life.
        if buf.capacity() > 1 << 20 {
            buf = Vec::new();
        }
        let event = match line {
            Ok(None) | Err(_) => return,
            Ok(Some(Line::Text(t))) if t.trim().is_empty() => continue,
            Ok(Some(Line::Text(t))) => match ChildMessage::parse(&t) {
                Ok(m) => ChildEvent::Message(m, t.into()),
                Err(e) => ChildEvent::Bad {
                    ends_turn: matches!(&e, StreamJsonError::Malformed { kind, .. } if kind == "result"),
                    reason: format!("{e}: {}", preview(&t)),
                },
            },
            // A result too large to keep still ends its turn: otherwise the caller would
            // wait for the turn's timeout.
            Ok(Some(Line::TooLong { len, head })) => ChildEvent::Bad {
                ends_turn: is_result(&head),
                reason: format!(
                    "line of {len} bytes exceeds the {MAX_LINE}-byte limit: {}",
                    preview(&head)
                ),
            },
            Ok(Some(Line::NotUtf8)) => bad("line is not UTF-8".into()),
        };
        if tx.send(event).is_err() {
            return;
        }
    }
}

/// Whether the start of a stream-json line is that of a `result` message.
fn is_result(head: &str) -> bool {
    let compact: String = head.chars().filter(|c| !c.is_whitespace()).collect();
    compact.contains("\"type\":\"result\"")
}

fn preview(t: &str) -> String {
    let mut end = t.len().min(120);
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    t[..end].to_string()
}

async fn read_stderr(mut stderr: tokio::process::ChildStderr, tail: Arc<Mutex<Vec<u8>>>, pid: u32) {
    let mut chunk = [0u8; 4096];
    loop {
        match stderr.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                tracing::debug!(
                    pid,
                    "child stderr: {}",
                    String::from_utf8_lossy(&chunk[..n])
                );
                let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
                t.extend_from_slice(&chunk[..n]);
                if t.len() > STDERR_TAIL {
                    let cut = t.len() - STDERR_TAIL;
                    t.drain(..cut);
                }
            }
        }
    }
}

/// Owns the process: the only place it is signalled and reaped, so a signal can never hit a
/// recycled pid.
pub(crate) async fn wait_exit(
    mut proc: tokio::process::Child,
    pid: u32,
    mut signals: mpsc::UnboundedReceiver<i32>,
    readers: Vec<tokio::task::JoinHandle<()>>,
    said: Tail,
    tx: mpsc::UnboundedSender<ChildEvent>,
) {
    let mut signals_open = true;
    let status = loop {
        tokio::select! {
            st = proc.wait() => break st,
            sig = signals.recv(), if signals_open => match sig {
                // SAFETY: plain syscall; the group exists while its leader is unreaped.
                Some(s) => unsafe { libc::kill(-(pid as i32), s); },
                None => signals_open = false,
            },
        }
    };
    // Lines written before exit are delivered before the exit; a grandchild holding the
    // pipe open must not hold the exit back for long.
    for h in readers {
        let abort = h.abort_handle();
        if tokio::time::timeout(Duration::from_secs(2), h)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
    let status = match status {
        Ok(s) => describe(s),
        Err(e) => format!("wait failed: {e}"),
    };
    let stderr_tail = said();
    let _ = tx.send(ChildEvent::Exited(ExitInfo {
        status,
        stderr_tail,
    }));
}

fn describe(s: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(sig)) => format!("signal {sig}"),
        _ => "exited".into(),
    }
}
