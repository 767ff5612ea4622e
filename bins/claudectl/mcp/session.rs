//! Which Claude Code session this MCP server serves. Claude Code passes no session id to MCP
//! servers, so: an environment variable when one is set, else the mesh peer that claude-hook
//! registered for the `claude` process that started us (matched on its pid).

use claude_daemons::api::mesh::Peer;

/// Environment variables that may carry the session id, most specific first.
pub const SESSION_ENV: &[&str] = &["CLAUDE_SESSION_ID", "CLAUDE_CODE_SESSION_ID"];

/// The session, and how it was found (told to the model when it matters).
#[derive(Clone, Debug, PartialEq)]
pub enum Session {
    /// From an environment variable or a mesh peer.
    Known { id: String, how: String },
    /// Why it could not be told.
    Unknown(String),
}

impl Session {
    pub fn id(&self) -> Option<&str> {
        match self {
            Session::Known { id, .. } => Some(id),
            Session::Unknown(_) => None,
        }
    }

    /// One line for a tool result.
    pub fn note(&self) -> String {
        match self {
            Session::Known { id, how } => format!("session {id} ({how})"),
            Session::Unknown(why) => format!("session unknown: {why}"),
        }
    }
}

/// From the environment, if set.
pub fn from_env() -> Option<Session> {
    SESSION_ENV.iter().find_map(|var| {
        std::env::var(var)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(|id| Session::Known {
                id: id.trim().to_string(),
                how: format!("from ${var}"),
            })
    })
}

/// Our parent process: the `claude` that spawned this stdio server.
pub fn parent_pid() -> u32 {
    std::os::unix::process::parent_id()
}

/// The parent of `pid`, from /proc (Linux); `None` elsewhere or when it is gone.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: parse after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// The local peer registered for the process `claude_pid`: claude-hook registers its own
/// parent, which is `claude` itself or a shell `claude` ran the hook through. The newest
/// registration wins (a `/clear` makes a new session in the same process).
pub fn match_peer(peers: &[Peer], claude_pid: u32) -> Session {
    let mut mine: Vec<&Peer> = peers
        .iter()
        .filter(|p| p.local)
        .filter(|p| {
            p.pid
                .is_some_and(|pid| pid == claude_pid || parent_of(pid) == Some(claude_pid))
        })
        .collect();
    mine.sort_by(|a, b| b.last_seen_at.cmp(&a.last_seen_at));
    match mine.first() {
        Some(p) => Session::Known {
            id: p.session_id.clone(),
            how: format!("the mesh peer registered for Claude Code pid {claude_pid}"),
        },
        None => Session::Unknown(format!(
            "no mesh peer is registered for Claude Code pid {claude_pid} (claude-hook \
             registers one at SessionStart: is it installed? `claudectl install`), and \
             $CLAUDE_SESSION_ID is not set"
        )),
    }
}
