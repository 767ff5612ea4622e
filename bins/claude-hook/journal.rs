//! Where claude-hook's complaints go: the systemd journal through its native socket, when
//! there is one, as a single datagram (no logging framework to start on the hot path).
//! Without a journal nothing is written: stderr would reach Claude Code's user.

use claude_daemons::claude::HookInput;
use std::os::unix::net::UnixDatagram;

const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// Log a warning, with the session and event as journal fields when known.
pub fn warn(message: &str, hook: Option<&HookInput>) {
    if !std::path::Path::new(JOURNAL_SOCKET).exists() {
        return;
    }
    let mut entry = String::from("PRIORITY=4\nSYSLOG_IDENTIFIER=claude-hook\n");
    if let Some(h) = hook {
        field(&mut entry, "SESSION_ID", &h.session_id);
        field(&mut entry, "HOOK_EVENT", &h.hook_event_name);
    }
    field(&mut entry, "MESSAGE", message);
    if let Ok(sock) = UnixDatagram::unbound() {
        let _ = sock.send_to(entry.as_bytes(), JOURNAL_SOCKET);
    }
}

/// One `NAME=value` line; the journal's simple form cannot carry newlines, so they become
/// spaces (and the line is bounded).
fn field(entry: &mut String, name: &str, value: &str) {
    let v: String = value
        .chars()
        .take(2000)
        .map(|c| if c == '\n' { ' ' } else { c })
        .collect();
    entry.push_str(name);
    entry.push('=');
    entry.push_str(&v);
    entry.push('\n');
}
