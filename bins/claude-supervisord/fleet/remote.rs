//! Asks and interrupts for a session another host holds: the ask goes to the owner's
//! `ask` endpoint with a fresh reply subject, and the events that come back on it become
//! the same [`TurnEvent`]s a local session sends, so the HTTP answer (JSON or SSE) is
//! made the same way.

use super::service::ALIVE_EVERY;
use super::wire::{host_prefix, turn_error, AskCall, CallReply, Event, HttpCall, InterruptCall};
use super::{unavailable, Fleet};
use crate::turn::{TurnError, TurnEvent};
use futures::StreamExt;
use std::time::Duration;
use tokio::sync::mpsc::{self, UnboundedReceiver};

/// How long the owner has to accept or refuse a call.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The owner is gone when it says nothing (not even "alive") for this long.
const SILENCE: Duration = Duration::from_secs(ALIVE_EVERY.as_secs() * 15);

impl Fleet {
    async fn call<T: serde::Serialize>(
        &self,
        host: &str,
        what: &str,
        body: &T,
    ) -> Result<CallReply, TurnError> {
        let subject = format!("{}.{what}", host_prefix(&self.name, host));
        let b = serde_json::to_vec(body).expect("call serializes");
        let msg = tokio::time::timeout(CALL_TIMEOUT, self.client.request(subject, b.into()))
            .await
            .map_err(|_| unavailable(format!("host {host} did not answer within 10 s")))?
            .map_err(|e| unavailable(format!("host {host}: {e}")))?;
        serde_json::from_slice(&msg.payload)
            .map_err(|e| TurnError::new("internal", format!("host {host} answered: {e}")))
    }

    /// Run a turn of `key` on `host`; its events arrive on the receiver. An error with code
    /// `misrouted` means `host` does not hold the key (route again).
    pub async fn forward_ask(
        &self,
        host: &str,
        key: &str,
        ask: serde_json::Value,
        stream: bool,
    ) -> Result<UnboundedReceiver<TurnEvent>, TurnError> {
        let inbox = self.client.new_inbox();
        let mut sub = self
            .client
            .subscribe(inbox.clone())
            .await
            .map_err(unavailable)?;
        let call = AskCall {
            key: key.into(),
            ask,
            stream,
            reply: inbox,
        };
        match self.call(host, "ask", &call).await? {
            CallReply::Accepted { .. } => {}
            CallReply::Refused(e) if e.error == "misrouted" => {
                return Err(TurnError::new("misrouted", e.message))
            }
            CallReply::Refused(e) => return Err(turn_error(e)),
            CallReply::Interrupted { .. } | CallReply::Http { .. } => {
                return Err(TurnError::new("internal", "host answered out of turn"))
            }
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let host = host.to_string();
        tokio::spawn(async move {
            loop {
                let done = match tokio::time::timeout(SILENCE, sub.next()).await {
                    Err(_) => Some(Err(TurnError::new(
                        "child_exited",
                        format!(
                            "host {host} stopped answering during the turn (silent for {} s)",
                            SILENCE.as_secs()
                        ),
                    ))),
                    Ok(None) => Some(Err(unavailable("the connection closed during the turn"))),
                    Ok(Some(msg)) => match serde_json::from_slice::<Event>(&msg.payload) {
                        Ok(Event::Line(l)) => {
                            let _ = tx.send(TurnEvent::Line(l.into()));
                            None
                        }
                        Ok(Event::Permission(p)) => {
                            let _ = tx.send(TurnEvent::Permission(p));
                            None
                        }
                        Ok(Event::Alive) => None,
                        Ok(Event::Result(r)) => Some(Ok(*r)),
                        Ok(Event::Error(e)) => Some(Err(turn_error(e))),
                        Err(e) => {
                            tracing::warn!(%host, "bad turn event: {e}");
                            None
                        }
                    },
                };
                if let Some(d) = done {
                    let _ = tx.send(TurnEvent::Done(d));
                    return;
                }
            }
        });
        Ok(rx)
    }

    /// Interrupt the turn in flight of `key` on `host`.
    pub async fn forward_interrupt(&self, host: &str, key: &str) -> Result<bool, TurnError> {
        let call = InterruptCall { key: key.into() };
        match self.call(host, "interrupt", &call).await? {
            CallReply::Interrupted { interrupted } => Ok(interrupted),
            CallReply::Refused(e) => Err(turn_error(e)),
            _ => Err(TurnError::new("internal", "host answered out of turn")),
        }
    }

    /// Have `host` answer an API request about a session it holds.
    pub async fn forward_http(
        &self,
        host: &str,
        method: String,
        path: String,
        body: Vec<u8>,
    ) -> Result<(u16, Vec<u8>), TurnError> {
        let call = HttpCall {
            method,
            path,
            body: String::from_utf8(body)
                .map_err(|_| TurnError::new("bad_request", "the body is not UTF-8"))?,
        };
        match self.call(host, "http", &call).await? {
            CallReply::Http { status, body } => Ok((status, body.into_bytes())),
            CallReply::Refused(e) => Err(turn_error(e)),
            _ => Err(TurnError::new("internal", "host answered out of turn")),
        }
    }
}
