//! claude-memd's figures: hook intake (the durable commit every tool call waits for),
//! search over a few hundred observations, and the SessionStart context — each against a
//! `GET /v1/health` round trip on the same socket.

use super::measure::{Figure, Name, Plan};
use super::BenchError;
use crate::daemon_client::{query, Api};
use claude_daemons::api::memory::{HookAck, SearchQuery, SearchResults};
use claude_daemons::api::Health;
use claude_daemons::claude::HookInput;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

/// The baseline of every memory figure.
pub const HEALTH: Name = ("memd.health", "claude-memd GET /v1/health");

/// Observations seeded before searching.
const SEEDED: usize = 300;
/// Words the seeded observations are made of: a search for one finds a handful.
const VOCABULARY: usize = 60;

/// A made-up word, the same on every machine.
fn word(i: usize) -> String {
    const SYL: [&str; 8] = ["ka", "lo", "mi", "ne", "su", "ta", "ri", "po"];
    format!("{}{}{}", SYL[i % 8], SYL[(i / 8) % 8], SYL[(i / 64) % 8])
}

/// A hook payload as Claude Code writes it.
pub fn hook_input(event: &str, session: &str, project: &Path) -> HookInput {
    let cwd = project.display().to_string();
    HookInput {
        session_id: session.into(),
        hook_event_name: event.into(),
        transcript_path: None,
        permission_mode: Some("default".into()),
        cwd,
        source: None,
        prompt: None,
        tool_name: None,
        tool_input: None,
        tool_response: None,
        tool_use_id: None,
        stop_hook_active: None,
        last_assistant_message: None,
        agent_id: None,
        trigger: None,
        custom_instructions: None,
        reason: None,
        extra: Default::default(),
    }
}

/// PostToolUse of a `Read` of a 40-line file: the most common hook call.
pub fn post_tool_use(session: &str, project: &Path, i: usize) -> HookInput {
    let file = project.join(format!("src/{}.rs", word(i % VOCABULARY)));
    let content = "    let x = compute(y);\n".repeat(40);
    HookInput {
        tool_name: Some("Read".into()),
        tool_use_id: Some(format!("toolu_bench_{session}_{i}")),
        tool_input: Some(json!({ "file_path": file })),
        tool_response: Some(
            json!({"type": "text", "file": {"filePath": file, "content": content,
            "numLines": 40, "startLine": 1, "totalLines": 40}}),
        ),
        ..hook_input("PostToolUse", session, project)
    }
}

/// An `Edit` whose words come from [`VOCABULARY`] (what the seeded observations say).
fn edit(project: &Path, i: usize) -> HookInput {
    let w = |k: usize| word((i * 7 + k * 13) % VOCABULARY);
    let file = project.join(format!("src/{}/{}.rs", w(0), w(1)));
    HookInput {
        tool_name: Some("Edit".into()),
        tool_use_id: Some(format!("toolu_seed_{i}")),
        tool_input: Some(
            json!({"file_path": file, "old_string": format!("fn {}() {{}}", w(2)),
            "new_string": format!("fn {}() -> u32 {{ 1 }}", w(3))}),
        ),
        tool_response: Some(json!({"filePath": file})),
        ..hook_input("PostToolUse", "bench-seed", project)
    }
}

/// `/v1/health`'s intake counters: (stored, processed + failed).
pub fn intake_counts(memd: &Api) -> Result<(u64, u64), BenchError> {
    let (h, _): (Health, Value) = memd.get("/v1/health")?;
    let n = |k: &str| h.details["queue"][k].as_u64().unwrap_or(0);
    Ok((n("stored"), n("processed") + n("failed")))
}

/// Store [`SEEDED`] edits (four clients at once) and wait until they are observations.
fn seed(plan: &Plan, memd: &Api, project: &Path) -> Result<(), BenchError> {
    let _spinner = plan.spinner(&format!("memory: seeding {SEEDED} observations"));
    std::thread::scope(|s| {
        let clients: Vec<_> = (0..4)
            .map(|c| {
                s.spawn(move || -> Result<(), BenchError> {
                    for i in (c..SEEDED).step_by(4) {
                        let _: (HookAck, Value) = memd.post("/v1/hook", &edit(project, i))?;
                    }
                    Ok(())
                })
            })
            .collect();
        clients
            .into_iter()
            .try_for_each(|c| c.join().expect("a seeding thread panicked"))
    })?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        super::check_interrupt()?;
        let (stored, done) = intake_counts(memd)?;
        if done >= stored {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(anyhow::anyhow!(
                "claude-memd processed {done} of {stored} seeded events in 120 s"
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A timed call: the answer and how long it took.
fn timed<T>(call: impl FnOnce() -> Result<T, BenchError>) -> Result<(T, Duration), BenchError> {
    let t = Instant::now();
    let v = call()?;
    Ok((v, t.elapsed()))
}

/// The memory figures.
pub fn figures(plan: &Plan, memd: &Api, project: &Path) -> Result<Vec<Figure>, BenchError> {
    let health = |_| -> Result<Duration, BenchError> {
        Ok(timed(|| Ok(memd.get::<Health>("/v1/health")?))?.1)
    };
    seed(plan, memd, project)?;
    let mut out = Vec::new();

    let project_key = project.display().to_string();
    let mut hits = 0;
    let search = plan.pair("memory: search", health, |i| {
        let q = SearchQuery {
            q: word(i % VOCABULARY),
            project: Some(project_key.clone()),
            limit: Some(20),
            ..SearchQuery::default()
        };
        let path = format!("/v1/search{}", query(&q)?);
        let ((r, _), t) = timed(|| Ok(memd.get::<SearchResults>(&path)?))?;
        hits += r.results.len();
        Ok(t)
    })?;
    if hits == 0 {
        return Err(anyhow::anyhow!(
            "no search found any of the {SEEDED} seeded observations; is claude-memd's provider `local`?"
        )
        .into());
    }
    out.push(Figure::latency(
        (
            "memory.search",
            "GET /v1/search, one word, 300 observations",
        ),
        HEALTH,
        search,
    ));

    let mut empty = 0;
    let context = plan.pair("memory: SessionStart context", health, |i| {
        let input = HookInput {
            source: Some("startup".into()),
            ..hook_input("SessionStart", &format!("bench-start-{i}"), project)
        };
        let ((ack, _), t) = timed(|| Ok(memd.post::<HookAck>("/v1/hook", &input)?))?;
        empty += usize::from(ack.context.is_none_or(|c| c.is_empty()));
        Ok(t)
    })?;
    if empty > 0 {
        return Err(anyhow::anyhow!(
            "{empty} SessionStart answers carried no context although the project has observations"
        )
        .into());
    }
    out.push(Figure::latency(
        (
            "memory.context",
            "POST /v1/hook SessionStart (with context)",
        ),
        HEALTH,
        context,
    ));

    let intake = plan.pair("memory: hook intake", health, |i| {
        let input = post_tool_use("bench-intake", project, i);
        Ok(timed(|| Ok(memd.post::<HookAck>("/v1/hook", &input)?))?.1)
    })?;
    out.push(Figure::latency(
        (
            "memory.intake",
            "POST /v1/hook PostToolUse (durable commit)",
        ),
        HEALTH,
        intake,
    ));
    Ok(out)
}
