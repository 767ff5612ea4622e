//! This host as a NATS micro-service named `claude-supervisor` (discovery through
//! `$SRV.PING/INFO/STATS`, with the host's capacity in its stats), answering the other
//! hosts: placements, asks (events published on the asker's reply subject) and
//! interrupts.

use super::route::Claim;
use super::wire::{
    api_error, fleet_prefix, host_prefix, AskCall, CallReply, Event, HttpCall, InterruptCall,
    PlaceCall, SERVICE,
};
use super::Fleet;
use crate::handle::Command;
use crate::turn::{TurnError, TurnEvent};
use async_nats::service::{Request, ServiceExt};
use claude_daemons::api::supervisor::ApiError;
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

/// How often an owner says a long turn is still going.
pub const ALIVE_EVERY: Duration = Duration::from_secs(2);

/// Register (retrying until the broker takes it) and serve until shutdown.
pub async fn run(fleet: Arc<Fleet>, shutdown: CancellationToken) {
    let mut attempt = 0;
    loop {
        match serve(&fleet, &shutdown).await {
            Ok(()) => return,
            Err(e) => {
                attempt += 1;
                tracing::warn!("cannot register with the fleet's broker: {e}");
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(claude_daemons::nats::reconnect_delay(attempt)) => {}
        }
    }
}

type Kind =
    fn(Arc<Fleet>, Request) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

async fn serve(fleet: &Arc<Fleet>, shutdown: &CancellationToken) -> Result<(), String> {
    let f = fleet.clone();
    let metadata = HashMap::from([
        ("fleet".to_string(), fleet.name.clone()),
        ("host".to_string(), fleet.host.clone()),
        (
            "max_processes".to_string(),
            fleet.pool.max_processes().to_string(),
        ),
    ]);
    let svc = fleet
        .client
        .service_builder()
        .description("claude-supervisord: long-lived Claude Code sessions")
        .metadata(metadata)
        .stats_handler(move |_, _| serde_json::to_value(f.load()).unwrap_or_default())
        .start(SERVICE, env!("CARGO_PKG_VERSION"))
        .await
        .map_err(|e| e.to_string())?;
    let any = svc.group(fleet_prefix(&fleet.name));
    let mine = svc.group(host_prefix(&fleet.name, &fleet.host));
    let e = |e: async_nats::Error| e.to_string();
    let endpoints: Vec<(async_nats::service::endpoint::Endpoint, Kind)> = vec![
        (
            any.endpoint_builder()
                .name("place")
                .add("place")
                .await
                .map_err(e)?,
            |f, r| Box::pin(place(f, r)),
        ),
        (
            mine.endpoint_builder()
                .name("place-here")
                .add("place")
                .await
                .map_err(e)?,
            |f, r| Box::pin(place(f, r)),
        ),
        (
            mine.endpoint_builder()
                .name("ask")
                .add("ask")
                .await
                .map_err(e)?,
            |f, r| Box::pin(ask(f, r)),
        ),
        (
            mine.endpoint_builder()
                .name("interrupt")
                .add("interrupt")
                .await
                .map_err(e)?,
            |f, r| Box::pin(interrupt(f, r)),
        ),
        (
            mine.endpoint_builder()
                .name("http")
                .add("http")
                .await
                .map_err(e)?,
            |f, r| Box::pin(http(f, r)),
        ),
    ];
    tracing::info!(fleet = %fleet.name, host = %fleet.host, "registered as {SERVICE}");
    let mut tasks = tokio::task::JoinSet::new();
    for (mut ep, handler) in endpoints {
        let f = fleet.clone();
        tasks.spawn(async move {
            while let Some(req) = ep.next().await {
                tokio::spawn(handler(f.clone(), req));
            }
        });
    }
    shutdown.cancelled().await;
    tasks.abort_all();
    let _ = svc.stop().await;
    Ok(())
}

async fn reply<T: serde::Serialize>(req: &Request, body: &T) {
    let b = serde_json::to_vec(body).expect("reply serializes");
    if let Err(e) = req.respond(Ok(b.into())).await {
        tracing::debug!("fleet reply not sent: {e}");
    }
}

fn bad(what: &str, e: serde_json::Error) -> CallReply {
    CallReply::Refused(ApiError {
        error: "bad_request".into(),
        message: format!("{what}: {e}"),
    })
}

async fn place(fleet: Arc<Fleet>, req: Request) {
    match serde_json::from_slice::<PlaceCall>(&req.message.payload) {
        Ok(call) => reply(&req, &fleet.placed_here(&call.key).await).await,
        Err(e) => reply(&req, &bad("place", e)).await,
    }
}

async fn ask(fleet: Arc<Fleet>, req: Request) {
    let call: AskCall = match serde_json::from_slice(&req.message.payload) {
        Ok(c) => c,
        Err(e) => return reply(&req, &bad("ask", e)).await,
    };
    // The check before every turn: this host still holds the key.
    let refused = match fleet.claim(&call.key).await {
        Ok(Claim::Mine) => None,
        Ok(Claim::Owner(h)) => Some(ApiError {
            error: "misrouted".into(),
            message: format!("session {} is on host {h}, not {}", call.key, fleet.host),
        }),
        Ok(Claim::Full) => Some(ApiError {
            error: "misrouted".into(),
            message: format!("session {} is not placed on {}", call.key, fleet.host),
        }),
        Err(e) => Some(api_error(&e)),
    };
    if let Some(r) = refused {
        return reply(&req, &CallReply::Refused(r)).await;
    }
    let Some(runner) = fleet.runner.get().cloned() else {
        let e = TurnError::new("shutting_down", "the supervisor is not serving yet");
        return reply(&req, &CallReply::Refused(api_error(&e))).await;
    };
    match runner(call.key.clone(), call.ask, call.stream).await {
        Ok(rx) => {
            let rx = fleet.store_after_turn(&call.key, rx);
            let accepted = CallReply::Accepted {
                host: fleet.host.clone(),
            };
            reply(&req, &accepted).await;
            pump(&fleet, rx, &call.reply).await;
        }
        Err(e) => reply(&req, &CallReply::Refused(api_error(&e))).await,
    }
}

/// Publish a turn's events on the asker's reply subject, in order, until its end.
async fn pump(fleet: &Fleet, mut rx: UnboundedReceiver<TurnEvent>, to: &str) {
    let mut alive = tokio::time::interval(ALIVE_EVERY);
    alive.tick().await;
    loop {
        let (ev, last) = tokio::select! {
            ev = rx.recv() => match ev {
                Some(TurnEvent::Line(l)) => (Event::Line(l.to_string()), false),
                Some(TurnEvent::Permission(p)) => (Event::Permission(p), false),
                Some(TurnEvent::Done(Ok(mut r))) => {
                    r.host = Some(fleet.host.clone());
                    (Event::Result(Box::new(r)), true)
                }
                Some(TurnEvent::Done(Err(e))) => (Event::Error(api_error(&e)), true),
                None => (
                    Event::Error(api_error(&TurnError::new(
                        "internal",
                        "the session ended without an answer",
                    ))),
                    true,
                ),
            },
            _ = alive.tick() => (Event::Alive, false),
        };
        let body = serde_json::to_vec(&ev).expect("event serializes");
        if let Err(e) = fleet.client.publish(to.to_string(), body.into()).await {
            tracing::debug!("turn event not sent: {e}");
        }
        if last {
            let _ = fleet.client.flush().await;
            return;
        }
    }
}

async fn interrupt(fleet: Arc<Fleet>, req: Request) {
    let call: InterruptCall = match serde_json::from_slice(&req.message.payload) {
        Ok(c) => c,
        Err(e) => return reply(&req, &bad("interrupt", e)).await,
    };
    let mut interrupted = false;
    if let Some(h) = fleet.pool.get(&call.key) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if h.tx.send(Command::Interrupt(tx)).is_ok() {
            interrupted = rx.await.unwrap_or(false);
        }
    }
    reply(&req, &CallReply::Interrupted { interrupted }).await;
}

async fn http(fleet: Arc<Fleet>, req: Request) {
    let call: HttpCall = match serde_json::from_slice(&req.message.payload) {
        Ok(c) => c,
        Err(e) => return reply(&req, &bad("http", e)).await,
    };
    let Some(runner) = fleet.http.get().cloned() else {
        let e = TurnError::new("shutting_down", "the supervisor is not serving yet");
        return reply(&req, &CallReply::Refused(api_error(&e))).await;
    };
    let (status, body) = runner(call.method, call.path, call.body.into_bytes()).await;
    let body = String::from_utf8_lossy(&body).into_owned();
    reply(&req, &CallReply::Http { status, body }).await;
}
