//! Hook payloads: the one JSON object Claude Code writes to a hook's stdin, and the JSON a
//! hook prints back. Parsed once, leniently: fields appear release to release, so every
//! struct keeps what it does not know in `extra`, and every event-specific field is optional.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The hook events Claude Code fires that claude-daemons handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HookEvent {
    /// A session started, resumed, was cleared or compacted.
    SessionStart,
    /// The user submitted a prompt.
    UserPromptSubmit,
    /// A tool is about to run.
    PreToolUse,
    /// A tool ran.
    PostToolUse,
    /// The main agent finished its turn.
    Stop,
    /// A subagent finished.
    SubagentStop,
    /// The conversation is about to be compacted.
    PreCompact,
    /// The session ended.
    SessionEnd,
    /// Claude Code showed a notification.
    Notification,
}

impl HookEvent {
    /// Every event, in the order of a session's life.
    pub const ALL: [HookEvent; 9] = [
        HookEvent::SessionStart,
        HookEvent::UserPromptSubmit,
        HookEvent::PreToolUse,
        HookEvent::PostToolUse,
        HookEvent::Stop,
        HookEvent::SubagentStop,
        HookEvent::PreCompact,
        HookEvent::SessionEnd,
        HookEvent::Notification,
    ];

    /// The name Claude Code uses in `hook_event_name` and in settings.json.
    pub fn as_str(self) -> &'static str {
        match self {
            HookEvent::SessionStart => "SessionStart",
            HookEvent::UserPromptSubmit => "UserPromptSubmit",
            HookEvent::PreToolUse => "PreToolUse",
            HookEvent::PostToolUse => "PostToolUse",
            HookEvent::Stop => "Stop",
            HookEvent::SubagentStop => "SubagentStop",
            HookEvent::PreCompact => "PreCompact",
            HookEvent::SessionEnd => "SessionEnd",
            HookEvent::Notification => "Notification",
        }
    }

    /// Look an event up by its Claude Code name.
    pub fn from_name(name: &str) -> Option<HookEvent> {
        HookEvent::ALL.into_iter().find(|e| e.as_str() == name)
    }

    /// Whether Claude Code reads `hookSpecificOutput.additionalContext` back for this event.
    pub fn takes_context(self) -> bool {
        matches!(
            self,
            HookEvent::SessionStart
                | HookEvent::UserPromptSubmit
                | HookEvent::PreToolUse
                | HookEvent::PostToolUse
        )
    }
}

impl std::fmt::Display for HookEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One hook payload as Claude Code sends it. Common fields are required; the rest depend on
/// the event (see the contract table) and stay `None` when absent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HookInput {
    /// Claude's session id (a uuid).
    pub session_id: String,
    /// The event name; see [`HookInput::event`].
    pub hook_event_name: String,
    /// The session's working directory.
    pub cwd: String,
    /// The session transcript (`~/.claude/projects/…/<session_id>.jsonl`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript_path: Option<String>,
    /// `default`, `acceptEdits`, `plan`, `bypassPermissions`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_mode: Option<String>,
    /// SessionStart: `startup`, `resume`, `clear` or `compact`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// UserPromptSubmit: the prompt text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// Pre/PostToolUse: the tool (`Read`, `Edit`, `Bash`, `mcp__server__tool`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    /// Pre/PostToolUse: the tool's input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_input: Option<Value>,
    /// PostToolUse: what the tool returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_response: Option<Value>,
    /// Pre/PostToolUse: the tool call id (`toolu_…`), unique within a session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_use_id: Option<String>,
    /// Stop/SubagentStop: whether a Stop hook already continued this turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_hook_active: Option<bool>,
    /// Stop: the assistant's final message of the turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_assistant_message: Option<String>,
    /// SubagentStop: the subagent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// PreCompact: `manual` or `auto`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// PreCompact: instructions given to `/compact`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_instructions: Option<String>,
    /// SessionEnd: `clear`, `logout`, `prompt_input_exit`, `other`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Everything else Claude Code sent, kept as is.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Why a payload is not a hook input we can use.
