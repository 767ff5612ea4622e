//! The figure Claude Code users feel on every tool call: the whole `claude-hook` process for
//! a PostToolUse event (start, read stdin, both daemons, exit) — against starting a trivial
//! program (`true`) the same way in the same run, the floor of any hook command.

use super::measure::{Figure, Plan};
use super::memory::{intake_counts, post_tool_use};
use super::scratch::Scratch;
use super::BenchError;
use crate::daemon_client::Api;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `true(1)`, wherever this system keeps it.
fn trivial_program() -> Result<PathBuf, BenchError> {
    ["/bin/true", "/usr/bin/true"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| anyhow::anyhow!("no /bin/true or /usr/bin/true to compare with").into())
}

/// Start `cmd`, give it `stdin`, wait for it: how long that took. It must exit 0.
fn run_once(mut cmd: Command, stdin: &[u8]) -> Result<Duration, BenchError> {
    let program = PathBuf::from(cmd.get_program());
    let t = Instant::now();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot start {}: {e}", program.display()))?;
    // `true` may exit before reading: a broken pipe is its right.
    let _ = child.stdin.take().expect("piped").write_all(stdin);
    let status = child
        .wait()
        .map_err(|e| anyhow::anyhow!("waiting for {}: {e}", program.display()))?;
    let took = t.elapsed();
    if !status.success() {
        return Err(anyhow::anyhow!("{} exited with {status}", program.display()).into());
    }
    Ok(took)
}

/// The hook figure; claude-memd and claude-meshd must be running in `scratch`.
pub fn figures(
    plan: &Plan,
    scratch: &Scratch,
    hook: &Path,
    memd: &Api,
) -> Result<Vec<Figure>, BenchError> {
    let truth = trivial_program()?;
    let project = scratch.project();
    let (stored_before, _) = intake_counts(memd)?;
    let rounds = plan.pair(
        "hook: claude-hook PostToolUse",
        |_| run_once(Command::new(&truth), b"{}"),
        |i| {
            let payload = serde_json::to_vec(&post_tool_use("bench-hook", &project, i))
                .map_err(anyhow::Error::from)?;
            run_once(scratch.command(hook), &payload)
        },
    )?;
    // claude-hook exits 0 whatever happens (it must never fail a session): make sure the
    // events really reached the daemon, or the figure would time a hook talking to nobody.
    let (stored_after, _) = intake_counts(memd)?;
    let calls = (plan.warmup + plan.iterations) as u64;
    if stored_after < stored_before + calls {
        return Err(anyhow::anyhow!(
            "claude-memd stored {} of {calls} events claude-hook was given; is {} the claude-hook of this claude-memd?",
            stored_after.saturating_sub(stored_before),
            hook.display()
        )
        .into());
    }
    Ok(vec![Figure::latency(
        (
            "hook.post_tool_use",
            "claude-hook PostToolUse, whole process",
        ),
        ("spawn.true", "start and wait for `true`"),
        rounds,
    )])
}
