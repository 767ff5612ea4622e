//! One Claude Code process: how it is started (arguments, cleaned environment, its own
//! process group, death with the supervisor), what it says (typed stdout lines, the tail of
//! stderr), and how it is stopped (close stdin, wait, SIGTERM, wait, SIGKILL).
//!
//! The session talks to a [`Child`] only through a line sink and an event stream, which is
//! the seam for a second kind of child (interactive `claude` under a PTY, driven through a
//! channel MCP server, seed 004): it would produce the same [`ChildEvent`]s.

use crate::lines::{next_line, Line, MAX_LINE};
use crate::settings::Settings;
use claude_daemons::claude::{ChildInput, ChildMessage, StreamJsonError};
use claude_daemons::daemon::ActivityGuard;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, OwnedSemaphorePermit};

/// Bytes of stderr kept for exit events and failures.
const STDERR_TAIL: usize = 2048;

/// Variables a child must not inherit: `CLAUDECODE` makes Claude Code refuse to start
/// ("nested"), the others belong to the supervisor's own service manager.
const CLEANED: &[&str] = &["CLAUDECODE", "NOTIFY_SOCKET"];
const CLEANED_PREFIXES: &[&str] = &["LISTEN_", "WATCHDOG_"];

/// How a child is driven.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildKind {
    /// `claude -p --input-format stream-json --output-format stream-json --verbose`.
    StreamJson,
}

impl ChildKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChildKind::StreamJson => "stream-json",
        }
    }

    pub fn parse(s: &str) -> Option<ChildKind> {
        (s == "stream-json").then_some(ChildKind::StreamJson)
    }
}

/// Everything needed to start a session's process.
#[derive(Clone, Debug)]
pub struct Spec {
    pub kind: ChildKind,
    pub bin: String,
    pub session_id: String,
    /// A fork's origin: its first start resumes that session with `--fork-session`.
    pub fork_of: Option<String>,
    pub settings: Settings,
}

/// What an environment allow-list always lets through: what Claude Code needs to run.
const ENV_BASE: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "TZ",
    "TMPDIR",
    "TERM",
    "CLAUDE_CONFIG_DIR",
    "XDG_CONFIG_HOME",
    "XDG_CACHE_HOME",
    "XDG_DATA_HOME",
    "XDG_STATE_HOME",
    "XDG_RUNTIME_DIR",
    "DISABLE_TELEMETRY",
    "DISABLE_AUTOUPDATER",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "NO_PROXY",
];
const ENV_BASE_PREFIXES: &[&str] = &["LC_", "ANTHROPIC_"];

impl Spec {
    /// Arguments: `--resume` once the transcript exists, `--session-id` before (resuming a
    /// fork's origin with `--fork-session` when there is one).
    pub fn args(&self, resume: bool) -> Vec<String> {
        let mut a: Vec<String> = [
            "-p",
            "--input-format",
            "stream-json",
            "--output-format",
            "stream-json",
            "--verbose",
            "--include-partial-messages",
        ]
        .map(String::from)
        .into();
        match (&self.fork_of, resume) {
            (Some(origin), false) => a.extend([
                "--resume".into(),
                origin.clone(),
                "--fork-session".into(),
                "--session-id".into(),
                self.session_id.clone(),
            ]),
            _ => a.extend([
                if resume { "--resume" } else { "--session-id" }.into(),
                self.session_id.clone(),
            ]),
        }
        // Permission prompts come to us as `can_use_tool` control requests; without this
        // the CLI in -p mode denies whatever would prompt.
        a.extend(["--permission-prompt-tool".into(), "stdio".into()]);
        let s = &self.settings;
        if let Some(m) = &s.model {
            a.extend(["--model".into(), m.clone()]);
        }
        if let Some(p) = &s.permission_mode {
            a.extend(["--permission-mode".into(), p.clone()]);
        }
        if !s.allowed_tools.is_empty() {
            a.extend(["--allowedTools".into(), s.allowed_tools.join(",")]);
        }
        let e = &s.extra;
        if !e.disallowed_tools.is_empty() {
            a.extend(["--disallowedTools".into(), e.disallowed_tools.join(",")]);
        }
        let mut flag = |name: &str, v: Option<String>| {
            if let Some(v) = v {
                a.extend([name.into(), v]);
            }
        };
        flag("--system-prompt", e.system_prompt.clone());
        flag("--append-system-prompt", e.append_system_prompt.clone());
        flag(
            "--mcp-config",
            e.mcp_config.as_ref().map(|m| match m {
                serde_json::Value::String(path) => path.clone(),
                inline => inline.to_string(),
            }),
        );
        flag("--fallback-model", e.fallback_model.clone());
        flag("--max-turns", e.max_turns.map(|n| n.to_string()));
        flag("--max-budget-usd", e.max_budget_usd.map(|n| n.to_string()));
        for d in &e.add_dirs {
            a.extend(["--add-dir".into(), d.clone()]);
        }
        if s.isolated {
            // Empty values are the CLI's way to say "none".
            a.extend(
                [
                    "--tools",
                    "",
                    "--strict-mcp-config",
                    "--setting-sources",
                    "",
                ]
                .map(String::from),
            );
        }
        a
    }
}

