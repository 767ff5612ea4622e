//! `claudectl mesh`: send, inbox, peers, profile, outbox and accept-host against claude-meshd.

use crate::cli::{
    MeshAnswerArgs, MeshCommand, MeshInboxArgs, MeshOutboxCommand, MeshOutboxListArgs,
    MeshProfileArgs, MeshRequeueArgs, MeshSendArgs,
};
use crate::daemon_client::{query, Api, CtlError, CtlResult};
use crate::output;
use crate::output::say;
use claude_daemons::api::mesh::{
    InboxPage, Member, OutboxItem, PeerStatus, Priority, Profile, ProfileUpdate, RequeueRequest,
    RequeueResponse, SendRequest, SendResponse,
};
use claude_daemons::paths::Daemon;
use serde_json::Value;
use std::path::PathBuf;
use std::process::ExitCode;

/// Run `claudectl mesh …`.
pub fn run(cmd: MeshCommand) -> anyhow::Result<ExitCode> {
    let api = Api::new(Daemon::Meshd);
    crate::daemon_client::finish(match cmd {
        MeshCommand::Send(a) => send(&api, a),
        MeshCommand::Inbox(a) => inbox(&api, a),
        MeshCommand::Peers(a) => peers(&api, a.all, a.out.json),
        MeshCommand::Profile(a) => profile(&api, a),
        MeshCommand::Outbox(MeshOutboxCommand::List(a)) => outbox(&api, a),
        MeshCommand::Outbox(MeshOutboxCommand::Requeue(a)) => requeue(&api, a),
        MeshCommand::AcceptHost(a) => accept_host(a.bindir),
        MeshCommand::Approve(a) => answer(a, "allow"),
        MeshCommand::Deny(a) => answer(a, "deny"),
    })
}

fn answer(a: MeshAnswerArgs, behavior: &str) -> CtlResult {
    let socket = claude_daemons::paths::Paths::from_env().socket(Daemon::Meshd);
    let client = claude_daemons::http::UnixClient::new(socket);
    let line =
        crate::permission_answer::answer(&client, &a.id, behavior, a.from_session.as_deref())
            .map_err(|e| anyhow::anyhow!(e))?;
    say!("{line}");
    Ok(ExitCode::SUCCESS)
}

fn send(api: &Api, a: MeshSendArgs) -> CtlResult {
    let meta = match &a.meta {
        Some(m) => Some(
            serde_json::from_str::<Value>(m)
                .map_err(|e| anyhow::anyhow!("--meta is not JSON: {e}"))?,
        ),
        None => None,
    };
    let req = SendRequest {
        to: a.to,
        body: crate::sup::text_arg(&a.body)?,
        client_message_id: a.client_message_id,
        priority: a.priority.as_deref().and_then(Priority::parse),
        reply_to: a.reply_to,
        meta,
        from_session: a.from_session,
        extra: Default::default(),
    };
    let (r, raw): (SendResponse, Value) = api.post("/v1/send", &req)?;
    if a.out.json {
        output::json(&raw);
        return Ok(ExitCode::SUCCESS);
    }
    let dup = if r.duplicate { " (duplicate)" } else { "" };
    let history = r
        .history_id
        .map(|h| format!(", outbox #{h}"))
        .unwrap_or_default();
    say!(
        "{} {} to {}{dup}{history}",
        r.status,
        r.client_message_id,
        req.to
    );
    Ok(ExitCode::SUCCESS)
}

fn inbox(api: &Api, a: MeshInboxArgs) -> CtlResult {
    #[derive(serde::Serialize)]
    struct Q<'a> {
        since: i64,
        limit: usize,
        #[serde(skip_serializing_if = "Option::is_none")]
        session: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        from: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        topic: Option<&'a str>,
        unread_only: bool,
        mark_seen: bool,
    }
    let q = Q {
        since: a.since,
        limit: a.limit,
        session: a.session.as_deref(),
        from: a.from.as_deref(),
        topic: a.topic.as_deref(),
        unread_only: a.unread,
        mark_seen: a.mark_seen,
    };
    let (page, raw): (InboxPage, Value) = api.get(&format!("/v1/inbox{}", query(&q)?))?;
    if a.out.json {
        output::json(&raw);
        return Ok(ExitCode::SUCCESS);
    }
    if page.items.is_empty() {
        say!("no messages");
    }
    for m in &page.items {
        let unread = if m.seen_at.is_none() { "●" } else { " " };
        say!(
            "{unread} {:<5} {}  {:<16} → {:<12} [{}] {}",
            m.id,
            output::when(&m.created_at),
            output::line(&m.from.name, 16),
            output::line(&m.to, 12),
            m.priority.as_str(),
            output::line(&m.body, 60)
        );
    }
    if page.items.len() == a.limit {
        say!("… more: claudectl mesh inbox --since {}", page.next_cursor);
    }
    Ok(ExitCode::SUCCESS)
}

