//! claude-meshd's figures in local mode: one session's send reaching another session's event
//! stream, and how many durable sends it accepts per second — against `GET /v1/health` on
//! the same socket.

use super::measure::{Figure, Name, Plan};
use super::BenchError;
use crate::daemon_client::Api;
use claude_daemons::api::mesh::{InboxItem, PeerRegistration, SendRequest, SendResponse};
use claude_daemons::api::Health;
use serde_json::Value;
use std::time::{Duration, Instant};

const HEALTH: Name = ("meshd.health", "claude-meshd GET /v1/health");
const SENDER: &str = "bench-sender";
const RECEIVER: &str = "bench-receiver";
/// Concurrent clients of the throughput figure, and requests each makes per round.
const CLIENTS: usize = 4;
const PER_CLIENT: usize = 5;

/// Register a session as its SessionStart hook would.
pub fn register(meshd: &Api, session: &str, name: &str) -> Result<(), BenchError> {
    let reg = PeerRegistration {
        session_id: session.into(),
        name: Some(name.into()),
        cwd: None,
        hostname: None,
        pid: Some(std::process::id()),
        groups: Vec::new(),
        topics: Vec::new(),
        extra: Default::default(),
    };
    let _: (Value, Value) = meshd.post("/v1/peers", &reg)?;
    Ok(())
}

fn send(to: &str, body: String, id: String) -> SendRequest {
    SendRequest {
        to: to.into(),
        body,
        client_message_id: Some(id),
        priority: None,
        reply_to: None,
        meta: None,
        from_session: Some(SENDER.into()),
        extra: Default::default(),
    }
}

fn health(meshd: &Api) -> Result<Duration, BenchError> {
    let t = Instant::now();
    let _: (Health, Value) = meshd.get("/v1/health")?;
    Ok(t.elapsed())
}

/// The mesh figures.
pub fn figures(plan: &Plan, meshd: &Api) -> Result<Vec<Figure>, BenchError> {
    register(meshd, SENDER, "bench-a")?;
    register(meshd, RECEIVER, "bench-b")?;
    let mut out = Vec::new();

    let path = format!("/v1/events?session={RECEIVER}");
    let mut events = meshd.stream("GET", &path, &[], None, Some(Duration::from_secs(10)))?;
    let delivery = plan.pair(
        "mesh: send -> event",
        |_| health(meshd),
        |i| {
            let body = format!("bench message {i}");
            let req = send("bench-b", body.clone(), format!("bench-latency-{i}"));
            let t = Instant::now();
            let _: (SendResponse, Value) = meshd.post("/v1/send", &req)?;
            loop {
                let ev = events
                    .next_event()
                    .map_err(|e| meshd.transport(e))?
                    .ok_or_else(|| anyhow::anyhow!("claude-meshd ended the event stream"))?;
                if ev.event != "message" {
                    continue;
                }
                let item: InboxItem =
                    serde_json::from_str(&ev.data).map_err(|e| meshd.bad_answer(e))?;
                if item.body == body {
                    return Ok(t.elapsed());
                }
            }
        },
    )?;
    drop(events);
    out.push(Figure::latency(
        ("mesh.delivery", "send -> receiving session's SSE event"),
        HEALTH,
        delivery,
    ));

    // Each client makes PER_CLIENT requests; a round is done when all are.
    let round = |op: &(dyn Fn(usize, usize) -> Result<(), BenchError> + Sync)| {
        let t = Instant::now();
        std::thread::scope(|s| {
            let clients: Vec<_> = (0..CLIENTS)
                .map(|c| s.spawn(move || (0..PER_CLIENT).try_for_each(|k| op(c, k))))
                .collect();
            clients
                .into_iter()
                .try_for_each(|c| c.join().expect("a client thread panicked"))
        })?;
        Ok(t.elapsed())
    };
    let sends = plan.pair(
        "mesh: sends per second",
        |_| round(&|_, _| health(meshd).map(drop)),
        |i| {
            round(&|c, k| {
                let req = send(RECEIVER, "x".into(), format!("bench-rate-{i}-{c}-{k}"));
                let _: (SendResponse, Value) = meshd.post("/v1/send", &req)?;
                Ok(())
            })
        },
    )?;
    out.push(Figure::rate(
        ("mesh.sends", "durable sends accepted, 4 clients"),
        HEALTH,
        CLIENTS * PER_CLIENT,
        sends,
    ));
    Ok(out)
}