/// Where Claude Code keeps its transcripts: `$CLAUDE_CONFIG_DIR/projects` or
/// `~/.claude/projects` (the child inherits our HOME and `CLAUDE_CONFIG_DIR`).
pub fn projects_dir() -> Option<PathBuf> {
    std::env::var_os("CLAUDE_CONFIG_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".claude")))
        .map(|c| c.join("projects"))
}

/// The directory of `cwd`'s transcripts under [`projects_dir`]: every non-alphanumeric
/// character becomes `-`.
pub fn project_slug(cwd: &str) -> String {
    cwd.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// The transcript of `session_id` run in `cwd`, if it exists:
/// `<projects>/<slug of cwd>/<uuid>.jsonl`.
pub fn transcript_path(cwd: &str, session_id: &str) -> Option<PathBuf> {
    let projects = projects_dir()?;
    let file = format!("{session_id}.jsonl");
    let p = projects.join(project_slug(cwd)).join(&file);
    if p.is_file() {
        return Some(p);
    }
    // Long or unusual paths are shortened by the CLI; the uuid alone is unique.
    std::fs::read_dir(&projects).ok()?.flatten().find_map(|d| {
        let p = d.path().join(&file);
        p.is_file().then_some(p)
    })
}

/// Whether the transcript of `session_id` run in `cwd` exists (then the child resumes it).
pub fn transcript_exists(cwd: &str, session_id: &str) -> bool {
    transcript_path(cwd, session_id).is_some()
}

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
    pub stderr_tail: String,
}

/// A running child. Holds a slot under `max_processes` and keeps the daemon from idling out.
pub struct Child {
    pub pid: u32,
    /// Started with `--resume` (the transcript existed).
    pub resumed: bool,
    pub spawned_at: Instant,
    input: Option<mpsc::UnboundedSender<String>>,
    pub events: mpsc::UnboundedReceiver<ChildEvent>,
    signals: mpsc::UnboundedSender<i32>,
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
    // The interactive kind (PTY + channel server) will build its own command here.
    let args = match spec.kind {
        ChildKind::StreamJson => spec.args(resume),
    };
    let mut cmd = tokio::process::Command::new(&spec.bin);
    cmd.args(args)
        .current_dir(&spec.settings.cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    let allowed = spec.settings.extra.env.as_ref();
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        let cleaned =
            CLEANED.contains(&k.as_ref()) || CLEANED_PREFIXES.iter().any(|p| k.starts_with(p));
        let kept = allowed.is_none_or(|list| {
            list.iter().any(|n| *n == k)
                || ENV_BASE.contains(&k.as_ref())
                || ENV_BASE_PREFIXES.iter().any(|p| k.starts_with(p))
        });
        if cleaned || !kept {
            cmd.env_remove(k.as_ref());
        }
    }
    // SAFETY: umask(2) and setrlimit(2) are async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            // The daemon's own umask (077) and raised open-file limit are for its state
            // and sockets; Claude Code writes the user's project files and may select(2).
            claude_daemons::permissions::restore_umask_for_child();
            claude_daemons::daemon::limits::restore_for_child()
        });
    }
    #[cfg(target_os = "linux")]
    {
        let parent = std::process::id();
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The supervisor died before prctl: nobody would ever signal us.
                if libc::getppid() as u32 != parent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
    }
    let mut proc = cmd.spawn()?;
    let pid = proc.id().unwrap_or(0);
    let stdin = proc.stdin.take().expect("piped stdin");
    let stdout = proc.stdout.take().expect("piped stdout");
    let stderr = proc.stderr.take().expect("piped stderr");
    tracing::debug!(pid, bin = %spec.bin, resume, cwd = %spec.settings.cwd, "spawned");

    let (input_tx, input_rx) = mpsc::unbounded_channel();
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let (signals_tx, signals_rx) = mpsc::unbounded_channel();
    let tail = Arc::new(Mutex::new(Vec::new()));
    tokio::spawn(write_stdin(stdin, input_rx));
    let reader = tokio::spawn(read_stdout(stdout, events_tx.clone()));
    let errs = tokio::spawn(read_stderr(stderr, tail.clone(), pid));
    tokio::spawn(wait_exit(
        proc, pid, signals_rx, reader, errs, tail, events_tx,
    ));
    Ok(Child {
        pid,
        resumed: resume,
        spawned_at: Instant::now(),
        input: Some(input_tx),
        events: events_rx,
        signals: signals_tx,
        _permit: permit,
        _busy: busy,
    })
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
async fn wait_exit(
    mut proc: tokio::process::Child,
    pid: u32,
    mut signals: mpsc::UnboundedReceiver<i32>,
    reader: tokio::task::JoinHandle<()>,
    errs: tokio::task::JoinHandle<()>,
    tail: Arc<Mutex<Vec<u8>>>,
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
    for h in [reader, errs] {
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
    let t = tail.lock().unwrap_or_else(|p| p.into_inner());
    let stderr_tail = String::from_utf8_lossy(&t).trim().to_string();
    drop(t);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_pick_session_id_then_resume() {
        let spec = Spec {
            kind: ChildKind::StreamJson,
            bin: "claude".into(),
            session_id: "u1".into(),
            fork_of: None,
            settings: Settings {
                cwd: "/w".into(),
                model: Some("haiku".into()),
                allowed_tools: vec!["Read".into(), "Bash".into()],
                ..Settings::default()
            },
        };
        let new = spec.args(false).join(" ");
        assert!(new.contains("--session-id u1"), "{new}");
        assert!(new.contains("--model haiku"), "{new}");
        assert!(new.contains("--allowedTools Read,Bash"), "{new}");
        assert!(!new.contains("--permission-mode"), "{new}");
        assert!(spec.args(true).join(" ").contains("--resume u1"));
        assert!(!new.contains("--strict-mcp-config"), "{new}");
        assert!(new.contains("--permission-prompt-tool stdio"), "{new}");
    }

    #[test]
    fn options_become_flags_and_a_fork_resumes_its_origin() {
        let mut spec = Spec {
            kind: ChildKind::StreamJson,
            bin: "claude".into(),
            session_id: "new".into(),
            fork_of: Some("old".into()),
            settings: Settings::default(),
        };
        let e = &mut spec.settings.extra;
        e.system_prompt = Some("be brief".into());
        e.mcp_config = Some(serde_json::json!({"mcpServers": {}}));
        e.max_turns = Some(3);
        e.max_budget_usd = Some(0.5);
        e.add_dirs = vec!["/a".into(), "/b".into()];
        e.disallowed_tools = vec!["WebFetch".into()];
        let args = spec.args(false);
        let line = args.join(" ");
        assert!(
            line.contains("--resume old --fork-session --session-id new"),
            "{line}"
        );
        for f in [
            "--system-prompt be brief",
            "--mcp-config {\"mcpServers\":{}}",
            "--max-turns 3",
            "--max-budget-usd 0.5",
            "--add-dir /a --add-dir /b",
            "--disallowedTools WebFetch",
        ] {
            assert!(line.contains(f), "{f} in {line}");
        }
        assert!(spec
            .args(true)
            .join(" ")
            .contains("--resume new --permission"));
    }

    #[test]
    fn an_isolated_child_gets_no_tools_mcp_servers_or_settings() {
        let mut spec = Spec {
            kind: ChildKind::StreamJson,
            bin: "claude".into(),
            session_id: "u1".into(),
            fork_of: None,
            settings: Settings::default(),
        };
        spec.settings.isolated = true;
        let args = spec.args(false);
        let after = |flag: &str| {
            args.iter()
                .position(|a| a == flag)
                .map(|i| args[i + 1].as_str())
        };
        assert_eq!(after("--tools"), Some(""));
        assert_eq!(after("--setting-sources"), Some(""));
        assert!(args.iter().any(|a| a == "--strict-mcp-config"));
    }
}
