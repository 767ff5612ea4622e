//! `claudectl mem`: search, timeline, show, context, prune, import, stats and the viewer's
//! login link, against claude-memd.

mod claude_mem;
mod edit;
mod forget;
mod hub;
mod import;
mod model;
mod open;
mod prune;
mod share;
mod transfer;

use crate::cli::{MemCommand, MemContextArgs, MemSearchArgs, MemTimelineArgs};
use crate::daemon_client::{query, Api, CtlResult};
use crate::output;
use crate::output::say;
use claude_daemons::api::memory::{
    Context, Match, Observation, RecordKind, SearchMode, SearchQuery, SearchResults, Timeline,
    TimelineQuery, Who,
};
use claude_daemons::paths::Daemon;
use serde_json::Value;
use std::process::ExitCode;

/// Run `claudectl mem …`.
pub fn run(cmd: MemCommand) -> anyhow::Result<ExitCode> {
    let api = Api::new(Daemon::Memd);
    crate::daemon_client::finish(match cmd {
        MemCommand::Search(a) => search(&api, a),
        MemCommand::Timeline(a) => timeline(&api, a),
        MemCommand::Show(a) => show(&api, &a.ids, a.out.json),
        MemCommand::Context(a) => context(&api, a),
        MemCommand::Prune(a) => prune::run(api, a),
        MemCommand::Import(a) => import::run(api, a),
        MemCommand::Forget(a) => forget::run(api, a),
        MemCommand::Edit(a) => edit::run(&api, a),
        MemCommand::Export(a) => transfer::export(&api, a),
        MemCommand::Stats(a) => stats(&api, a.json),
        MemCommand::Open(a) => open::run(&api, a),
        MemCommand::Model(c) => model::run(&api, c),
        MemCommand::Share(c) => share::run(&api, c),
    })
}

/// How a record is cited: `#12` for an observation (what `mem show` takes), `#S3` for a
/// summary and `#P7` for a prompt, as in the SessionStart context.
fn cite(r: RecordKind, id: i64) -> String {
    match r {
        RecordKind::Observation => format!("#{id}"),
        RecordKind::Summary => format!("#S{id}"),
        RecordKind::Prompt => format!("#P{id}"),
    }
}

fn record_name(r: RecordKind) -> &'static str {
    match r {
        RecordKind::Observation => "obs",
        RecordKind::Summary => "summary",
        RecordKind::Prompt => "prompt",
    }
}

