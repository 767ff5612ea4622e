//! `claudectl mem share enable|disable|status`: which projects claude-memd shares with the
//! team (`/v1/share`).

use crate::cli::MemShareCommand;
use crate::daemon_client::{query, Api, CtlResult};
use crate::output;
use crate::output::say;
use anyhow::Context as _;
use claude_daemons::api::memory_share::{ShareRequest, ShareStatus};
use serde_json::Value;
use std::path::PathBuf;
use std::process::ExitCode;

/// Run `claudectl mem share …`.
pub fn run(api: &Api, cmd: MemShareCommand) -> CtlResult {
    let (enabled, project, json) = match cmd {
        MemShareCommand::Enable(a) => (Some(true), a.project, a.out.json),
        MemShareCommand::Disable(a) => (Some(false), a.project, a.out.json),
        MemShareCommand::Status(a) => (None, a.project, a.out.json),
    };
    let dir = |p: Option<PathBuf>| -> anyhow::Result<String> {
        let p = match p {
            Some(p) => p,
            None => std::env::current_dir().context("no current directory")?,
        };
        let p = std::fs::canonicalize(&p).with_context(|| format!("{}", p.display()))?;
        Ok(p.display().to_string())
    };
    let (status, raw): (ShareStatus, Value) = match enabled {
        Some(enabled) => {
            let project = dir(project)?;
            api.post("/v1/share", &ShareRequest { project, enabled })?
        }
        None => {
            let project = project.map(|p| dir(Some(p))).transpose()?;
            let q = serde_json::json!({ "project": project });
            api.get(&format!("/v1/share{}", query(&q)?))?
        }
    };
    if json {
        output::json(&raw);
        return Ok(ExitCode::SUCCESS);
    }
    match &status.broker {
        None => say!("team memory: not configured (set broker_url, team and team_secret in [memory.share] or [mesh])"),
        Some(b) => say!(
            "team memory: team {} as {} ({}), broker {}, {} published, {} received",
            b["team"].as_str().unwrap_or("?"),
            b["name"].as_str().unwrap_or("?"),
            output::line(b["member"].as_str().unwrap_or("?"), 16),
            if b["connected"].as_bool() == Some(true) { "connected" } else { "not connected" },
            b["published"],
            b["received"],
        ),
    }
    // Records the broker can never take (over its max payload) were dropped, not retried.
    if let Some(n) = status
        .broker
        .as_ref()
        .and_then(|b| b["refused"].as_u64())
        .filter(|&n| n > 0)
    {
        say!("{n} record(s) refused by the broker as too large since claude-memd started (see its log)");
    }
    if status.projects.is_empty() {
        say!(
            "{}",
            if enabled == Some(false) {
                "not shared"
            } else {
                "no project is shared"
            }
        );
    }
    for p in &status.projects {
        say!(
            "{}  as {}  ({} waiting to publish, {} from teammates)",
            p.project,
            p.portable,
            p.pending,
            p.team_records
        );
    }
    Ok(ExitCode::SUCCESS)
}
