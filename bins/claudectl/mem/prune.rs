//! `claudectl mem prune`: count what is old (a dry run), then delete it in batches, each one
//! transaction in claude-memd, with a bar over the rows; the last batch returns the space.
//! Ctrl-C between batches leaves a consistent database; running it again finishes the job.

use crate::cli::MemPruneArgs;
use crate::daemon_client::{Api, CtlResult};
use crate::output;
use crate::output::say;
use crate::progress;
use claude_daemons::api::memory::{PruneRequest, PruneResult};
use std::process::ExitCode;
use std::time::Duration;

/// Run `claudectl mem prune`.
pub fn run(api: Api, a: MemPruneArgs) -> CtlResult {
    // The last batch also runs the incremental vacuum, which can take a while on a big file.
    let api = api.timeout(Duration::from_secs(600));
    let ask = |limit: Option<u32>, dry_run: bool| {
        api.post::<PruneResult>(
            "/v1/prune",
            &PruneRequest {
                older_than_days: a.older_than_days,
                limit,
                dry_run,
            },
        )
        .map(|(r, _)| r)
    };
    let planned = ask(None, true)?;
    if a.dry_run {
        print(&planned, a.out.json, 0);
        return Ok(ExitCode::SUCCESS);
    }
    let bar = progress::rows(planned.remaining as u64, "pruning", a.out.json);
    let mut total = PruneResult::default();
    let mut batches = 0;
    loop {
        let r = ask(Some(a.batch), false)?;
        batches += 1;
        add(&mut total, &r);
        // Rows that aged past the cutoff while we worked make the job longer, not wrong.
        bar.set_length(total.rows() as u64 + r.remaining as u64);
        bar.set_position(total.rows() as u64);
        if r.remaining == 0 {
            break;
        }
        if r.rows() == 0 {
            bar.abandon();
            return Err(anyhow::anyhow!(
                "claude-memd deleted nothing but reports {} rows left; stopping",
                r.remaining
            )
            .into());
        }
    }
    bar.finish_and_clear();
    print(&total, a.out.json, batches);
    Ok(ExitCode::SUCCESS)
}

fn add(total: &mut PruneResult, r: &PruneResult) {
    total.observations += r.observations;
    total.summaries += r.summaries;
    total.prompts += r.prompts;
    total.events += r.events;
    total.sessions += r.sessions;
    total.freed_pages += r.freed_pages;
    total.remaining = r.remaining;
}

fn print(r: &PruneResult, json: bool, batches: usize) {
    if json {
        let mut v = serde_json::to_value(r).expect("a PruneResult serializes");
        v["batches"] = batches.into();
        output::json(&v);
        return;
    }
    let verb = if r.dry_run { "would delete" } else { "deleted" };
    say!(
        "{verb} {} observations, {} summaries, {} prompts, {} events, {} sessions{}",
        r.observations,
        r.summaries,
        r.prompts,
        r.events,
        r.sessions,
        if r.dry_run {
            String::new()
        } else {
            format!("; freed {} pages in {batches} batches", r.freed_pages)
        }
    );
}
