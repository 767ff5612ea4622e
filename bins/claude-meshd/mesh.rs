//! The daemon's state and the operations routes and background tasks share: accept a send,
//! deliver locally, record and publish events.

use crate::address;
use crate::broker::{Broker, StatusEvents};
use crate::events::{self, Event, Events};
use crate::fingerprint::{self, Parts};
use crate::identity::Identity;
use crate::inbox::{self, Incoming};
use crate::outbox::{self, Accepted, NewSend};
use crate::peers::{Peers, ResolveError};
use claude_daemons::api::mesh::{
    ErrorBody, Peer, Priority, SendRequest, SendResponse, MAX_BODY_BYTES, MAX_REQUEST_BYTES,
};
use claude_daemons::daemon::Context;
use claude_daemons::store::Db;
use rusqlite::TransactionBehavior;
use serde_json::{json, Map, Value};
use std::sync::{Arc, OnceLock};
use tokio::sync::Notify;

/// Largest `meta` (as JSON text).
const MAX_META_BYTES: usize = 16 * 1024;

/// Everything the daemon holds.
pub struct Mesh {
    /// mesh.db.
    pub db: Db,
    /// The member key.
    pub identity: Arc<Identity>,
    /// Mesh name.
    pub mesh: String,
    /// This member's display name.
    pub display_name: String,
    /// Sessions and presence.
    pub peers: Peers,
    /// Live event fan-out.
    pub events: Events,
    /// Wakes the drain after an accept.
    pub wake: Notify,
    /// The broker connection (broker mode only), set once at start.
    pub broker: OnceLock<Arc<Broker>>,
    /// Presence changes to announce on the broker (broker mode only).
    pub presence_tx: OnceLock<tokio::sync::mpsc::UnboundedSender<Peer>>,
    /// Sessions with a channel (`claudectl mcp` pushing) connected.
    pub channels: crate::channels::Channels,
    /// Broker messages refused since start (forged, tampered, too old, out of bounds).
    pub rejected: std::sync::atomic::AtomicU64,
    /// Runtime context (activity, shutdown, config).
    pub ctx: Context,
}

/// A refused request: status and body.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Body (boxed: its flattened extra fields are large, and errors are rare, so every
    /// `Result` on the send path stays small).
    pub body: Box<ErrorBody>,
}

impl ApiError {
    /// A refusal with no extra fields.
    pub fn new(status: u16, error: &str, reason: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: Box::new(ErrorBody {
                error: error.into(),
                reason: reason.into(),
                extra: Map::new(),
            }),
        }
    }

    /// Add a field.
    pub fn with(mut self, k: &str, v: impl Into<Value>) -> ApiError {
        self.body.extra.insert(k.into(), v.into());
        self
    }

    /// A database failure (500, logged).
    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %e, "database error");
        ApiError::new(500, "internal", e.to_string())
    }
}

pub use claude_daemons::mesh::fields::valid_client_id;

impl Mesh {
    /// Whether a broker is configured.
    pub fn broker_mode(&self) -> bool {
        self.ctx.config.mesh.broker_url.is_some()
    }

    /// Validate, resolve and fingerprint a raw send request: everything that can refuse it
    /// without touching the outbox.
    pub fn prepare(&self, header_id: Option<&str>, raw: &[u8]) -> Result<NewSend, ApiError> {
        let req: SendRequest = bounded_json(raw, MAX_REQUEST_BYTES, "request", "send")?;
        self.prepare_request(header_id, req)
    }

