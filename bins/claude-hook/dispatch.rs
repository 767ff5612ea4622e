//! Which daemons an event goes to, and what Claude Code reads back: claude-memd records the
//! event (and gives the memory context at SessionStart), claude-meshd tracks the session and
//! gives its unread messages. Both calls run at the same time, so the hook costs the slower
//! of the two, not their sum; memory's context comes first.

use crate::{journal, memd, meshd};
use claude_daemons::claude::{HookInput, HookOutput};
use claude_daemons::config::Config;
use claude_daemons::paths::Paths;
use std::time::Instant;

/// Forward `hook` (its raw bytes are `raw`; the hook started at `started`) and build the
/// output to print.
pub fn dispatch(hook: &HookInput, raw: &[u8], started: Instant) -> Option<String> {
    let event = hook.event().ok()?;
    let recall = memd::recalls_file(event, hook);
    let paths = Paths::from_env();
    // No mesh socket means no mesh here: one `stat`, and no thread for it.
    let (to_memd, to_meshd) = (
        memd::wants(event),
        meshd::wants(event) && meshd::present(&paths),
    );
    if !to_memd && !to_meshd && !recall {
        return None;
    }
    let config = Config::load(&paths.config_file).unwrap_or_else(|e| {
        journal::warn(&format!("{e}; using defaults"), Some(hook));
        Config::default()
    });
    if recall {
        // Before a Read or Edit: only what memory knows of that file, nothing stored.
        return match memd::recall_file(&paths, &config.memory, hook, started) {
            Ok(Some(ctx)) => {
                serde_json::to_string(&HookOutput::additional_context(event, ctx)).ok()
            }
            Ok(None) => None,
            Err(e) => {
                journal::warn(&format!("claude-memd: {e}"), Some(hook));
                None
            }
        };
    }
    let memory = || to_memd.then(|| memd::forward(&paths, &config.memory, event, raw, started));
    let (memory, mesh) = if to_meshd {
        std::thread::scope(|s| {
            let mesh = s.spawn(|| meshd::forward(&paths, &config.mesh, hook, event));
            (memory(), Some(mesh.join()))
        })
    } else {
        (memory(), None)
    };
    let mut contexts: Vec<String> = Vec::new();
    match memory {
        Some(Ok(Some(ctx))) => contexts.push(ctx),
        Some(Err(e)) => journal::warn(&format!("claude-memd: {e}"), Some(hook)),
        _ => {}
    }
    match mesh {
        Some(Ok(Ok(Some(ctx)))) => contexts.push(ctx),
        Some(Ok(Err(e))) => journal::warn(&format!("claude-meshd: {e}"), Some(hook)),
        Some(Err(_)) => journal::warn("claude-meshd: the call panicked", Some(hook)),
        _ => {}
    }
    if contexts.is_empty() || !event.takes_context() {
        return None;
    }
    let out = HookOutput::additional_context(event, contexts.join("\n\n"));
    serde_json::to_string(&out).ok()
}
