//! `claude-hook supervisor-stop`: the Stop hook of an interactive session that
//! claude-supervisord runs. The payload goes to the supervisor as is; the supervisor ends
//! the session's turn with it (`last_assistant_message`, `transcript_path`). Like every
//! hook here it never blocks Claude Code: one bounded round trip, exit 0 whatever happens.

use crate::journal;
use claude_daemons::api::memory::MAX_HOOK_BYTES;
use claude_daemons::http::UnixClient;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

/// The whole call's budget: the hook's own timeout in the settings is 10 s.
const BUDGET: Duration = Duration::from_secs(5);

pub fn stop(socket: &Path, key: &str) {
    let mut input = Vec::with_capacity(16 << 10);
    if std::io::stdin()
        .lock()
        .take(MAX_HOOK_BYTES as u64 + 1)
        .read_to_end(&mut input)
        .is_err()
        || input.len() > MAX_HOOK_BYTES
    {
        journal::warn("supervisor-stop: unreadable or oversized payload", None);
        return;
    }
    let path = format!("/v1/sessions/{key}/stop-hook");
    match UnixClient::new(socket)
        .timeout(BUDGET)
        .post_json(&path, &input)
    {
        Ok(r) if r.status < 300 => {}
        Ok(r) => journal::warn(
            &format!("supervisor-stop: {path} answered {}", r.status),
            None,
        ),
        Err(e) => journal::warn(&format!("supervisor-stop: {path}: {e}"), None),
    }
}