    /// Validate, resolve and fingerprint one parsed send request.
    pub fn prepare_request(
        &self,
        header_id: Option<&str>,
        req: SendRequest,
    ) -> Result<NewSend, ApiError> {
        if req.body.len() > MAX_BODY_BYTES {
            return Err(ApiError::new(
                413,
                "body_too_large",
                format!(
                    "body is {} bytes; the limit is {MAX_BODY_BYTES}",
                    req.body.len()
                ),
            ));
        }
        if req.body.is_empty() {
            return Err(ApiError::new(400, "empty_body", "body must not be empty"));
        }
        let client_message_id = match header_id.or(req.client_message_id.as_deref()) {
            Some(id) if valid_client_id(id) => id.to_string(),
            Some(id) => {
                return Err(ApiError::new(
                    400,
                    "invalid_client_message_id",
                    format!("client_message_id {id:?} must be 1 to 128 of A-Z a-z 0-9 - _ . :"),
                ))
            }
            None => ulid::Ulid::new().to_string(),
        };
        if let Some(r) = &req.reply_to {
            if !valid_client_id(r) {
                return Err(ApiError::new(
                    400,
                    "invalid_reply_to",
                    "reply_to is not a client_message_id",
                ));
            }
        }
        if let Some(s) = &req.from_session {
            if self.peers.local(s).is_none() {
                return Err(ApiError::new(
                    400,
                    "unknown_session",
                    format!("from_session {s:?} is not registered (POST /v1/peers first)"),
                ));
            }
        }
        let meta_jcs = match &req.meta {
            None | Some(Value::Null) => None,
            Some(m) => {
                let c = fingerprint::canonical_meta(m)
                    .map_err(|e| ApiError::new(400, "invalid_meta", e))?;
                if c.len() > MAX_META_BYTES {
                    return Err(ApiError::new(
                        413,
                        "meta_too_large",
                        format!("meta is over {MAX_META_BYTES} bytes"),
                    ));
                }
                Some(c)
            }
        };
        let addr = address::parse(&req.to)
            .map_err(|e| ApiError::new(400, "invalid_destination", e.to_string()))?;
        let resolved = self.peers.resolve(&addr).map_err(|e| match e {
            ResolveError::Unknown(_) => ApiError::new(404, "unknown_destination", e.to_string()),
            ResolveError::Ambiguous(_, ref c) | ResolveError::Contested(_, _, ref c) => {
                let c = c.clone();
                ApiError::new(409, "ambiguous_destination", e.to_string()).with("candidates", c)
            }
            ResolveError::NotMember(_) => ApiError::new(403, "not_a_member", e.to_string()),
        })?;
        let priority = req.priority.unwrap_or_default();
        let canonical = resolved.canonical();
        let fp = fingerprint::compute(&Parts {
            mesh: &self.mesh,
            kind: resolved.kind(),
            dest: &canonical,
            from_session: req.from_session.as_deref(),
            priority: priority.as_str(),
            reply_to: req.reply_to.as_deref(),
            meta_jcs: meta_jcs.as_deref(),
            body: &req.body,
        });
        Ok(NewSend {
            client_message_id,
            fingerprint: fp,
            from_session: req.from_session,
            to_text: req.to,
            resolved,
            priority,
            reply_to: req.reply_to,
            meta: meta_jcs,
            body: req.body,
        })
    }

    /// Apply the idempotency table and answer as the reference says.
    pub async fn send(self: &Arc<Self>, s: NewSend) -> Result<(u16, SendResponse), ApiError> {
        self.send_all(vec![s]).await?.remove(0)
    }

    /// Apply the idempotency table to each send in order, in one transaction; one answer per
    /// send, as a single send of it would have had. `Err` only when the transaction failed
    /// (nothing stored).
    pub async fn send_all(
        self: &Arc<Self>,
        sends: Vec<NewSend>,
    ) -> Result<Vec<Result<(u16, SendResponse), ApiError>>, ApiError> {
        let cmids: Vec<String> = sends.iter().map(|s| s.client_message_id.clone()).collect();
        let outcomes = self
            .db
            .call(move |c| outbox::accept_all(c, &sends))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?;
        if outcomes
            .iter()
            .any(|o| matches!(o, Accepted::Queued { .. }))
        {
            self.wake.notify_one();
        }
        Ok(cmids
            .into_iter()
            .zip(outcomes)
            .map(|(cmid, o)| answer(cmid, o))
            .collect())
    }

    /// The name a sending session (or the member) shows.
    pub fn sender_name(&self, session: Option<&str>) -> String {
        session
            .and_then(|s| self.peers.local(s))
            .map_or_else(|| self.display_name.clone(), |p| p.name)
    }

