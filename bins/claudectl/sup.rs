//! `claudectl sup`: ask, sessions, stop, events, permission prompts and the fleet against
//! claude-supervisord.

use crate::cli::{
    SupAnswerArgs, SupAskArgs, SupCommand, SupEventsArgs, SupPermissionsArgs, SupStopArgs,
};
use crate::daemon_client::{segment, Api, CtlError, CtlResult};
use crate::output;
use crate::output::say;
use claude_daemons::api::supervisor::{
    valid_session_key, AskRequest, AskResult, Behavior, FleetView, LifecycleEvent,
    PermissionDecision, PermissionList, PermissionRequest, SessionKind, SessionList,
    SessionOptions, StopResult,
};
use claude_daemons::paths::Daemon;
use serde_json::{json, Value};
use std::io::{BufRead, IsTerminal, Read, Write};
use std::process::ExitCode;
use std::time::Duration;

/// Run `claudectl sup …`.
pub fn run(cmd: SupCommand) -> anyhow::Result<ExitCode> {
    let api = Api::new(Daemon::Supervisord);
    crate::daemon_client::finish(match cmd {
        SupCommand::Ask(a) => ask(api, a),
        SupCommand::Sessions(a) => sessions(&api, a.json),
        SupCommand::Stop(a) => stop(&api, a),
        SupCommand::Events(a) => events(&api, a),
        SupCommand::Permissions(a) => permissions(&api, a),
        SupCommand::Answer(a) => answer(&api, a),
        SupCommand::Fleet(a) => fleet(&api, a.json),
        SupCommand::Attach(a) => crate::sup_attach::attach(a),
        SupCommand::Channel(a) => {
            return crate::mcp::sup_channel::serve(crate::mcp::sup_channel::Target {
                socket: a.socket,
                key: a.key,
                session_id: a.session_id,
            })
        }
    })
}

fn check_key(key: &str) -> Result<(), CtlError> {
    if valid_session_key(key) {
        return Ok(());
    }
    Err(
        anyhow::anyhow!("invalid session key {key:?}: 1–200 ASCII letters, digits and . _ - : @ +")
            .into(),
    )
}

/// The text argument, or standard input for `-`.
pub fn text_arg(s: &str) -> Result<String, CtlError> {
    if s != "-" {
        return Ok(s.to_string());
    }
    let mut buf = String::new();
    std::io::stdin()
        .take(claude_daemons::api::supervisor::MAX_PROMPT_BYTES as u64 + 1)
        .read_to_string(&mut buf)
        .map_err(|e| anyhow::anyhow!("reading standard input: {e}"))?;
    Ok(buf)
}

fn ask(api: Api, a: SupAskArgs) -> CtlResult {
    check_key(&a.key)?;
    let cwd = a.cwd.map(|d| {
        std::path::absolute(&d)
            .unwrap_or(d)
            .to_string_lossy()
            .into_owned()
    });
    let req = AskRequest {
        prompt: text_arg(&a.prompt)?,
        content: None,
        timeout_ms: a.timeout.map(|s| s.saturating_mul(1000)),
        options: SessionOptions {
            cwd,
            model: a.model,
            permission_mode: a.permission_mode,
            allowed_tools: (!a.allowed_tools.is_empty()).then_some(a.allowed_tools),
            kind: a.kind.map(|k| match k {
                crate::cli::SupKind::Headless => SessionKind::Headless,
                crate::cli::SupKind::Interactive => SessionKind::Interactive,
            }),
            ..SessionOptions::default()
        },
    };
    // The daemon ends the turn at its own timeout (default 300 s); wait a little longer so
    // its answer, not ours, says what happened. Turns may queue behind others, too.
    let wait = Duration::from_secs(a.timeout.unwrap_or(300) + 60);
    let path = format!("/v1/sessions/{}/ask", segment(&a.key));
    // A person at a terminal answers permission prompts as they come.
    let inline = !a.out.json
        && a.prompt != "-"
        && std::io::stdin().is_terminal()
        && std::io::stderr().is_terminal();
    if a.stream || inline {
        let asker = inline.then(|| PromptAsker { key: a.key.clone() });
        return ask_stream(&api, &path, &req, wait, a.out.json, asker);
    }
    let (r, raw): (AskResult, Value) = api.timeout(wait).post(&path, &req)?;
    if a.out.json {
        output::json(&raw);
    } else {
        say!("{}", r.result.as_deref().unwrap_or("").trim_end());
        eprintln!("{}", output::clean(&footer(&r)));
    }
    Ok(turn_code(&r))
}

