//! What a session's process is started with, and how [`SessionOptions`] change it.

use claude_daemons::api::supervisor::{PermissionRules, SessionKind, SessionOptions};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How a child is driven (the `sessions.kind` column).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ChildKind {
    /// `claude -p --input-format stream-json --output-format stream-json --verbose`.
    #[default]
    StreamJson,
    /// `claude` under a PTY owned by the supervisor (`pty_child.rs`).
    Interactive,
}

impl ChildKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChildKind::StreamJson => "stream-json",
            ChildKind::Interactive => "interactive",
        }
    }

    pub fn parse(s: &str) -> Option<ChildKind> {
        match s {
            "stream-json" => Some(ChildKind::StreamJson),
            "interactive" => Some(ChildKind::Interactive),
            _ => None,
        }
    }

    fn from_api(k: SessionKind) -> ChildKind {
        match k {
            SessionKind::Headless => ChildKind::StreamJson,
            SessionKind::Interactive => ChildKind::Interactive,
        }
    }

    fn to_api(self) -> SessionKind {
        match self {
            ChildKind::StreamJson => SessionKind::Headless,
            ChildKind::Interactive => SessionKind::Interactive,
        }
    }
}

/// A session's settings as stored; the child is started from them.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Settings {
    pub kind: ChildKind,
    pub cwd: String,
    pub model: Option<String>,
    pub permission_mode: Option<String>,
    pub allowed_tools: Vec<String>,
    pub isolated: bool,
    pub extra: Extra,
}

/// The options kept as one JSON column (`sessions.options`).
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Extra {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub disallowed_tools: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub append_system_prompt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mcp_config: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_turns: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_budget_usd: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub add_dirs: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(skip_serializing_if = "PermissionRules::is_empty")]
    pub permission_rules: PermissionRules,
}

impl Settings {
    /// A new session's settings: `opts` over the defaults.
    pub fn new(default_cwd: &str, opts: &SessionOptions) -> Settings {
        let mut s = Settings {
            cwd: opts.cwd.clone().unwrap_or_else(|| default_cwd.into()),
            ..Settings::default()
        };
        s.apply(opts);
        s
    }

    /// Take every option `opts` names (but the workspace, which is fixed).
    pub fn apply(&mut self, opts: &SessionOptions) {
        fn set<T: Clone>(dst: &mut T, src: &Option<T>) {
            if let Some(v) = src {
                *dst = v.clone();
            }
        }
        fn set_opt<T: Clone>(dst: &mut Option<T>, src: &Option<T>) {
            if src.is_some() {
                dst.clone_from(src);
            }
        }
        if let Some(k) = opts.kind {
            self.kind = ChildKind::from_api(k);
        }
        set_opt(&mut self.model, &opts.model);
        set_opt(&mut self.permission_mode, &opts.permission_mode);
        set(&mut self.allowed_tools, &opts.allowed_tools);
        set(&mut self.isolated, &opts.isolated);
        let e = &mut self.extra;
        set(&mut e.disallowed_tools, &opts.disallowed_tools);
        set_opt(&mut e.system_prompt, &opts.system_prompt);
        set_opt(&mut e.append_system_prompt, &opts.append_system_prompt);
        set_opt(&mut e.mcp_config, &opts.mcp_config);
        set_opt(&mut e.fallback_model, &opts.fallback_model);
        set_opt(&mut e.max_turns, &opts.max_turns);
        set_opt(&mut e.max_budget_usd, &opts.max_budget_usd);
        set(&mut e.add_dirs, &opts.add_dirs);
        set_opt(&mut e.env, &opts.env);
        set(&mut e.permission_rules, &opts.permission_rules);
    }

    /// Whether these settings already are what `opts` asks for.
    pub fn satisfies(&self, opts: &SessionOptions) -> bool {
        if opts.cwd.as_ref().is_some_and(|c| *c != self.cwd) {
            return false;
        }
        let mut s = self.clone();
        s.apply(opts);
        s == *self
    }

    /// Whether a process started with `self` can become `other` without a restart: only
    /// the model and permission mode (control requests) or our own rules differ. Going
    /// back to "no model named" has no control request, so it restarts.
    pub fn same_process(&self, other: &Settings) -> bool {
        let mut a = self.clone();
        a.extra.permission_rules = other.extra.permission_rules.clone();
        if other.model.is_some() {
            a.model.clone_from(&other.model);
        }
        if other.permission_mode.is_some() {
            a.permission_mode.clone_from(&other.permission_mode);
        }
        a == *other
    }

    /// Every option, as the API shows them.
    pub fn to_options(&self) -> SessionOptions {
        let e = &self.extra;
        let list = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
        SessionOptions {
            kind: Some(self.kind.to_api()),
            cwd: Some(self.cwd.clone()),
            model: self.model.clone(),
            permission_mode: self.permission_mode.clone(),
            allowed_tools: Some(self.allowed_tools.clone()),
            disallowed_tools: list(&e.disallowed_tools),
            isolated: Some(self.isolated),
            system_prompt: e.system_prompt.clone(),
            append_system_prompt: e.append_system_prompt.clone(),
            mcp_config: e.mcp_config.clone(),
            fallback_model: e.fallback_model.clone(),
            max_turns: e.max_turns,
            max_budget_usd: e.max_budget_usd,
            add_dirs: list(&e.add_dirs),
            env: e.env.clone(),
            permission_rules: Some(e.permission_rules.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_apply_and_are_satisfied_only_by_equal_values() {
        let opts = SessionOptions {
            cwd: Some("/w".into()),
            model: Some("m".into()),
            allowed_tools: Some(vec!["Read".into()]),
            max_turns: Some(3),
            ..SessionOptions::default()
        };
        let cur = Settings::new("/home", &opts);
        assert_eq!(cur.cwd, "/w");
        assert!(cur.satisfies(&SessionOptions::default()));
        assert!(cur.satisfies(&opts));
        for o in [
            SessionOptions {
                model: Some("other".into()),
                ..SessionOptions::default()
            },
            SessionOptions {
                cwd: Some("/x".into()),
                ..SessionOptions::default()
            },
            SessionOptions {
                max_turns: Some(4),
                ..SessionOptions::default()
            },
            SessionOptions {
                allowed_tools: Some(vec![]),
                ..SessionOptions::default()
            },
        ] {
            assert!(!cur.satisfies(&o), "{o:?}");
        }
    }

    #[test]
    fn model_mode_and_rules_change_in_place_the_rest_restarts() {
        let a = Settings::new("/w", &SessionOptions::default());
        let mut b = a.clone();
        b.model = Some("m2".into());
        b.permission_mode = Some("plan".into());
        b.extra.permission_rules.allow.push("Bash(ls:*)".into());
        assert!(a.same_process(&b));
        let mut c = b.clone();
        c.extra.system_prompt = Some("be brief".into());
        assert!(!b.same_process(&c));
        let mut d = b.clone();
        d.model = None;
        assert!(!b.same_process(&d), "unsetting the model restarts");
    }
}