    /// Local mode: move due outbox rows into the inbox, one transaction per batch. Returns
    /// how many rows were delivered.
    pub async fn deliver_local(self: &Arc<Self>) -> Result<usize, String> {
        let me = self.clone();
        let (n, evs) = self
            .db
            .call(move |c| -> rusqlite::Result<(usize, Vec<Event>)> {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let rows = outbox::due(&tx, 256)?;
                let mut evs = Vec::new();
                for r in &rows {
                    let m = Incoming {
                        from_key: me.identity.public_hex().into(),
                        from_name: me.sender_name(r.from_session.as_deref()),
                        from_session: r.from_session.clone(),
                        client_message_id: r.client_message_id.clone(),
                        broker_message_id: None,
                        kind: r.resolved.kind().into(),
                        to: r.resolved.canonical(),
                        body: r.body.clone(),
                        priority: r.priority,
                        reply_to: r.reply_to.clone(),
                        meta: r.meta.clone(),
                        created_at: r.created_at.clone(),
                    };
                    let (id, new) = inbox::insert(&tx, &m)?;
                    if new {
                        evs.push(message_event(&tx, id, &m)?);
                    }
                    outbox::mark_done(&tx, r.id, Some(id))?;
                }
                tx.commit()?;
                Ok((rows.len(), evs))
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        self.events.publish(evs);
        Ok(n)
    }

    /// Record and publish a non-message event.
    pub async fn emit(&self, kind: &'static str, data: Value) {
        let r = self.db.call(move |c| events::record(c, kind, data)).await;
        match r {
            Ok(Ok(e)) => self.events.publish([e]),
            Ok(Err(e)) => tracing::warn!(error = %e, kind, "cannot record event"),
            Err(e) => tracing::warn!(error = %e, kind, "cannot record event"),
        }
    }

    /// Turn the broker's connection changes into `broker_status` events (and wake the drain
    /// on a connect), until the broker is dropped.
    pub async fn broker_status(self: Arc<Self>, url: String, mut changes: StatusEvents) {
        while let Some((state, detail)) = changes.recv().await {
            tracing::info!(broker = %url, %state, %detail, "broker status");
            self.emit(
                "broker_status",
                json!({"state": state, "detail": detail, "url": url}),
            )
            .await;
            if state == "connected" {
                self.wake.notify_one();
            }
        }
    }

    /// Tell the broker's presence bucket about a local session's change.
    pub fn presence_changed(&self, p: &Peer) {
        if let Some(tx) = self.presence_tx.get() {
            let _ = tx.send(p.clone());
        }
    }

    /// A session's status changed: presence, and a `system` event (SSE streams release the
    /// messages they held while it was busy).
    pub async fn status_changed(&self, p: &Peer) {
        self.presence_changed(p);
        self.emit(
            "system",
            json!({"type": "status", "session_id": p.session_id, "status": p.profile.status}),
        )
        .await;
    }

    /// `peer_join` / `peer_leave` for `p`.
    pub async fn emit_peer(&self, kind: &'static str, p: &Peer) {
        self.emit(
            kind,
            json!({"key": p.key, "session_id": p.session_id, "name": p.name, "local": p.local}),
        )
        .await;
    }
}

/// The answer the reference gives for one outcome of the idempotency table.
/// A send body of at most `limit` bytes, parsed: 413 over the limit, 400 when it is not UTF-8
/// JSON of the expected shape. `what` names the body in the errors ("request", "batch").
pub fn bounded_json<T: serde::de::DeserializeOwned>(
    raw: &[u8],
    limit: usize,
    what: &str,
    shape: &str,
) -> Result<T, ApiError> {
    if raw.len() > limit {
        return Err(ApiError::new(
            413,
            "request_too_large",
            format!("{what} is {} bytes; the limit is {limit}", raw.len()),
        ));
    }
    let text = std::str::from_utf8(raw).map_err(|e| {
        ApiError::new(
            400,
            "invalid_utf8",
            format!("request body is not UTF-8: {e}"),
        )
    })?;
    serde_json::from_str(text)
        .map_err(|e| ApiError::new(400, "invalid_body", format!("bad {shape} body: {e}")))
}

fn answer(cmid: String, outcome: Accepted) -> Result<(u16, SendResponse), ApiError> {
    let resp = |status: &str, duplicate, broker_message_id, history_id| SendResponse {
        status: status.into(),
        client_message_id: cmid.clone(),
        duplicate,
        broker_message_id,
        history_id: Some(history_id),
    };
    match outcome {
        Accepted::Queued { id } => Ok((202, resp("queued", false, None, id))),
        Accepted::Again { status, id } => Ok((202, resp(status, true, None, id))),
        Accepted::Done {
            id,
            broker_message_id,
        } => Ok((200, resp("done", true, broker_message_id, id))),
        Accepted::Conflict {
            error,
            fingerprint,
            broker_message_id,
            dead_reason,
        } => {
            let mut reason = format!(
                "client_message_id {cmid} was used for {} (stored fingerprint {fingerprint})",
                if error.ends_with("_match") {
                    "this same request, which can no longer be sent"
                } else {
                    "a different request"
                }
            );
            if let Some(d) = &dead_reason {
                reason.push_str(&format!("; it is dead: {d}"));
            }
            let mut e = ApiError::new(409, error, reason)
                .with("client_message_id", cmid.clone())
                .with("fingerprint", fingerprint);
            if let Some(b) = broker_message_id {
                e = e.with("broker_message_id", b);
            }
            if let Some(d) = dead_reason {
                e = e.with("dead_reason", d);
            }
            Err(e)
        }
    }
}

/// Record the `message` event of `m`, just stored as inbox row `inbox_id` (inside the
/// delivering transaction). Built from what was stored rather than read back: one query
/// less per message.
pub fn message_event(
    conn: &rusqlite::Connection,
    inbox_id: i64,
    m: &Incoming,
) -> rusqlite::Result<Event> {
    events::record(
        conn,
        "message",
        serde_json::to_value(inbox::stored_item(inbox_id, m)).unwrap_or(Value::Null),
    )
}

/// The priority a held-back rule lets through for a session's status.
pub fn passes(priority: Priority, busy: bool) -> bool {
    !busy || priority == Priority::Now
}