fn turn_code(r: &AskResult) -> ExitCode {
    if r.is_error {
        ExitCode::from(crate::daemon_client::EXIT_ERROR)
    } else {
        ExitCode::SUCCESS
    }
}

fn footer(r: &AskResult) -> String {
    let mut parts = vec![format!("{} ({})", r.key, r.subtype)];
    if let Some(c) = r.total_cost_usd {
        parts.push(format!("${c:.4} so far"));
    }
    parts.push(output::millis(r.elapsed_ms));
    if r.cold {
        parts.push("cold start".into());
    }
    if let Some(h) = &r.host {
        parts.push(format!("on {h}"));
    }
    format!("— {}", parts.join(", "))
}

fn ask_stream(
    api: &Api,
    path: &str,
    req: &AskRequest,
    wait: Duration,
    json: bool,
    asker: Option<PromptAsker>,
) -> CtlResult {
    let body = serde_json::to_vec(req).map_err(anyhow::Error::from)?;
    let mut s = api.stream("POST", path, &[], Some(&body), Some(wait))?;
    let mut out = std::io::stdout().lock();
    let mut wrote_text = false;
    while let Some(ev) = s.next_event().map_err(|e| api.transport(e))? {
        let data: Value = serde_json::from_str(&ev.data).map_err(|e| api.bad_answer(e))?;
        if json {
            // One JSON object per line, as it arrives: {"event": …, "data": …}.
            let line = json!({"event": ev.event, "data": data});
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
        match ev.event.as_str() {
            "message" if !json => {
                if let Some(t) = text_delta(&data) {
                    let _ = write!(out, "{}", output::clean(t));
                    let _ = out.flush();
                    wrote_text = true;
                }
            }
            "result" => {
                let r: AskResult = serde_json::from_value(data).map_err(|e| api.bad_answer(e))?;
                if !json {
                    if wrote_text {
                        let _ = writeln!(out);
                    } else {
                        let _ = writeln!(
                            out,
                            "{}",
                            output::clean(r.result.as_deref().unwrap_or("").trim_end())
                        );
                    }
                    eprintln!("{}", output::clean(&footer(&r)));
                }
                return Ok(turn_code(&r));
            }
            "permission" => {
                if let Some(asker) = &asker {
                    let p: PermissionRequest =
                        serde_json::from_value(data).map_err(|e| api.bad_answer(e))?;
                    asker.ask(api, &p)?;
                } else if !json {
                    eprintln!(
                        "{}",
                        output::clean(&format!(
                            "— waiting for permission {}: {} (claudectl sup answer KEY {} allow|deny)",
                            data["id"].as_str().unwrap_or(""),
                            data["tool_name"].as_str().unwrap_or(""),
                            data["id"].as_str().unwrap_or("")
                        ))
                    );
                }
            }
            "error" => {
                let code = data["error"].as_str().unwrap_or("error");
                let msg = data["message"].as_str().unwrap_or("");
                return Err(
                    anyhow::anyhow!("claude-supervisord: the turn failed: {code}: {msg}").into(),
                );
            }
            _ => {}
        }
    }
    Err(anyhow::anyhow!("claude-supervisord ended the stream before the result").into())
}

/// Asks the person at the terminal about each permission prompt of a streamed ask.
struct PromptAsker {
    key: String,
}

impl PromptAsker {
    fn ask(&self, api: &Api, p: &PermissionRequest) -> Result<(), CtlError> {
        let what = output::line(&prompt_summary(p), 160);
        // The terminal itself, not stdin: the answer is the person's, whatever stdin is.
        let tty = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty");
        let answer = match tty {
            Ok(mut t) => {
                let _ = write!(t, "Allow {what}? [y/N/always] ");
                let _ = t.flush();
                let mut line = String::new();
                let _ = std::io::BufReader::new(t).read_line(&mut line);
                line.trim().to_ascii_lowercase()
            }
            Err(_) => String::new(),
        };
        let (behavior, remember) = match answer.as_str() {
            "y" | "yes" => (Behavior::Allow, false),
            "a" | "always" => (Behavior::Allow, true),
            _ => (Behavior::Deny, false),
        };
        let d = PermissionDecision {
            behavior,
            updated_input: None,
            message: (behavior == Behavior::Deny).then(|| "Denied at the terminal.".into()),
            remember,
            by: std::env::var("USER")
                .ok()
                .map(|u| format!("{u} (claudectl)")),
        };
        let path = format!(
            "/v1/sessions/{}/permissions/{}",
            segment(&self.key),
            segment(&p.id)
        );
        let _: (PermissionRequest, Value) = api.post(&path, &d)?;
        Ok(())
    }
}

/// `Bash: git push origin main`, `Edit: /w/src/lib.rs`, or the tool and its input.
fn prompt_summary(p: &PermissionRequest) -> String {
    let detail = ["command", "file_path", "notebook_path", "url", "path"]
        .iter()
        .find_map(|k| p.input[*k].as_str().map(str::to_string))
        .unwrap_or_else(|| p.input.to_string());
    format!("{}: {detail}", p.tool_name)
}

fn permissions(api: &Api, a: SupPermissionsArgs) -> CtlResult {
    check_key(&a.key)?;
    let path = format!(
        "/v1/sessions/{}/permissions{}",
        segment(&a.key),
        if a.pending { "" } else { "?all=true" }
    );
    let (list, raw): (PermissionList, Value) = api.get(&path)?;
    if a.out.json {
        output::json(&raw);
        return Ok(ExitCode::SUCCESS);
    }
    if list.permissions.is_empty() {
        say!("no permission prompts");
        return Ok(ExitCode::SUCCESS);
    }
    for p in &list.permissions {
        let when = p.decided_at.as_deref().unwrap_or(&p.created_at);
        say!(
            "{}  {:<8} {:<24} {}  {}",
            p.id,
            p.state,
            output::line(p.decided_by.as_deref().unwrap_or("-"), 24),
            output::line(when, 24),
            output::line(&prompt_summary(p), 80)
        );
        if let Some(m) = &p.message {
            say!("    {}", output::line(m, 100));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn answer(api: &Api, a: SupAnswerArgs) -> CtlResult {
    check_key(&a.key)?;
    let d = PermissionDecision {
        behavior: if a.behavior == "allow" {
            Behavior::Allow
        } else {
            Behavior::Deny
        },
        updated_input: None,
        message: a.message,
        remember: a.remember,
        by: std::env::var("USER")
            .ok()
            .map(|u| format!("{u} (claudectl)")),
    };
    let path = format!(
        "/v1/sessions/{}/permissions/{}",
        segment(&a.key),
        segment(&a.id)
    );
    let (p, raw): (PermissionRequest, Value) = api.post(&path, &d)?;
    if a.out.json {
        output::json(&raw);
    } else {
        say!("{}: {} {}", a.key, p.id, p.state);
    }
    Ok(ExitCode::SUCCESS)
}

/// The text of a `stream_event` `content_block_delta` line (`--include-partial-messages`).
fn text_delta(line: &Value) -> Option<&str> {
    (line["type"] == "stream_event" && line["event"]["delta"]["type"] == "text_delta")
        .then(|| line["event"]["delta"]["text"].as_str())
        .flatten()
}

fn sessions(api: &Api, json: bool) -> CtlResult {
    let (list, raw): (SessionList, Value) = api.get("/v1/sessions")?;
    if json {
        output::json(&raw);
        return Ok(ExitCode::SUCCESS);
    }
    if list.sessions.is_empty() {
        say!("no sessions");
        return Ok(ExitCode::SUCCESS);
    }
    say!(
        "{:<24} {:<9} {:>7} {:>6} {:>9}  CWD",
        "KEY",
        "STATE",
        "PID",
        "TURNS",
        "COST"
    );
    for s in &list.sessions {
        say!(
            "{:<24} {:<9} {:>7} {:>6} {:>9}  {}",
            output::line(&s.key, 24),
            s.state,
            s.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
            s.turns,
            format!("${:.4}", s.total_cost_usd),
            s.cwd
        );
        if let Some(f) = &s.failure {
            say!("    failed: {}", output::line(f, 100));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn fleet(api: &Api, json: bool) -> CtlResult {
    let (f, raw): (FleetView, Value) = api.get("/v1/fleet")?;
    if json {
        output::json(&raw);
        return Ok(ExitCode::SUCCESS);
    }
    say!(
        "fleet {} — this host {} ({})",
        f.fleet,
        f.host,
        if f.connected {
            "connected"
        } else {
            "broker unreachable"
        }
    );
    say!(
        "{:<20} {:>5} {:>9} {:>5} {:>5} {:>9}  VERSION",
        "HOST",
        "MAX",
        "CHILDREN",
        "BUSY",
        "FREE",
        "SESSIONS"
    );
    for h in &f.hosts {
        say!(
            "{:<20} {:>5} {:>9} {:>5} {:>5} {:>9}  {}",
            output::line(&h.host, 20),
            h.max_processes,
            h.children,
            h.busy,
            h.free,
            h.sessions,
            output::line(&h.version, 20)
        );
    }
    if let Some(e) = &f.error {
        say!("sessions unknown: {}", output::line(e, 100));
    } else if f.sessions.is_empty() {
        say!("no sessions placed");
    } else {
        say!("{:<32} {:<20} LEASE", "KEY", "HOST");
        for s in &f.sessions {
            let lease = if s.live {
                format!("{:.1} s", s.lease_ms as f64 / 1000.0)
            } else {
                "expired".into()
            };
            say!(
                "{:<32} {:<20} {lease}",
                output::line(&s.key, 32),
                output::line(&s.host, 20)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn stop(api: &Api, a: SupStopArgs) -> CtlResult {
    check_key(&a.key)?;
    let path = format!(
        "/v1/sessions/{}{}",
        segment(&a.key),
        if a.forget { "?forget=true" } else { "" }
    );
    let (r, raw): (StopResult, Value) = api.delete(&path)?;
    if a.out.json {
        output::json(&raw);
    } else {
        let what = if r.stopped {
            "stopped its process"
        } else {
            "no process was running"
        };
        let forgot = if r.forgotten {
            "; the conversation is forgotten"
        } else {
            ""
        };
        say!("{}: {what}{forgot}", a.key);
    }
    Ok(ExitCode::SUCCESS)
}

fn events(api: &Api, a: SupEventsArgs) -> CtlResult {
    let since = a.since.map(|s| s.to_string());
    let headers: Vec<(&str, &str)> = since
        .as_deref()
        .map(|s| vec![("last-event-id", s)])
        .unwrap_or_default();
    // Following: no bound on the wait (the daemon sends keepalives and ends the stream
    // when it drains).
    let mut s = api.stream("GET", "/v1/events", &headers, None, None)?;
    let mut seen = 0u64;
    let mut out = std::io::stdout().lock();
    while a.count.is_none_or(|n| seen < n) {
        let Some(ev) = s.next_event().map_err(|e| api.transport(e))? else {
            break;
        };
        if ev.event != "lifecycle" {
            continue;
        }
        let e: LifecycleEvent = serde_json::from_str(&ev.data).map_err(|e| api.bad_answer(e))?;
        seen += 1;
        let _ = if a.out.json {
            writeln!(out, "{}", ev.data)
        } else {
            writeln!(
                out,
                "{:>5} {} {:<18} {:<24} {}{}",
                e.seq,
                clock(e.at_ms),
                e.kind.as_str(),
                output::line(&e.key, 200),
                e.pid.map(|p| format!("pid {p} ")).unwrap_or_default(),
                e.detail
                    .as_deref()
                    .map(|d| output::line(d, 80))
                    .unwrap_or_default()
            )
        };
        let _ = out.flush();
    }
    Ok(ExitCode::SUCCESS)
}

/// `HH:MM:SS` UTC of a Unix time in milliseconds.
fn clock(at_ms: u64) -> String {
    let s = at_ms / 1000;
    format!("{:02}:{:02}:{:02}", s / 3600 % 24, s / 60 % 60, s % 60)
}
