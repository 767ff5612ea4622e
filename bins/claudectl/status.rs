//! `claudectl status`: one screen that answers "is it running, and is it well?".
//!
//! It asks the service manager first and only connects to a socket whose service is already
//! running (or that no service manager owns): looking must not start a socket-activated
//! daemon.

use crate::cli::StatusArgs;
use crate::output::clean;
use anyhow::Result;
use claude_daemons::api::Health;
use claude_daemons::http::UnixClient;
use claude_daemons::paths::{Daemon, Paths};
use claude_daemons::spool::{Spool, Usage};
use serde::Serialize;
use std::io::IsTerminal;
use std::process::{Command, ExitCode};
use std::time::Duration;

#[derive(Serialize)]
struct DaemonStatus {
    daemon: &'static str,
    socket: String,
    socket_present: bool,
    /// `ActiveState` of the socket and service units, when a user manager answers.
    socket_unit: Option<String>,
    service_unit: Option<String>,
    health: Option<Health>,
    error: Option<String>,
    /// claude-memd only: hook events waiting in `$STATE/spool/` (read from the directory,
    /// so it shows while the daemon is down too).
    #[serde(skip_serializing_if = "Option::is_none")]
    spool: Option<Usage>,
}

fn unit_state(unit: &str) -> Option<String> {
    let out = Command::new("systemctl")
        .args(["--user", "show", "-P", "ActiveState", unit])
        .output()
        .ok()?;
    let state = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !state.is_empty()).then_some(state)
}

fn probe(paths: &Paths, daemon: Daemon) -> DaemonStatus {
    let socket = paths.socket(daemon);
    let socket_unit = unit_state(&format!("{}.socket", daemon.program()));
    let service_unit = unit_state(&format!("{}.service", daemon.program()));
    let managed = socket_unit.as_deref().is_some_and(|s| s != "inactive");
    let running = service_unit.as_deref() == Some("active");
    let mut status = DaemonStatus {
        daemon: daemon.program(),
        socket: socket.display().to_string(),
        socket_present: socket.exists(),
        socket_unit,
        service_unit,
        health: None,
        error: None,
        spool: (daemon == Daemon::Memd)
            .then(|| Spool::new(&paths.state_dir).usage().ok())
            .flatten(),
    };
    if status.socket_present && (running || !managed) {
        match UnixClient::new(&socket)
            .timeout(Duration::from_secs(2))
            .get("/v1/health")
            .and_then(|r| r.json::<Health>())
        {
            Ok(h) => status.health = Some(h),
            Err(e) => status.error = Some(e.to_string()),
        }
    }
    status
}

fn describe(s: &DaemonStatus) -> (String, bool) {
    if let Some(h) = &s.health {
        let secs = h.uptime_ms / 1000;
        let state = format!("{:?}", h.status).to_lowercase();
        return (
            format!(
                "running ({state}), pid {}, up {}h{:02}m{:02}s, {} {}, {}",
                h.pid,
                secs / 3600,
                secs / 60 % 60,
                secs % 60,
                h.program,
                h.version,
                h.activation
            ),
            h.status == claude_daemons::api::HealthStatus::Ok,
        );
    }
    if let Some(e) = &s.error {
        return (format!("not answering: {e}"), false);
    }
    match (s.socket_unit.as_deref(), s.socket_present) {
        (Some("active"), _) => ("listening; starts on first use".into(), true),
        (_, true) => ("socket present, no service manager".into(), false),
        _ => ("stopped".into(), false),
    }
}

/// The figures that say whether a running daemon keeps up: memd's queue, the supervisor's
/// children against its limit, the mesh's broker link. They come from the daemon-specific
/// part of `/v1/health`; a daemon that leaves one out simply shows less.
fn figures(h: &Health) -> Option<String> {
    let d = &h.details;
    let num = |v: Option<&serde_json::Value>| v.and_then(serde_json::Value::as_u64).unwrap_or(0);
    let text = |k: &str| d.get(k).and_then(serde_json::Value::as_str).unwrap_or("?");
    match h.program.as_str() {
        "claude-memd" => {
            let q = d.get("queue")?;
            Some(format!(
                "queue: {} pending, {} processed, {} failed; provider {}; {}",
                num(q.get("pending")),
                num(q.get("processed")),
                num(q.get("failed")),
                text("provider"),
                recall(d.get("semantic"))
            ))
        }
        "claude-supervisord" => Some(format!(
            "children: {}/{}; sessions: {} ({} busy, {} failed)",
            num(d.get("children")),
            num(d.get("max_processes")),
            num(d.get("sessions")),
            num(d.get("sessions_busy")),
            num(d.get("sessions_failed"))
        )),
        "claude-meshd" => Some(format!(
            "broker: {}; mesh {}; {} local sessions online",
            text("broker"),
            text("mesh"),
            num(d.get("sessions"))
        )),
        _ => None,
    }
}

/// Semantic recall in a few words: off (and how to turn it on), or how far the backfill is.
fn recall(s: Option<&serde_json::Value>) -> String {
    let Some(s) = s else {
        return "recall: lexical".into();
    };
    let n = |k: &str| s.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
    match s.get("state").and_then(serde_json::Value::as_str) {
        Some("absent") | None => "recall: lexical (semantic: `claudectl mem model install`)".into(),
        Some("error") => "recall: lexical (the embedding model does not load: \
            `claudectl mem model status`)"
            .into(),
        Some(_) => format!(
            "recall: hybrid, {} of {} records embedded",
            n("embedded"),
            n("records")
        ),
    }
}

/// The hook spool in one line: what waits for claude-memd, and what was ever lost.
fn spool_line(u: &Usage) -> String {
    let mut line = format!(
        "spool: {} event(s) waiting ({} KiB)",
        u.events,
        u.bytes.div_ceil(1024)
    );
    if u.lost > 0 {
        line.push_str(&format!(
            "; {} event(s) LOST (spool or disk full; see claudectl doctor)",
            u.lost
        ));
    }
    line
}

/// Where claude-memd's viewer is served: its TCP listener, if it has one.
fn viewer(h: &Health) -> Option<String> {
    if h.program != "claude-memd" {
        return None;
    }
    Some(match h.listeners.iter().find(|l| !l.starts_with('/')) {
        Some(addr) => format!("viewer: http://{addr}/ (log in with `claudectl mem open`)"),
        None => "viewer: off ([memory] viewer_port = 0)".into(),
    })
}

/// Run `claudectl status`.
pub fn status(args: StatusArgs) -> Result<ExitCode> {
    let paths = Paths::from_env();
    let all: Vec<DaemonStatus> = Daemon::ALL.iter().map(|d| probe(&paths, *d)).collect();
    let healthy = all.iter().all(|s| describe(s).1);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&all)?);
    } else {
        let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        for s in &all {
            let (text, ok) = describe(s);
            let dot = match (colour, ok) {
                (true, true) => "\x1b[32m●\x1b[0m",
                (true, false) => "\x1b[31m●\x1b[0m",
                (false, true) => "●",
                (false, false) => "○",
            };
            // The dot is ours; the rest quotes what a daemon answered.
            println!("{dot} {:<20} {}", s.daemon, clean(&text));
            if let Some(line) = s.health.as_ref().and_then(figures) {
                println!("    {}", clean(&line));
            }
            if let Some(u) = &s.spool {
                println!("    {}", clean(&spool_line(u)));
            }
            if let Some(line) = s.health.as_ref().and_then(viewer) {
                println!("    {}", clean(&line));
            }
            println!("    socket: {}", clean(&s.socket));
        }
    }
    // Like `systemctl is-active`: 0 when everything is well, 3 otherwise.
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}
