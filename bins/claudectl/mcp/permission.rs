//! Permission relay of a launched session: Claude Code sends its channel a
//! `notifications/claude/channel/permission_request` when a tool needs the user's yes
//! (contract, verified on 2.1.329); with `[mesh] approvers` set, each approver gets it as a
//! `now` message. An approver's answer (`claudectl mesh approve|deny ID`, or the tool
//! `answer_permission`) comes back as a message to this session, and the channel turns it
//! into `notifications/claude/channel/permission {request_id, behavior}`. Only an answer
//! from an approver to a request this server relayed and not yet answered counts; anything
//! else is an ordinary message. Unanswered: nothing happens (Claude Code still asks the
//! user at the terminal, and an answer given there wins).

use claude_daemons::api::mesh::{
    InboxItem, Peer, Priority, RelayedAnswer, RelayedPermission, SendRequest,
    PERMISSION_ANSWER_META, PERMISSION_REQUEST_META,
};
use claude_daemons::claude::{PermissionAnswer, PermissionBehavior, PermissionRequest};
use claude_daemons::http::UnixClient;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// What the relay shares between the request side (stdin) and the answer side (the push
/// thread).
#[derive(Clone, Default)]
pub struct Relay {
    approvers: Vec<String>,
    /// Requests relayed and not yet answered.
    pending: Arc<Mutex<HashSet<String>>>,
}

impl Relay {
    /// A relay to `approvers` (empty: nothing is relayed).
    pub fn new(approvers: Vec<String>) -> Relay {
        Relay {
            approvers,
            pending: Arc::default(),
        }
    }

    /// Send `req` of `session` to every approver; returns the errors (one line each) of
    /// those it could not reach.
    pub fn relay(
        &self,
        client: &UnixClient,
        session: &str,
        req: &PermissionRequest,
    ) -> Vec<String> {
        if self.approvers.is_empty() {
            return Vec::new();
        }
        self.lock().insert(req.request_id.clone());
        let relayed = RelayedPermission {
            request_id: req.request_id.clone(),
            tool_name: req.tool_name.clone(),
            description: req.description.clone(),
            input_preview: req.input_preview.clone(),
            session: session.to_string(),
        };
        let body = format!(
            "Permission request {id}: {tool} wants to {desc}\n{preview}\n\
             Answer with `claudectl mesh approve {id}` or `claudectl mesh deny {id}` \
             (or the tool answer_permission).",
            id = req.request_id,
            tool = req.tool_name,
            desc = req.description,
            preview = req.input_preview,
        );
        let mut errors = Vec::new();
        for (k, to) in self.approvers.iter().enumerate() {
            let send = SendRequest {
                to: to.clone(),
                body: body.clone(),
                client_message_id: Some(format!(
                    "perm-req-{}-{}-{k}",
                    &session[..session.len().min(36)],
                    req.request_id
                )),
                priority: Some(Priority::Now),
                reply_to: None,
                meta: Some(serde_json::json!({ PERMISSION_REQUEST_META: relayed })),
                from_session: Some(session.to_string()),
                extra: Default::default(),
            };
            let r = serde_json::to_vec(&send)
                .map_err(|e| e.to_string())
                .and_then(|b| client.post_json("/v1/send", &b).map_err(|e| e.to_string()));
            match r {
                Ok(r) if r.status < 300 => {}
                Ok(r) => errors.push(format!(
                    "approver {to}: HTTP {}: {}",
                    r.status,
                    String::from_utf8_lossy(&r.body)
                )),
                Err(e) => errors.push(format!("approver {to}: {e}")),
            }
        }
        errors
    }

    /// The answer `item` carries, when it answers a request still pending here and comes
    /// from an approver; the request is then no longer pending.
    pub fn answer(&self, client: &UnixClient, item: &InboxItem) -> Option<PermissionAnswer> {
        let a: RelayedAnswer = item
            .meta
            .as_ref()?
            .get(PERMISSION_ANSWER_META)
            .and_then(|v| serde_json::from_value(v.clone()).ok())?;
        let behavior = match a.behavior.as_str() {
            "allow" => PermissionBehavior::Allow,
            "deny" => PermissionBehavior::Deny,
            _ => return None,
        };
        if !self.lock().contains(&a.request_id) || !self.sent_by_approver(client, item) {
            return None;
        }
        self.lock().remove(&a.request_id);
        Some(PermissionAnswer {
            request_id: a.request_id,
            behavior,
        })
    }

    /// Whether the sender of `item` is one of the approvers: its name, session or key (a
    /// key prefix of at least 8 characters), or a session in an approver `@group`.
    fn sent_by_approver(&self, client: &UnixClient, item: &InboxItem) -> bool {
        let f = &item.from;
        let named = self.approvers.iter().any(|a| {
            !a.starts_with('@')
                && (*a == f.name
                    || f.session.as_deref() == Some(a.as_str())
                    || (a.len() >= 8 && f.key.starts_with(a.as_str())))
        });
        if named {
            return true;
        }
        let groups: Vec<&str> = self
            .approvers
            .iter()
            .filter_map(|a| a.strip_prefix('@'))
            .collect();
        if groups.is_empty() {
            return false;
        }
        let Some(peers) = client
            .get("/v1/peers?all=true")
            .ok()
            .and_then(|r| r.json::<Vec<Peer>>().ok())
        else {
            return false;
        };
        peers.iter().any(|p| {
            p.key == f.key
                && Some(p.session_id.as_str()) == f.session.as_deref()
                && p.groups.iter().any(|g| groups.contains(&g.as_str()))
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}