#[derive(Debug, thiserror::Error)]
pub enum HookInputError {
    /// Not JSON, or a field of the wrong type.
    #[error("invalid hook payload: {0}")]
    Json(#[from] serde_json::Error),
    /// `hook_event_name` names no event we know.
    #[error("unknown hook event {0:?}")]
    UnknownEvent(String),
    /// A required field is empty.
    #[error("hook payload field `{0}` is empty")]
    Empty(&'static str),
}

impl HookInput {
    /// Parse and validate one payload.
    pub fn parse(bytes: &[u8]) -> Result<HookInput, HookInputError> {
        let input: HookInput = serde_json::from_slice(bytes)?;
        input.validate()?;
        Ok(input)
    }

    /// Check what serde cannot: a known event, non-empty ids.
    pub fn validate(&self) -> Result<HookEvent, HookInputError> {
        let event = self.event()?;
        if self.session_id.trim().is_empty() {
            return Err(HookInputError::Empty("session_id"));
        }
        if self.cwd.trim().is_empty() {
            return Err(HookInputError::Empty("cwd"));
        }
        Ok(event)
    }

    /// The event, if known.
    pub fn event(&self) -> Result<HookEvent, HookInputError> {
        HookEvent::from_name(&self.hook_event_name)
            .ok_or_else(|| HookInputError::UnknownEvent(self.hook_event_name.clone()))
    }
}

/// What a hook prints on stdout for Claude Code to read (exit code 0).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookOutput {
    /// `false` stops Claude after the hook.
    #[serde(default, rename = "continue", skip_serializing_if = "Option::is_none")]
    pub continue_: Option<bool>,
    /// Hide the hook's stdout from the transcript view.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppress_output: Option<bool>,
    /// A message shown to the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_message: Option<String>,
    /// Event-specific output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook_specific_output: Option<HookSpecificOutput>,
}

/// `hookSpecificOutput`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookSpecificOutput {
    /// The event this answers (`SessionStart`, …).
    pub hook_event_name: String,
    /// Text added to the model's context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_context: Option<String>,
}

impl HookOutput {
    /// Output adding `context` to the model's context for `event`.
    pub fn additional_context(event: HookEvent, context: String) -> HookOutput {
        HookOutput {
            hook_specific_output: Some(HookSpecificOutput {
                hook_event_name: event.as_str().into(),
                additional_context: Some(context),
            }),
            ..HookOutput::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_post_tool_use_and_keeps_unknown_fields() {
        let raw = json!({
            "session_id": "s1", "transcript_path": "/t.jsonl", "cwd": "/w",
            "hook_event_name": "PostToolUse", "tool_name": "Read",
            "tool_input": {"file_path": "/w/a"}, "tool_response": {"type": "text"},
            "tool_use_id": "toolu_1", "duration_ms": 3, "effort": "low"
        });
        let h = HookInput::parse(raw.to_string().as_bytes()).unwrap();
        assert_eq!(h.event().unwrap(), HookEvent::PostToolUse);
        assert_eq!(h.tool_use_id.as_deref(), Some("toolu_1"));
        assert_eq!(h.extra["duration_ms"], 3);
        let back = serde_json::to_value(&h).unwrap();
        assert_eq!(back, raw, "round trip keeps every field");
    }

    #[test]
    fn rejects_wrong_types_unknown_events_and_empty_ids() {
        let bad = [
            r#"{"session_id": 5, "hook_event_name": "Stop", "cwd": "/"}"#,
            r#"{"session_id": "s", "hook_event_name": "Bogus", "cwd": "/"}"#,
            r#"{"session_id": "", "hook_event_name": "Stop", "cwd": "/"}"#,
            r#"{"session_id": "s", "hook_event_name": "Stop"}"#,
            r#"{"session_id": "s", "hook_event_name": "Stop", "cwd": "/", "prompt": 3}"#,
            r#"{"session_id": "s", "#,
        ];
        for b in bad {
            assert!(HookInput::parse(b.as_bytes()).is_err(), "{b}");
        }
    }

    #[test]
    fn output_uses_claude_code_names() {
        let o = HookOutput::additional_context(HookEvent::SessionStart, "ctx".into());
        assert_eq!(
            serde_json::to_value(&o).unwrap(),
            json!({"hookSpecificOutput": {"hookEventName": "SessionStart", "additionalContext": "ctx"}})
        );
    }
}