fn search(api: &Api, a: MemSearchArgs) -> CtlResult {
    let record = a.record.as_deref().map(|r| match r {
        "summary" => RecordKind::Summary,
        "prompt" => RecordKind::Prompt,
        _ => RecordKind::Observation,
    });
    let q = SearchQuery {
        q: a.words.join(" "),
        project: a.project,
        kind: a.kind,
        file: a.file,
        record,
        since: a.since,
        until: a.until,
        limit: Some(a.limit),
        offset: Some(a.offset),
        mode: a.mode.as_deref().map(|m| match m {
            "semantic" => SearchMode::Semantic,
            "hybrid" => SearchMode::Hybrid,
            _ => SearchMode::Lexical,
        }),
        who: match (a.mine, a.team) {
            (true, _) => Some(Who::Mine),
            (_, true) => Some(Who::Team),
            _ => None,
        },
    };
    let (res, raw): (SearchResults, Value) = api.get(&format!("/v1/search{}", query(&q)?))?;
    if a.out.json {
        output::json(&raw);
        return Ok(ExitCode::SUCCESS);
    }
    if res.results.is_empty() {
        say!("no matches for {:?}", q.q);
    } else if res.matched == Match::Any {
        say!("(no record has every word; these have some of them)");
    }
    for h in &res.results {
        let kind = h.kind.as_deref().unwrap_or(record_name(h.record));
        say!(
            "{:<7} {:<9} {}  {}{}",
            cite(h.record, h.id),
            kind,
            output::when(&h.created_at),
            output::line(&h.title, 70),
            h.by.as_deref()
                .map(|by| format!("  (teammate {})", output::line(by, 40)))
                .unwrap_or_default()
        );
        if h.snippet != h.title {
            say!("        {}", output::line(&h.snippet, 100));
        }
    }
    if res.has_more {
        say!(
            "… more: claudectl mem search {} --offset {}",
            q.q,
            res.offset + res.limit
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn timeline(api: &Api, a: MemTimelineArgs) -> CtlResult {
    let q = TimelineQuery {
        anchor: a.anchor,
        at: a.at,
        project: a.project,
        before: Some(a.before),
        after: Some(a.after),
    };
    let (t, raw): (Timeline, Value) = api.get(&format!("/v1/timeline{}", query(&q)?))?;
    if a.out.json {
        output::json(&raw);
        return Ok(ExitCode::SUCCESS);
    }
    for i in &t.items {
        let kind = i.kind.as_deref().unwrap_or(record_name(i.record));
        say!(
            "{} {}  {:<7} {:<9} {}",
            if i.anchor { "▶" } else { " " },
            output::when(&i.created_at),
            cite(i.record, i.id),
            kind,
            output::line(&i.title, 80)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn show(api: &Api, ids: &[i64], json: bool) -> CtlResult {
    let mut raws = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        let (o, raw): (Observation, Value) = api.get(&format!("/v1/observations/{id}"))?;
        if json {
            raws.push(raw);
            continue;
        }
        if n > 0 {
            println!();
        }
        say!("#{} {} — {}", o.id, o.kind, o.title);
        if let Some(s) = &o.subtitle {
            say!("  {s}");
        }
        say!(
            "  project {} · session {} · {}",
            o.project_name,
            o.session_id,
            output::when(&o.created_at)
        );
        for f in &o.facts {
            say!("  • {f}");
        }
        if let Some(n) = &o.narrative {
            say!("  {}", n.trim());
        }
        if !o.files_read.is_empty() {
            say!("  read: {}", o.files_read.join(", "));
        }
        if !o.files_modified.is_empty() {
            say!("  modified: {}", o.files_modified.join(", "));
        }
    }
    if json {
        // One ID prints the observation itself; several print an array.
        let v = if raws.len() == 1 {
            raws.remove(0)
        } else {
            Value::Array(raws)
        };
        output::json(&v);
    }
    Ok(ExitCode::SUCCESS)
}

fn context(api: &Api, a: MemContextArgs) -> CtlResult {
    let project = match a.project {
        Some(p) => p,
        None => std::env::current_dir().map_err(anyhow::Error::from)?,
    };
    let project = std::path::absolute(&project).unwrap_or(project);
    #[derive(serde::Serialize)]
    struct Q {
        project: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        tokens: Option<usize>,
    }
    let q = Q {
        project: project.display().to_string(),
        tokens: a.tokens,
    };
    let (c, raw): (Context, Value) = api.get(&format!("/v1/context{}", query(&q)?))?;
    if a.out.json {
        output::json(&raw);
    } else {
        say!("{}", c.markdown.trim_end());
        eprintln!(
            "({} observations, ~{} tokens, project {})",
            c.observations,
            c.tokens,
            output::clean(&c.project)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn stats(api: &Api, json: bool) -> CtlResult {
    let (v, raw): (Value, Value) = api.get("/api/stats")?;
    if json {
        output::json(&raw);
        return Ok(ExitCode::SUCCESS);
    }
    let n = |v: &Value, k: &str| v.get(k).and_then(Value::as_i64).unwrap_or(0);
    say!(
        "{:<30} {:>12} {:>10} {:>8}",
        "PROJECT",
        "OBSERVATIONS",
        "SUMMARIES",
        "PROMPTS"
    );
    if let Some(by) = v.get("byProject").and_then(Value::as_object) {
        for (name, c) in by {
            say!(
                "{:<30} {:>12} {:>10} {:>8}",
                output::line(name, 30),
                n(c, "observations"),
                n(c, "summaries"),
                n(c, "prompts")
            );
        }
    }
    let t = &v["total"];
    say!(
        "{:<30} {:>12} {:>10} {:>8}   (sessions: {})",
        "total",
        n(t, "observations"),
        n(t, "summaries"),
        n(t, "prompts"),
        n(t, "sessions")
    );
    Ok(ExitCode::SUCCESS)
}
