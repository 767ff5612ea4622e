//! The memory daemon's part: POST the payload to claude-memd's `/v1/hook` and, for
//! SessionStart, take the context from its answer.

use claude_daemons::api::memory::HookAck;
use claude_daemons::claude::HookEvent;
use claude_daemons::config::MemoryConfig;
use claude_daemons::http::UnixClient;
use claude_daemons::paths::{Daemon, Paths};
use std::time::Duration;

/// Whether claude-memd records this event (others are not sent at all).
pub fn wants(event: HookEvent) -> bool {
    !matches!(event, HookEvent::PreToolUse | HookEvent::Notification)
}

/// Send the payload; the context to inject, if the daemon gave one.
pub fn forward(
    paths: &Paths,
    config: &MemoryConfig,
    event: HookEvent,
    raw: &[u8],
) -> anyhow::Result<Option<String>> {
    let ms = if event == HookEvent::SessionStart {
        config.context_timeout_ms
    } else {
        config.hook_timeout_ms
    };
    let client =
        UnixClient::new(paths.socket(Daemon::Memd)).timeout(Duration::from_millis(ms.max(1)));
    let resp = client.post_json("/v1/hook", raw)?;
    if resp.status != 200 {
        anyhow::bail!(
            "HTTP {}: {}",
            resp.status,
            String::from_utf8_lossy(&resp.body)
                .chars()
                .take(300)
                .collect::<String>()
        );
    }
    let ack: HookAck = resp.json()?;
    Ok(ack.context.filter(|c| !c.is_empty()))
}
