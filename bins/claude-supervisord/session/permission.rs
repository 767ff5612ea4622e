//! `can_use_tool`: Claude Code asks before a tool runs. The session's rules answer first;
//! otherwise the prompt waits (stored, announced on the ask's stream and `/v1/events`) for
//! an answer through the API, and is denied after `permission_timeout_secs`. Every
//! decision is kept.

use super::actor::Actor;
use crate::{permission_records, records, rules};
use claude_daemons::api::supervisor::{Behavior, EventKind, PermissionDecision, PermissionRequest};
use claude_daemons::claude::{ChildInput, ControlRequest};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// A prompt waiting for an answer.
pub(crate) struct Pending {
    pub(super) request_id: String,
    pub(super) deadline: Instant,
    tool: String,
    input: Value,
    suggestions: Value,
}

fn state_of(b: Behavior) -> &'static str {
    match b {
        Behavior::Allow => "allowed",
        Behavior::Deny => "denied",
    }
}

/// What a person sees first: the command, the file or the whole input.
fn summary(tool: &str, input: &Value) -> String {
    let s = [
        "command",
        "file_path",
        "notebook_path",
        "url",
        "path",
        "pattern",
    ]
    .iter()
    .find_map(|k| input[*k].as_str().map(str::to_string))
    .unwrap_or_else(|| input.to_string());
    let mut s: String = s.chars().take(200).collect();
    if s.len() < input.to_string().len() && !input.is_object() {
        s.push('…');
    }
    format!("{tool}: {s}")
}

impl Actor {
    pub(super) async fn permission_asked(&mut self, r: ControlRequest) {
        let req = &r.request;
        let text = |k: &str| req.get(k).and_then(Value::as_str).map(str::to_string);
        let mut p = PermissionRequest {
            id: ulid::Ulid::new().to_string(),
            key: self.key.clone(),
            tool_name: text("tool_name").unwrap_or_default(),
            input: req.get("input").cloned().unwrap_or_else(|| json!({})),
            description: text("description"),
            blocked_path: text("blocked_path"),
            suggestions: req
                .get("permission_suggestions")
                .cloned()
                .unwrap_or_else(|| json!([])),
            tool_use_id: text("tool_use_id"),
            state: "pending".into(),
            decided_by: None,
            message: None,
            created_at: String::new(),
            decided_at: None,
        };
        let (rules, cwd) = {
            let s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
            (s.extra.permission_rules.clone(), s.cwd.clone())
        };
        if let Some((b, rule)) = rules::decide(&rules, &p.tool_name, &p.input, &cwd) {
            let message = (b == Behavior::Deny).then(|| format!("Denied by the rule {rule}."));
            self.answer_child(&r.request_id, b, p.input.clone(), message.clone());
            p.state = state_of(b).into();
            p.decided_by = Some(format!("rule:{} {rule}", b.as_str()));
            p.message = message;
            if let Some(stored) = self.store_new(&p, &r.request_id).await {
                let detail = format!("{} {} by {rule}", p.id, state_of(b));
                self.emit_permission(EventKind::PermissionDecided, detail, stored);
            }
            return;
        }
        let Some(stored) = self.store_new(&p, &r.request_id).await else {
            let why = "The permission prompt could not be recorded; denied.".to_string();
            self.answer_child(&r.request_id, Behavior::Deny, p.input, Some(why));
            return;
        };
        if let Some(a) = &self.active {
            a.turn.permission(&stored);
        }
        let detail = format!("{} {}", p.id, summary(&p.tool_name, &p.input));
        self.emit_permission(EventKind::PermissionRequested, detail, stored);
        let timeout = Duration::from_secs(self.pool.config.permission_timeout_secs);
        self.permissions.insert(
            p.id,
            Pending {
                request_id: r.request_id,
                deadline: Instant::now() + timeout,
                tool: p.tool_name,
                input: p.input,
                suggestions: p.suggestions,
            },
        );
    }

    /// A person's (or program's) answer; `None` if `id` is not pending here.
    pub(super) async fn answer_permission(
        &mut self,
        id: &str,
        d: PermissionDecision,
    ) -> Option<PermissionRequest> {
        let pending = self.permissions.remove(id)?;
        let message = match d.behavior {
            Behavior::Allow => None,
            Behavior::Deny => Some(
                d.message
                    .clone()
                    .unwrap_or_else(|| "The user denied this tool use.".into()),
            ),
        };
        let input = d.updated_input.clone().unwrap_or(pending.input.clone());
        self.answer_child(&pending.request_id, d.behavior, input, message.clone());
        if d.remember {
            self.remember(&pending, d.behavior).await;
        }
        let by = match &d.by {
            Some(b) => format!("api:{b}"),
            None => "api".into(),
        };
        self.record_decision(id, d.behavior, by, message).await
    }

