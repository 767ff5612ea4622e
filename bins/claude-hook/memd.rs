//! The memory daemon's part: POST the payload to claude-memd's `/v1/hook` and, for
//! SessionStart, take the context from its answer. What claude-memd does not acknowledge in
//! time (refused, no socket, timeout, 5xx) goes to the spool for it to drain later.
//!
//! Every call carries an `Idempotency-Key`, also written into the spool file: an event the
//! daemon committed after the hook gave up is then recognised, not stored twice, when the
//! spool is drained.

use claude_daemons::api::memory::HookAck;
use claude_daemons::claude::{HookEvent, HookInput};
use claude_daemons::config::MemoryConfig;
use claude_daemons::http::{ClientError, UnixClient};
use claude_daemons::paths::{Daemon, Paths};
use claude_daemons::spool::{Limits, Pending, Spool, SpoolError};
use std::time::{Duration, Instant};

/// Whether claude-memd records this event (others are not sent at all).
pub fn wants(event: HookEvent) -> bool {
    !matches!(event, HookEvent::PreToolUse | HookEvent::Notification)
}

/// Whether this event asks for a file's history: PreToolUse of Read or Edit with a path.
pub fn recalls_file(event: HookEvent, hook: &HookInput) -> bool {
    event == HookEvent::PreToolUse
        && matches!(hook.tool_name.as_deref(), Some("Read" | "Edit"))
        && file_path(hook).is_some()
}

fn file_path(hook: &HookInput) -> Option<&str> {
    hook.tool_input
        .as_ref()?
        .get("file_path")?
        .as_str()
        .filter(|p| !p.is_empty())
}

/// The project's observations naming the file about to be read or edited, if claude-memd
/// has any this session was not shown yet. Never spooled: it is only useful now.
pub fn recall_file(
    paths: &Paths,
    config: &MemoryConfig,
    hook: &HookInput,
    started: Instant,
) -> Result<Option<String>, String> {
    if config.file_context_tokens == 0 {
        return Ok(None);
    }
    let Some(path) = file_path(hook) else {
        return Ok(None);
    };
    let wait = Duration::from_millis(config.hook_timeout_ms.max(1))
        .saturating_sub(started.elapsed())
        .max(Duration::from_millis(1));
    let body =
        serde_json::json!({"session_id": hook.session_id, "cwd": hook.cwd, "file_path": path});
    let resp = UnixClient::new(paths.socket(Daemon::Memd))
        .timeout(wait)
        .request(
            "POST",
            "/v1/recall/file",
            &[("content-type", "application/json")],
            Some(body.to_string().as_bytes()),
        )
        .map_err(|e| format!("file history: {e}"))?;
    if resp.status != 200 {
        return Err(format!("file history: HTTP {}", resp.status));
    }
    let v: serde_json::Value = resp.json().map_err(|e| format!("file history: {e}"))?;
    Ok(v.get("context")
        .and_then(serde_json::Value::as_str)
        .filter(|c| !c.is_empty())
        .map(String::from))
}

/// What became of the event when the daemon did not take it.
#[derive(Debug)]
pub struct NotTaken {
    /// Why the daemon did not acknowledge it.
    pub why: String,
    /// Where it went instead.
    pub spooled: Result<(), String>,
}

impl std::fmt::Display for NotTaken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.spooled {
            Ok(()) => write!(f, "{}; spooled for later", self.why),
            Err(e) => write!(f, "{}; event LOST: {e}", self.why),
        }
    }
}

/// Part of the deadline kept for putting the spool file in place (a rename and a directory
/// fsync): the daemon is given the rest.
fn spool_reserve(deadline_ms: u64) -> Duration {
    Duration::from_millis((deadline_ms / 4).min(40))
}

/// How long the daemon has to answer before the spool file is written alongside the wait. A
/// live daemon answers in a few milliseconds and the hot path writes nothing; a stalled one
/// leaves the fsync, the slow part of spooling, to overlap the rest of the wait instead of
/// running after it, past the deadline.
fn spool_head_start(deadline_ms: u64) -> Duration {
    Duration::from_millis((deadline_ms / 4).min(50))
}

