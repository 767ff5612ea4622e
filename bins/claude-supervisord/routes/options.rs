//! Checking [`SessionOptions`] (a 400 names the field), and the session task for a key
//! with options applied, for asks, `PUT`, prewarm and fork.

use super::{db_error, App, Error};
use crate::handle::SessionHandle;
use crate::records::{self, RecordError, SessionRecord};
use crate::{rules, session};
use claude_daemons::api::supervisor::{SessionOptions, MAX_PROMPT_BYTES};
use serde_json::Value;

/// What `claude --permission-mode` and `set_permission_mode` accept.
const PERMISSION_MODES: [&str; 6] = [
    "default",
    "acceptEdits",
    "plan",
    "bypassPermissions",
    "dontAsk",
    "auto",
];

fn bad(field: &str, why: impl std::fmt::Display) -> Error {
    Error::new("bad_request", format!("`{field}` {why}"))
}

fn model_name(field: &str, m: &str) -> Result<(), Error> {
    if m.is_empty() || m.len() > 200 || m.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad(field, format!("{m:?} is not a model name")));
    }
    Ok(())
}

fn tool_list(field: &str, tools: &[String]) -> Result<(), Error> {
    // Passed to the CLI joined by commas.
    if tools.len() > 200
        || tools.iter().any(|t| {
            t.trim().is_empty()
                || t.len() > 500
                || t.contains(',')
                || t.chars().any(char::is_control)
        })
    {
        return Err(bad(
            field,
            "must be at most 200 non-empty tool names or patterns without commas",
        ));
    }
    Ok(())
}

fn text(field: &str, t: &str) -> Result<(), Error> {
    if t.len() > MAX_PROMPT_BYTES || t.contains('\0') {
        return Err(bad(
            field,
            format!("must be at most {MAX_PROMPT_BYTES} bytes, without NUL"),
        ));
    }
    Ok(())
}

fn directory(field: &str, d: &str) -> Result<(), Error> {
    let p = std::path::Path::new(d);
    if d.contains('\0') || !p.is_absolute() || !p.is_dir() {
        return Err(bad(
            field,
            format!("{d:?} is not an absolute path to a directory"),
        ));
    }
    Ok(())
}

/// Check every option given; the error names the first bad field.
pub fn validate(o: &SessionOptions) -> Result<(), Error> {
    if let Some(cwd) = &o.cwd {
        directory("cwd", cwd)?;
    }
    if let Some(m) = &o.permission_mode {
        if !PERMISSION_MODES.contains(&m.as_str()) {
            return Err(bad(
                "permission_mode",
                format!("{m:?} is not one of {PERMISSION_MODES:?}"),
            ));
        }
    }
    if let Some(m) = &o.model {
        model_name("model", m)?;
    }
    if let Some(m) = &o.fallback_model {
        for part in m.split(',') {
            model_name("fallback_model", part.trim())?;
        }
    }
    if let Some(t) = &o.allowed_tools {
        tool_list("allowed_tools", t)?;
    }
    if let Some(t) = &o.disallowed_tools {
        tool_list("disallowed_tools", t)?;
    }
    if let Some(t) = &o.system_prompt {
        text("system_prompt", t)?;
    }
    if let Some(t) = &o.append_system_prompt {
        text("append_system_prompt", t)?;
    }
    match &o.mcp_config {
        None => {}
        Some(Value::String(path)) => {
            let p = std::path::Path::new(path);
            if path.contains('\0') || !p.is_absolute() || !p.is_file() {
                return Err(bad(
                    "mcp_config",
                    format!("{path:?} is not an absolute path to a file"),
                ));
            }
        }
        Some(v @ Value::Object(m)) if m.get("mcpServers").is_some_and(Value::is_object) => {
            text("mcp_config", &v.to_string())?;
        }
        Some(_) => {
            return Err(bad(
                "mcp_config",
                "must be an object {\"mcpServers\": {…}} or the absolute path of such a file",
            ))
        }
    }
    if o.max_turns.is_some_and(|n| !(1..=10_000).contains(&n)) {
        return Err(bad("max_turns", "must be between 1 and 10000"));
    }
    if o.max_budget_usd
        .is_some_and(|b| !(b.is_finite() && b > 0.0 && b <= 1e6))
    {
        return Err(bad(
            "max_budget_usd",
            "must be more than 0 and at most 1000000",
        ));
    }
    if let Some(dirs) = &o.add_dirs {
        if dirs.len() > 64 {
            return Err(bad("add_dirs", "holds more than 64 directories"));
        }
        for d in dirs {
            directory("add_dirs", d)?;
        }
    }
    if let Some(names) = &o.env {
        let ok = |n: &String| {
            !n.is_empty()
                && n.len() <= 200
                && !n.starts_with(|c: char| c.is_ascii_digit())
                && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        if names.len() > 200 || !names.iter().all(ok) {
            return Err(bad(
                "env",
                "must be at most 200 variable names (letters, digits, _)",
            ));
        }
    }
    if let Some(r) = &o.permission_rules {
        for (field, list) in [
            ("permission_rules.allow", &r.allow),
            ("permission_rules.deny", &r.deny),
        ] {
            if list.len() > 500 {
                return Err(bad(field, "holds more than 500 rules"));
            }
            rules::validate(list).map_err(|e| bad(field, e))?;
        }
    }
    Ok(())
}

/// The session for `key` with `opts` applied (created on first use), and its task.
pub async fn session_for(
    app: &App,
    key: &str,
    opts: SessionOptions,
) -> Result<(SessionHandle, SessionRecordLite), Error> {
    // A warm session asked for nothing new: no database round trip.
    let cached = app
        .pool
        .get(key)
        .filter(|h| h.settings().satisfies(&opts))
        .map(|h| {
            let lite = SessionRecordLite {
                session_id: h.session_id.to_string(),
                fork_of: None,
                settings: h.settings(),
            };
            (h, lite)
        });
    if let Some(c) = cached {
        return Ok(c);
    }
    let default_cwd = std::env::var("HOME").unwrap_or_else(|_| "/".into());
    let k = key.to_string();
    let r: SessionRecord = app
        .pool
        .db
        .call(move |c| records::ensure(c, &k, &opts, &default_cwd))
        .await
        .map_err(db_error)?
        .map_err(|e| match e {
            RecordError::CwdConflict { .. } => Error::new("conflict", e.to_string()),
            e => db_error(e),
        })?;
    let lite = SessionRecordLite {
        session_id: r.session_id,
        fork_of: r.fork_of,
        settings: r.settings,
    };
    let h = task(app, key, &lite)?;
    Ok((h, lite))
}

/// What a session task is started from.
#[derive(Clone)]
pub struct SessionRecordLite {
    pub session_id: String,
    pub fork_of: Option<String>,
    pub settings: crate::settings::Settings,
}

/// The task of `key` (started if needed) with `r`'s settings.
pub fn task(app: &App, key: &str, r: &SessionRecordLite) -> Result<SessionHandle, Error> {
    app.pool
        .handle(key, &r.settings, || {
            session::start(
                app.pool.clone(),
                key.into(),
                r.session_id.clone(),
                r.fork_of.clone(),
                r.settings.clone(),
            )
        })
        .ok_or_else(|| Error::new("shutting_down", "the supervisor is shutting down"))
}
