//! Session options: how a session's Claude Code process is started and what it may do.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Options of a session, given with any ask or by `PUT /v1/sessions/{key}`. An absent field
/// keeps the session's value. `model` and `permission_mode` change a running process in
/// place (control requests, no restart); `permission_rules` are the supervisor's own and
/// apply at once; any other change restarts the process with `--resume` before the next
/// turn, so the conversation is kept.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionOptions {
    /// How the process is driven: `headless` (`claude -p`, stream-json; the default) or
    /// `interactive` (`claude` in a terminal the supervisor owns, which a person can attach
    /// to). Changing it restarts the process with `--resume`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<SessionKind>,
    /// Workspace of the session (absolute); fixed when the session is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Model (`--model`, then `set_model`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Permission mode (`--permission-mode`, then `set_permission_mode`): `default`,
    /// `acceptEdits`, `plan`, `bypassPermissions`, `dontAsk`, `auto`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_mode: Option<String>,
    /// Tools allowed without asking (`--allowedTools`), in Claude Code's rule syntax.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_tools: Option<Vec<String>>,
    /// Tools removed from the model's reach (`--disallowedTools`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disallowed_tools: Option<Vec<String>>,
    /// Run the child isolated: no built-in tools, no MCP servers and no user or project
    /// settings (`--tools "" --strict-mcp-config --setting-sources ""`), for sessions that
    /// must only write text, such as claude-memd's observers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolated: Option<bool>,
    /// Replaces Claude Code's system prompt (`--system-prompt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    /// Appended to the system prompt (`--append-system-prompt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub append_system_prompt: Option<String>,
    /// MCP servers (`--mcp-config`): an inline `{"mcpServers": {…}}` object, or the
    /// absolute path of such a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp_config: Option<Value>,
    /// Models to fall back to when the main one is busy (`--fallback-model`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_model: Option<String>,
    /// Model round trips per turn (`--max-turns`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_turns: Option<u32>,
    /// Spending limit of the Claude session in USD (`--max-budget-usd`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_budget_usd: Option<f64>,
    /// More directories the tools may reach (`--add-dir`), absolute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub add_dirs: Option<Vec<String>>,
    /// Environment allow-list: when set, the process inherits only these variables of the
    /// supervisor's environment, besides the ones Claude Code needs to run (`PATH`, `HOME`,
    /// `USER`, `LANG`, `TMPDIR`, `CLAUDE_CONFIG_DIR`, `ANTHROPIC_*`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    /// Rules that answer permission prompts before a person is asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_rules: Option<PermissionRules>,
}

/// How a session's Claude Code process is driven.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionKind {
    /// `claude -p --input-format stream-json --output-format stream-json`.
    #[default]
    Headless,
    /// `claude` (its terminal UI) under a pseudo-terminal owned by the supervisor: turns are
    /// typed into it, and a person can watch or type (`claudectl sup attach`).
    Interactive,
}

/// Rules in Claude Code's own syntax (`Bash(git status:*)`, `Edit(src/**)`, `Read`,
/// `WebFetch(domain:example.com)`, `mcp__server`): `deny` is checked first, then `allow`;
/// a prompt no rule decides goes to a person (`GET /v1/sessions/{key}/permissions`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionRules {
    /// Allowed without asking.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Denied without asking.
    #[serde(default)]
    pub deny: Vec<String>,
}

impl PermissionRules {
    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty()
    }
}

/// `POST /v1/sessions/{key}/fork`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForkRequest {
    /// The key of the new session.
    pub new_key: String,
}
