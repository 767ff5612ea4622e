//! `claudectl mem forget`: records by ID (through `DELETE /v1/{observations,summaries,
//! prompts}/{id}`), or all of a session, a project or before a time (`POST /v1/forget`),
//! after saying what will go and asking.

use crate::cli::MemForgetArgs;
use crate::daemon_client::{Api, CtlError, CtlResult};
use crate::output;
use crate::output::say;
use claude_daemons::api::memory::{ForgetRequest, ForgetResult, RecordKind};
use serde_json::{json, Value};
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

/// A record ID as search and context cite it: `12`/`#12`, `S3`, `P7`.
pub fn parse_id(s: &str) -> Result<(RecordKind, i64), String> {
    let t = s.trim().trim_start_matches('#');
    let (kind, digits) = match t.chars().next() {
        Some('S' | 's') => (RecordKind::Summary, &t[1..]),
        Some('P' | 'p') => (RecordKind::Prompt, &t[1..]),
        _ => (RecordKind::Observation, t),
    };
    match digits.parse::<i64>() {
        Ok(n) if n > 0 => Ok((kind, n)),
        _ => Err(format!(
            "{s:?} is not a record ID (12 or #12: an observation, S3: a summary, P7: a prompt)"
        )),
    }
}

fn route(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Observation => "observations",
        RecordKind::Summary => "summaries",
        RecordKind::Prompt => "prompts",
    }
}

/// Ask on the terminal; without one, refuse unless `--yes` said it already.
fn confirm(question: &str, yes: bool) -> Result<bool, CtlError> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        return Err(anyhow::anyhow!(
            "{question} — not asked: stdin is not a terminal; add --yes to forget without asking"
        )
        .into());
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(anyhow::Error::from)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

/// Run `claudectl mem forget`.
pub fn run(api: Api, a: MemForgetArgs) -> CtlResult {
    // Forgetting a whole project rewrites many pages and checkpoints the WAL.
    let api = api.timeout(Duration::from_secs(300));
    if !a.ids.is_empty() {
        return by_id(&api, &a);
    }
    // A directory given as the project is that directory's path (claude-memd finds its git
    // root); anything else is a project key or name as written.
    let project = a.project.as_ref().map(|p| {
        let path = std::path::Path::new(p);
        if path.is_dir() {
            std::path::absolute(path)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| p.clone())
        } else {
            p.clone()
        }
    });
    let req = |dry_run| ForgetRequest {
        session: a.session.clone(),
        project: project.clone(),
        before: a.before.clone(),
        dry_run,
    };
    let (plan, _): (ForgetResult, Value) = api.post("/v1/forget", &req(true))?;
    let total = plan.observations + plan.summaries + plan.prompts;
    if total == 0 {
        if a.out.json {
            output::json(&serde_json::to_value(&plan).unwrap_or_default());
        } else {
            say!("nothing to forget");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let what = counts(&plan);
    if !confirm(&format!("forget {what}?"), a.yes)? {
        say!("nothing forgotten");
        return Ok(ExitCode::FAILURE);
    }
    let (done, raw): (ForgetResult, Value) = api.post("/v1/forget", &req(false))?;
    if a.out.json {
        output::json(&raw);
    } else {
        say!("forgot {}", counts(&done));
    }
    Ok(ExitCode::SUCCESS)
}

fn counts(r: &ForgetResult) -> String {
    format!(
        "{} observation(s), {} summary(ies), {} prompt(s)",
        r.observations, r.summaries, r.prompts
    )
}

fn by_id(api: &Api, a: &MemForgetArgs) -> CtlResult {
    let ids = a
        .ids
        .iter()
        .map(|s| parse_id(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    let cited: Vec<String> = ids.iter().map(|&(k, id)| super::cite(k, id)).collect();
    if !confirm(&format!("forget {}?", cited.join(" ")), a.yes)? {
        say!("nothing forgotten");
        return Ok(ExitCode::FAILURE);
    }
    let mut results = Vec::new();
    let mut missing = 0;
    for (&(kind, id), c) in ids.iter().zip(&cited) {
        match api.delete::<Value>(&format!("/v1/{}/{id}", route(kind))) {
            Ok((_, raw)) => {
                if !a.out.json {
                    say!("forgot {c}");
                }
                results.push(raw);
            }
            Err(CtlError::Refused { status: 404, .. }) => {
                missing += 1;
                if !a.out.json {
                    eprintln!("claudectl: no record {c}");
                }
                results.push(json!({"deleted": false, "id": id, "record": route(kind)}));
            }
            Err(e) => return Err(e),
        }
    }
    if a.out.json {
        output::json(&Value::Array(results));
    }
    Ok(if missing == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_as_cited() {
        assert_eq!(parse_id("12"), Ok((RecordKind::Observation, 12)));
        assert_eq!(parse_id("#12"), Ok((RecordKind::Observation, 12)));
        assert_eq!(parse_id("S3"), Ok((RecordKind::Summary, 3)));
        assert_eq!(parse_id("#P7"), Ok((RecordKind::Prompt, 7)));
        for bad in ["", "#", "x1", "S", "-3", "0", "P1.5"] {
            assert!(parse_id(bad).is_err(), "{bad}");
        }
    }
}