    /// Deny what nobody answered in time; Claude reads why.
    pub(super) async fn expire_permissions(&mut self, now: Instant) {
        let due: Vec<String> = self
            .permissions
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(id, _)| id.clone())
            .collect();
        let secs = self.pool.config.permission_timeout_secs;
        for id in due {
            let p = self.permissions.remove(&id).expect("listed");
            let why = format!(
                "Permission to use {} was not granted: nobody answered within {secs} s.",
                p.tool
            );
            self.answer_child(&p.request_id, Behavior::Deny, p.input, Some(why.clone()));
            self.record_decision(&id, Behavior::Deny, "timeout".into(), Some(why))
                .await;
        }
    }

    /// The child is gone (or cancelled the prompts): what waited is denied, for the record.
    pub(super) async fn abandon_permissions(&mut self, why: &str, only_request: Option<&str>) {
        let ids: Vec<String> = self
            .permissions
            .iter()
            .filter(|(_, p)| only_request.is_none_or(|r| r == p.request_id))
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            self.permissions.remove(&id);
            self.record_decision(
                &id,
                Behavior::Deny,
                "session_ended".into(),
                Some(why.into()),
            )
            .await;
        }
    }

    fn answer_child(&self, request_id: &str, b: Behavior, input: Value, message: Option<String>) {
        let response = match b {
            Behavior::Allow => json!({"behavior": "allow", "updatedInput": input}),
            Behavior::Deny => json!({"behavior": "deny", "message": message.unwrap_or_default()}),
        };
        if let Some(c) = &self.child {
            c.send(&ChildInput::answer(request_id, response));
        }
    }

    /// Keep a rule so the same call is decided alike: Claude Code's suggested rule, else
    /// the tool's name.
    async fn remember(&mut self, p: &Pending, b: Behavior) {
        let suggested = p.suggestions.as_array().and_then(|s| {
            s.iter()
                .filter(|s| s["type"] == "addRules")
                .flat_map(|s| s["rules"].as_array().cloned().unwrap_or_default())
                .find_map(|r| {
                    let tool = r["toolName"].as_str()?;
                    Some(match r["ruleContent"].as_str() {
                        Some(c) if !c.is_empty() => format!("{tool}({c})"),
                        _ => tool.to_string(),
                    })
                })
        });
        let rule = suggested
            .filter(|r| rules::validate(std::slice::from_ref(r)).is_ok())
            .unwrap_or_else(|| p.tool.clone());
        let settings = {
            let mut s = self.settings.lock().unwrap_or_else(|e| e.into_inner());
            let rules = &mut s.extra.permission_rules;
            let list = match b {
                Behavior::Allow => &mut rules.allow,
                Behavior::Deny => &mut rules.deny,
            };
            if list.contains(&rule) {
                return;
            }
            list.push(rule);
            s.clone()
        };
        let key = self.key.clone();
        if let Ok(Err(e)) = self
            .pool
            .db
            .call(move |c| records::update(c, &key, &settings))
            .await
        {
            tracing::error!(SESSION_KEY = %self.key, "cannot store the remembered rule: {e}");
        }
    }

    async fn store_new(
        &self,
        p: &PermissionRequest,
        request_id: &str,
    ) -> Option<PermissionRequest> {
        let (p2, rid) = (p.clone(), request_id.to_string());
        match self
            .pool
            .db
            .call(move |c| permission_records::insert(c, &p2, &rid))
            .await
        {
            Ok(Ok(stored)) => Some(stored),
            Ok(Err(e)) => {
                tracing::error!(SESSION_KEY = %self.key, "cannot record a permission prompt: {e}");
                None
            }
            Err(e) => {
                tracing::error!(SESSION_KEY = %self.key, "cannot record a permission prompt: {e}");
                None
            }
        }
    }

    async fn record_decision(
        &self,
        id: &str,
        b: Behavior,
        by: String,
        message: Option<String>,
    ) -> Option<PermissionRequest> {
        let id2 = id.to_string();
        let by2 = by.clone();
        let stored = match self
            .pool
            .db
            .call(move |c| {
                permission_records::decide(c, &id2, state_of(b), &by2, message.as_deref())
            })
            .await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::error!(SESSION_KEY = %self.key, "cannot record a permission decision: {e}");
                None
            }
            Err(e) => {
                tracing::error!(SESSION_KEY = %self.key, "cannot record a permission decision: {e}");
                None
            }
        }?;
        let detail = format!("{id} {} by {by}", state_of(b));
        self.emit_permission(EventKind::PermissionDecided, detail, stored.clone());
        Some(stored)
    }

    fn emit_permission(&self, kind: EventKind, detail: String, p: PermissionRequest) {
        let pid = self.child.as_ref().map(|c| c.pid);
        self.pool
            .events
            .emit_with(kind, &self.key, pid, Some(detail), Some(p));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_show_what_matters() {
        assert_eq!(
            summary(
                "Bash",
                &json!({"command": "git push", "description": "push"})
            ),
            "Bash: git push"
        );
        assert_eq!(summary("Edit", &json!({"file_path": "/w/a"})), "Edit: /w/a");
        assert_eq!(summary("X", &json!({"q": 1})), "X: {\"q\":1}");
    }
}