/// Send the payload (spooling it if the daemon does not take it); the context to inject, if
/// the daemon gave one.
pub fn forward(
    paths: &Paths,
    config: &MemoryConfig,
    event: HookEvent,
    raw: &[u8],
    started: Instant,
) -> Result<Option<String>, NotTaken> {
    let ms = if event == HookEvent::SessionStart {
        config.context_timeout_ms
    } else {
        config.hook_timeout_ms
    }
    .max(1);
    let key = event_key();
    let wait = Duration::from_millis(ms)
        .saturating_sub(spool_reserve(ms))
        .saturating_sub(started.elapsed())
        .max(Duration::from_millis(1));
    let limits = Limits {
        max_events: config.spool_max_events,
        max_bytes: config.spool_max_mb.saturating_mul(1 << 20),
    };
    let spool = Spool::new(&paths.state_dir);
    let mut pending = None;
    let head_start = spool_head_start(ms).saturating_sub(started.elapsed());
    let answer = call(
        paths,
        &key,
        raw,
        wait,
        (head_start, &mut || {
            pending = Some(spool.begin(&key, raw, limits));
        }),
    );
    let taken = |pending: Option<Result<Pending, SpoolError>>| {
        if let Some(Ok(p)) = pending {
            p.discard();
        }
    };
    let why = match answer {
        Ok(ctx) => {
            taken(pending);
            return Ok(ctx);
        }
        Err(Failure::Rejected(why)) => {
            taken(pending);
            // The daemon read it and said it can never be stored: spooling would not help.
            return Err(NotTaken {
                why,
                spooled: Err("refused as invalid".into()),
            });
        }
        Err(Failure::Retry(why)) => why,
    };
    let kept = pending
        .unwrap_or_else(|| spool.begin(&key, raw, limits))
        .and_then(Pending::keep);
    let spooled = kept.map(|_| ()).map_err(|e| match spool.record_lost() {
        Ok(total) => format!("{e} ({total} lost so far)"),
        Err(c) => format!("{e}; not counted either: {c}"),
    });
    Err(NotTaken { why, spooled })
}

enum Failure {
    /// Not acknowledged for now (no daemon, too slow, 5xx): spool it.
    Retry(String),
    /// A 4xx: the payload itself is refused.
    Rejected(String),
}

/// A fresh idempotency key: a ULID from the kernel's random bytes (a seeded generator
/// costs a short-lived process more than the one key it makes).
fn event_key() -> String {
    let mut random = [0u8; 16];
    // Without random bytes the key is the time alone: still unique enough for one hook.
    let _ = getrandom::getrandom(&mut random);
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    ulid::Ulid::from_parts(ms, u128::from_le_bytes(random)).to_string()
}

/// POST the event; `pause` (its time and work: starting the spool file) runs while a slow
/// daemon has not answered yet.
fn call(
    paths: &Paths,
    key: &str,
    raw: &[u8],
    wait: Duration,
    pause: (Duration, &mut dyn FnMut()),
) -> Result<Option<String>, Failure> {
    let client = UnixClient::new(paths.socket(Daemon::Memd)).timeout(wait);
    let resp = client
        .request_pausing(
            "POST",
            "/v1/hook",
            &[
                ("content-type", "application/json"),
                ("idempotency-key", key),
            ],
            Some(raw),
            Some(pause),
        )
        .map_err(|e| match e {
            ClientError::Timeout(_) => Failure::Retry(format!("no answer within {wait:?}")),
            e => Failure::Retry(e.to_string()),
        })?;
    if resp.status != 200 {
        let why = format!(
            "HTTP {}: {}",
            resp.status,
            String::from_utf8_lossy(&resp.body)
                .chars()
                .take(300)
                .collect::<String>()
        );
        return Err(if (400..500).contains(&resp.status) {
            Failure::Rejected(why)
        } else {
            Failure::Retry(why)
        });
    }
    let ack: HookAck = resp.json().map_err(|e| Failure::Retry(e.to_string()))?;
    Ok(ack.context.filter(|c| !c.is_empty()))
}
