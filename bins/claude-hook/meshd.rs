//! The mesh daemon's part: tell claude-meshd which Claude session this is and whether it is
//! working, and bring unread messages addressed to it into the session's context (claude-meshd
//! fences them and marks them as untrusted peer content; while the session works only `now`
//! messages come through).
//!
//! No mesh socket means no mesh here (not installed, or never started by hand): skipped
//! without a word, so machines without the mesh pay one `stat` per hook.

use claude_daemons::api::mesh::{
    ContextRequest, PeerRegistration, PeerStatus, SessionContext, StatusUpdate,
};
use claude_daemons::claude::{HookEvent, HookInput};
use claude_daemons::config::MeshConfig;
use claude_daemons::http::{Response, UnixClient};
use claude_daemons::paths::{Daemon, Paths};
use std::time::{Duration, Instant};

/// Whether claude-meshd has anything to do with this event.
pub fn wants(event: HookEvent) -> bool {
    matches!(
        event,
        HookEvent::SessionStart
            | HookEvent::UserPromptSubmit
            | HookEvent::PostToolUse
            | HookEvent::Stop
            | HookEvent::SessionEnd
    )
}

/// Whether claude-meshd is installed or running here (its socket exists).
pub fn present(paths: &Paths) -> bool {
    paths.socket(Daemon::Meshd).exists()
}

/// Do this event's calls; the context to inject, if any.
pub fn forward(
    paths: &Paths,
    config: &MeshConfig,
    hook: &HookInput,
    event: HookEvent,
) -> anyhow::Result<Option<String>> {
    let socket = paths.socket(Daemon::Meshd);
    // One deadline for all of this event's calls (some events make two).
    let deadline = Instant::now() + Duration::from_millis(config.hook_timeout_ms.max(1));
    let client = || -> anyhow::Result<UnixClient> {
        let left = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| anyhow::anyhow!("out of time ({} ms)", config.hook_timeout_ms))?;
        Ok(UnixClient::new(&socket).timeout(left))
    };
    let session = percent_encode(&hook.session_id);
    let post = |path: &str, body: &[u8]| -> anyhow::Result<Response> {
        checked(path, client()?.post_json(path, body)?)
    };
    let join = || -> anyhow::Result<()> {
        let registration = PeerRegistration {
            session_id: hook.session_id.clone(),
            name: None,
            cwd: Some(hook.cwd.clone()),
            hostname: hostname(),
            pid: Some(claude_pid()),
            groups: Vec::new(),
            topics: Vec::new(),
            extra: Default::default(),
        };
        post("/v1/peers", &serde_json::to_vec(&registration)?)?;
        Ok(())
    };
    // A session claude-meshd does not know (it started before the mesh was installed, or
    // was forgotten) joins at its next hook rather than failing — and logging — every call.
    let as_member = |path: &str, body: &[u8]| -> anyhow::Result<Response> {
        match client()?.post_json(path, body)? {
            resp if resp.status == 404 => {
                join()?;
                post(path, body)
            }
            resp => checked(path, resp),
        }
    };
    let context =
        |post: &dyn Fn(&str, &[u8]) -> anyhow::Result<Response>| -> anyhow::Result<Option<String>> {
            // The transcript lets claude-meshd see which channel pushes arrived.
            let req = ContextRequest {
                transcript_path: hook.transcript_path.clone(),
            };
            let ctx: SessionContext = post(
                &format!("/v1/sessions/{session}/context"),
                &serde_json::to_vec(&req)?,
            )?
            .json()?;
            Ok(Some(ctx.additional_context).filter(|c| !c.is_empty()))
        };
    let status = |status: PeerStatus| -> anyhow::Result<()> {
        as_member(
            &format!("/v1/sessions/{session}/status"),
            &serde_json::to_vec(&StatusUpdate { status })?,
        )?;
        Ok(())
    };
    match event {
        HookEvent::SessionStart => {
            join()?;
            context(&post)
        }
        HookEvent::UserPromptSubmit => {
            // Read while still idle, so `next` and `low` messages come with this prompt.
            let ctx = context(&as_member)?;
            status(PeerStatus::Working)?;
            Ok(ctx)
        }
        HookEvent::PostToolUse => context(&as_member),
        HookEvent::Stop => status(PeerStatus::Idle).map(|_| None),
        HookEvent::SessionEnd => {
            let resp = client()?.request("DELETE", &format!("/v1/peers/{session}"), &[], None)?;
            if resp.status >= 300 && resp.status != 404 {
                anyhow::bail!("leaving: HTTP {}", resp.status);
            }
            Ok(None)
        }
        _ => Ok(None),
    }
}

/// The answer, or an error naming the path, the status and the start of the reason.
fn checked(path: &str, resp: Response) -> anyhow::Result<Response> {
    if resp.status >= 300 {
        anyhow::bail!(
            "{path}: HTTP {}: {}",
            resp.status,
            String::from_utf8_lossy(&resp.body)
                .chars()
                .take(300)
                .collect::<String>()
        );
    }
    Ok(resp)
}

fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

/// Session ids are uuids; anything else is escaped rather than trusted into a URL path.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The `claude` process this hook runs for. Claude Code 2.1.329 runs a hook through
/// `sh -c`, a shell that exits with the hook: registering it would make the session look
/// gone at once (and `claudectl mcp` could not find its session by pid). A shell parent is
/// skipped for its own parent (Linux /proc; elsewhere the parent as it is).
fn claude_pid() -> u32 {
    let parent = std::os::unix::process::parent_id();
    let stat = std::fs::read_to_string(format!("/proc/{parent}/stat")).unwrap_or_default();
    let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
        return parent;
    };
    let comm = &stat[open + 1..close];
    let grandparent = stat[close + 1..]
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse::<u32>().ok());
    match grandparent {
        Some(g) if g > 1 && matches!(comm, "sh" | "bash" | "dash" | "zsh" | "ksh" | "fish") => g,
        _ => parent,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn session_ids_are_escaped_into_paths() {
        assert_eq!(super::percent_encode("3f1c-ab_9.x"), "3f1c-ab_9.x");
        assert_eq!(super::percent_encode("../x y"), "..%2Fx%20y");
    }
}
