//! Which daemons an event goes to, and what Claude Code reads back. Today only claude-memd;
//! the mesh daemon's call (status, unread messages as context) joins here as a second step
//! whose context is appended to memd's.

use crate::{journal, memd};
use claude_daemons::claude::{HookInput, HookOutput};
use claude_daemons::config::Config;
use claude_daemons::paths::Paths;

/// Forward `hook` (its raw bytes are `raw`) and build the output to print.
pub fn dispatch(hook: &HookInput, raw: &[u8]) -> Option<String> {
    let event = hook.event().ok()?;
    if !memd::wants(event) {
        return None;
    }
    let paths = Paths::from_env();
    let config = Config::load(&paths.config_file).unwrap_or_else(|e| {
        journal::warn(&format!("{e}; using defaults"), Some(hook));
        Config::default()
    });
    let mut contexts: Vec<String> = Vec::new();
    match memd::forward(&paths, &config.memory, event, raw) {
        Ok(Some(ctx)) => contexts.push(ctx),
        Ok(None) => {}
        Err(e) => journal::warn(&format!("claude-memd: {e}"), Some(hook)),
    }
    if contexts.is_empty() || !event.takes_context() {
        return None;
    }
    let out = HookOutput::additional_context(event, contexts.join("\n\n"));
    serde_json::to_string(&out).ok()
}
