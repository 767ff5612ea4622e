//! The figures Claude Code users feel: the whole `claude-hook` process (start, read stdin,
//! both daemons, exit) for a PostToolUse event — every tool call — and for SessionStart —
//! every new session, with its memory context — against starting a trivial program (`true`)
//! the same way in the same run, the floor of any hook command.

use super::measure::{Figure, Plan};
use super::memory::{hook_input, intake_counts, post_tool_use};
use super::mesh::register;
use super::scratch::Scratch;
use super::BenchError;
use crate::daemon_client::Api;
use claude_daemons::claude::HookInput;
use claude_daemons::paths::Daemon;
use serde_json::Value;
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

/// The hook figures; claude-memd and claude-meshd must be running in `scratch`.
pub fn figures(
    plan: &Plan,
    scratch: &Scratch,
    hook: &Path,
    memd: &Api,
) -> Result<Vec<Figure>, BenchError> {
    let project = scratch.project();
    let meshd = scratch.api(Daemon::Meshd);
    let run = Runner {
        plan,
        scratch,
        hook,
        memd,
        truth: trivial_program()?,
    };
    // A tool call comes from a session that started: unknown to claude-meshd, every call
    // would be refused there (and logged to the user's journal by claude-hook).
    register(&meshd, "bench-hook", "bench-hook")?;
    let post = run.rounds(
        "hook: PostToolUse process",
        |i| post_tool_use("bench-hook", &project, i),
        |_| Ok(()),
    )?;
    // A few sessions that start and end in turn: claude-meshd keeps every session it has
    // seen, and a new id per round would measure a growing table instead of a start.
    let session = |i| format!("bench-hook-start-{}", i % 8);
    let start = run.rounds(
        "hook: SessionStart process",
        |i| HookInput {
            source: Some("startup".into()),
            ..hook_input("SessionStart", &session(i), &project)
        },
        // ... and ends (SessionEnd), so the next round starts it again.
        |i| {
            let _: (Value, Value) = meshd.delete(&format!("/v1/peers/{}", session(i)))?;
            Ok(())
        },
    )?;
    let truth = ("spawn.true", "start and wait for `true`");
    Ok(vec![
        Figure::latency(
            (
                "hook.post_tool_use",
                "claude-hook PostToolUse, whole process",
            ),
            truth,
            post,
        ),
        Figure::latency(
            (
                "hook.session_start",
                "claude-hook SessionStart, whole process",
            ),
            truth,
            start,
        ),
    ])
}

struct Runner<'a> {
    plan: &'a Plan,
    scratch: &'a Scratch,
    hook: &'a Path,
    memd: &'a Api,
    truth: PathBuf,
}

impl Runner<'_> {
    /// claude-hook fed `input(i)`, interleaved with `true`; `after(i)` runs untimed.
    fn rounds(
        &self,
        title: &str,
        input: impl Fn(usize) -> HookInput,
        after: impl Fn(usize) -> Result<(), BenchError>,
    ) -> Result<(Vec<Duration>, Vec<Duration>), BenchError> {
        let (stored_before, _) = intake_counts(self.memd)?;
        let rounds = self.plan.pair(
            title,
            |_| run_once(Command::new(&self.truth), b"{}"),
            |i| {
                let payload = serde_json::to_vec(&input(i)).map_err(anyhow::Error::from)?;
                let took = run_once(self.scratch.command(self.hook), &payload)?;
                after(i)?;
                Ok(took)
            },
        )?;
        // claude-hook exits 0 whatever happens (it must never fail a session): make sure the
        // events really reached the daemon, or the figure would time a hook talking to nobody.
        let (stored_after, _) = intake_counts(self.memd)?;
        let calls = (self.plan.warmup + self.plan.iterations) as u64;
        if stored_after < stored_before + calls {
            return Err(anyhow::anyhow!(
                "claude-memd stored {} of {calls} events claude-hook was given; is {} the claude-hook of this claude-memd?",
                stored_after.saturating_sub(stored_before),
                self.hook.display()
            )
            .into());
        }
        Ok(rounds)
    }
}