fn peers(api: &Api, all: bool, json: bool) -> CtlResult {
    let path = if all {
        "/v1/members?all=true"
    } else {
        "/v1/members"
    };
    let (list, raw): (Vec<Member>, Value) = api.get(path)?;
    if json {
        output::json(&raw);
        return Ok(ExitCode::SUCCESS);
    }
    say!(
        "{:<20} {:<10} {:<8} {:<8} {:<16} SUMMARY",
        "NAME",
        "KEY",
        "WHERE",
        "STATUS",
        "SESSION"
    );
    // Each member (its daemon), then its sessions indented under it: a member with no
    // session can still be messaged by name; its next session gets the message.
    for m in &list {
        let place = match (m.local, m.online) {
            (true, _) => "local",
            (false, true) => "remote",
            (false, false) => "offline",
        };
        say!(
            "{:<20} {:<10} {:<8} {:<8} {:<16} {}",
            output::line(&m.name, 20),
            m.key.get(..8).unwrap_or(&m.key),
            place,
            "-",
            if m.sessions.is_empty() { "(none)" } else { "" },
            output::line(
                &format!("member on {}", m.hostname.as_deref().unwrap_or("?")),
                50
            )
        );
        for p in &m.sessions {
            let place = match (p.local, p.online) {
                (true, _) => "local",
                (false, true) => "remote",
                (false, false) => "offline",
            };
            say!(
                "  {:<18} {:<10} {:<8} {:<8} {:<16} {}",
                output::line(&p.name, 18),
                p.key.get(..8).unwrap_or(&p.key),
                place,
                status_name(p.profile.status),
                output::line(&p.session_id, 16),
                output::line(p.profile.summary.as_deref().unwrap_or(""), 50)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn status_name(s: PeerStatus) -> &'static str {
    match s {
        PeerStatus::Idle => "idle",
        PeerStatus::Working => "working",
        PeerStatus::Dnd => "dnd",
    }
}

fn profile(api: &Api, a: MeshProfileArgs) -> CtlResult {
    let status = match a.status.as_deref() {
        Some("working") => Some(PeerStatus::Working),
        Some("dnd") => Some(PeerStatus::Dnd),
        Some(_) => Some(PeerStatus::Idle),
        None => None,
    };
    let update = ProfileUpdate {
        session_id: a.session.clone(),
        summary: a.summary,
        status,
        visible: a.visible,
        title: a.title,
        bio: a.bio,
        capabilities: a.capabilities,
    };
    let changes = update
        != ProfileUpdate {
            session_id: a.session.clone(),
            ..Default::default()
        };
    let (p, raw): (Profile, Value) = if changes {
        api.post("/v1/profile", &update)?
    } else {
        #[derive(serde::Serialize)]
        struct Q<'a> {
            session: &'a str,
        }
        api.get(&format!(
            "/v1/profile{}",
            query(&Q {
                session: &a.session
            })?
        ))?
    };
    if a.out.json {
        output::json(&raw);
        return Ok(ExitCode::SUCCESS);
    }
    say!("session:      {}", a.session);
    say!("status:       {}", status_name(p.status));
    say!("visible:      {}", p.visible);
    for (k, v) in [
        ("summary", &p.summary),
        ("title", &p.title),
        ("bio", &p.bio),
    ] {
        if let Some(v) = v {
            say!("{:<13} {v}", format!("{k}:"));
        }
    }
    if !p.capabilities.is_empty() {
        say!("capabilities: {}", p.capabilities.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

fn outbox(api: &Api, a: MeshOutboxListArgs) -> CtlResult {
    #[derive(serde::Serialize)]
    struct Q<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        state: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        limit: Option<usize>,
    }
    let q = Q {
        state: a.state.as_deref(),
        limit: a.limit,
    };
    let (rows, raw): (Vec<OutboxItem>, Value) = api.get(&format!("/v1/outbox{}", query(&q)?))?;
    if a.out.json {
        output::json(&raw);
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        say!("outbox empty");
        return Ok(ExitCode::SUCCESS);
    }
    say!(
        "{:<5} {:<9} {:<28} {:<14} {:>8}  UPDATED           ERROR",
        "ID",
        "STATE",
        "CLIENT MESSAGE ID",
        "TO",
        "ATTEMPTS"
    );
    for r in &rows {
        say!(
            "{:<5} {:<9} {:<28} {:<14} {:>8}  {}  {}",
            r.id,
            r.state,
            output::line(&r.client_message_id, 28),
            output::line(&r.to, 14),
            r.attempts,
            output::when(&r.updated_at),
            output::line(r.last_error.as_deref().unwrap_or(""), 60)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn requeue(api: &Api, a: MeshRequeueArgs) -> CtlResult {
    let req = RequeueRequest {
        id: a.id,
        new_client_message_id: a.new_id,
    };
    let (r, raw): (RequeueResponse, Value) = api.post("/v1/outbox/requeue", &req)?;
    if a.out.json {
        output::json(&raw);
    } else {
        say!(
            "aborted {}; queued again as {} (outbox #{})",
            r.aborted,
            r.client_message_id,
            r.id
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn accept_host(bindir: Option<PathBuf>) -> CtlResult {
    let bin = crate::binaries::find(bindir.as_deref(), "claude-meshd");
    let status = std::process::Command::new(&bin)
        .arg("--accept-host")
        .status()
        .map_err(|e| -> CtlError { anyhow::anyhow!("cannot run {}: {e}", bin.display()).into() })?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        _ => {
            eprintln!(
                "claudectl: {} --accept-host failed: {status}",
                bin.display()
            );
            ExitCode::from(crate::daemon_client::EXIT_ERROR)
        }
    })
}
