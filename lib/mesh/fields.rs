//! Bounds and characters of the peer fields meshd takes in — from its own API (session
//! registration, profile changes) and from other members (presence records, message
//! senders). Everything here ends up printed by `claudectl` or injected into a Claude
//! session's context, so control characters (terminal escapes) are refused at the boundary,
//! and every field has a length limit so a record cannot grow without bound.

use super::envelope::{Envelope, Inner};
use crate::api::mesh::{Peer, Profile};

/// Whether `name` can be a group or topic name (it becomes one broker subject token).
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Whether `id` can be a client_message_id (it travels as the `Nats-Msg-Id` header).
pub fn valid_client_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Longest display name, in bytes.
pub const MAX_NAME: usize = 64;
/// Longest session id, in bytes.
pub const MAX_SESSION: usize = 128;
/// Longest host name, in bytes.
pub const MAX_HOSTNAME: usize = 255;
/// Longest working directory, in bytes.
pub const MAX_CWD: usize = 4096;
/// Longest summary, title or bio, in bytes.
pub const MAX_TEXT: usize = 4096;
/// Most groups, topics or capabilities of one session.
pub const MAX_LIST: usize = 64;
/// Longest capability, in bytes.
pub const MAX_CAPABILITY: usize = 128;

/// Whether `s` is one line without control characters (no ESC, BEL, CR, LF, DEL, C1).
pub fn one_line(s: &str) -> bool {
    !s.chars().any(char::is_control)
}

/// Whether `s` has no control characters other than line feed and tab.
pub fn text_block(s: &str) -> bool {
    !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t')
}

/// Check a display name: 1 to [`MAX_NAME`] bytes, one line, not blank.
pub fn name(n: &str) -> Result<(), String> {
    if n.trim().is_empty() || n.len() > MAX_NAME || !one_line(n) {
        return Err(format!(
            "name must be 1 to {MAX_NAME} bytes without control characters"
        ));
    }
    Ok(())
}

/// Check a session id: 1 to [`MAX_SESSION`] bytes, no whitespace, control characters or `/`.
pub fn session_id(s: &str) -> Result<(), String> {
    if s.is_empty()
        || s.len() > MAX_SESSION
        || s.chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '/')
    {
        return Err(format!(
            "session_id must be 1 to {MAX_SESSION} characters without spaces or '/'"
        ));
    }
    Ok(())
}

fn optional(what: &str, v: Option<&str>, max: usize, ok: fn(&str) -> bool) -> Result<(), String> {
    match v {
        Some(s) if s.len() > max => Err(format!("{what} is over {max} bytes")),
        Some(s) if !ok(s) => Err(format!("{what} contains control characters")),
        _ => Ok(()),
    }
}

/// Check where a session runs: host name and working directory.
pub fn place(hostname: Option<&str>, cwd: Option<&str>) -> Result<(), String> {
    optional("hostname", hostname, MAX_HOSTNAME, one_line)?;
    optional("cwd", cwd, MAX_CWD, one_line)
}

/// Check a profile's free-text fields and capabilities.
pub fn profile(p: &Profile) -> Result<(), String> {
    optional("summary", p.summary.as_deref(), MAX_TEXT, text_block)?;
    optional("title", p.title.as_deref(), MAX_TEXT, one_line)?;
    optional("bio", p.bio.as_deref(), MAX_TEXT, text_block)?;
    capabilities(&p.capabilities)
}

/// Check a list of capabilities.
pub fn capabilities(c: &[String]) -> Result<(), String> {
    if c.len() > MAX_LIST {
        return Err(format!("more than {MAX_LIST} capabilities"));
    }
    for x in c {
        optional("capability", Some(x), MAX_CAPABILITY, one_line)?;
    }
    Ok(())
}

/// Check everything of a peer another member announced.
pub fn peer(p: &Peer) -> Result<(), String> {
    name(&p.name)?;
    session_id(&p.session_id)?;
    place(p.hostname.as_deref(), p.cwd.as_deref())?;
    if p.groups.len() > MAX_LIST || p.topics.len() > MAX_LIST {
        return Err(format!("more than {MAX_LIST} groups or topics"));
    }
    if let Some(g) = p.groups.iter().chain(&p.topics).find(|g| !valid_name(g)) {
        return Err(format!("bad group or topic name {g:?}"));
    }
    if p.last_seen_at.len() > 64 || !one_line(&p.last_seen_at) {
        return Err("bad last_seen_at".into());
    }
    profile(&p.profile)
}

/// Check the fields of a message received from another member that claudectl and the hook
/// context show besides the (untrusted, fenced) body: the body's size, ids, sender name and
/// session, the destination for the envelope's kind, `reply_to` and the send time.
pub fn received(env: &Envelope, inner: &Inner) -> Result<(), String> {
    if inner.body.len() > crate::api::mesh::MAX_BODY_BYTES
        || !valid_client_id(&inner.client_message_id)
    {
        return Err("fields out of bounds".into());
    }
    name(&inner.from_name).map_err(|e| format!("from_name: {e}"))?;
    if let Some(s) = &inner.from_session {
        session_id(s).map_err(|e| format!("from_session: {e}"))?;
    }
    let to_ok = match env.kind.as_str() {
        "dm" => env
            .to
            .split_once('/')
            .is_none_or(|(_, s)| session_id(s).is_ok()),
        "group" => env.to.strip_prefix('@').is_some_and(valid_name),
        "topic" => env.to.strip_prefix('#').is_some_and(valid_name),
        _ => env.to == "*",
    };
    if !to_ok
        || inner
            .reply_to
            .as_deref()
            .is_some_and(|r| !valid_client_id(r))
        || inner.created_at.len() > 64
        || !one_line(&inner.created_at)
    {
        return Err("fields out of bounds".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_lengths_are_refused() {
        assert!(name("alice").is_ok());
        assert!(name("\u{1b}]0;owned\u{7}").is_err());
        assert!(name("a\u{9b}b").is_err(), "C1 CSI");
        assert!(name("  ").is_err());
        assert!(name(&"x".repeat(65)).is_err());
        assert!(session_id("abc-1").is_ok());
        assert!(session_id("a/b").is_err());
        let mut p = Profile {
            bio: Some("two\nlines\tok".into()),
            ..Profile::default()
        };
        assert!(profile(&p).is_ok());
        p.title = Some("a\nb".into());
        assert!(profile(&p).is_err(), "a title is one line");
        p.title = None;
        p.summary = Some("\u{1b}[2J".into());
        assert!(profile(&p).is_err());
        p.summary = None;
        p.capabilities = vec!["x".into(); 65];
        assert!(profile(&p).is_err());
        assert!(place(Some("h\u{7}"), None).is_err());
        assert!(place(Some("host"), Some("/tmp/a b")).is_ok());
    }
}
