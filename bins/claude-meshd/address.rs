//! Destinations as written (`to`) and as resolved. Parsing is syntactic; resolving against
//! the known peers happens in [`crate::peers`].

/// A destination as the sender wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    /// `*`: every peer of the mesh.
    Broadcast,
    /// `@name`: members of a group.
    Group(String),
    /// `#name`: subscribers of a topic.
    Topic(String),
    /// `session:<id>`: exactly that Claude session.
    Session(String),
    /// Anything else: a session id, a display name, a member key or a key prefix.
    Peer(String),
}

/// A destination after resolution: what the fingerprint covers and the outbox stores.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolved {
    /// To a member (every session of it) or to one of its sessions.
    Direct {
        /// The member key (hex).
        key: String,
        /// The session, or `None` for the whole member.
        session: Option<String>,
    },
    /// Everyone.
    Broadcast,
    /// A group.
    Group(String),
    /// A topic.
    Topic(String),
}

impl Resolved {
    /// `dm`, `broadcast`, `group` or `topic`.
    pub fn kind(&self) -> &'static str {
        match self {
            Resolved::Direct { .. } => "dm",
            Resolved::Broadcast => "broadcast",
            Resolved::Group(_) => "group",
            Resolved::Topic(_) => "topic",
        }
    }

    /// The canonical destination text: `<key>` or `<key>/<session>`, `*`, `@g`, `#t`.
    pub fn canonical(&self) -> String {
        match self {
            Resolved::Direct { key, session: None } => key.clone(),
            Resolved::Direct {
                key,
                session: Some(s),
            } => format!("{key}/{s}"),
            Resolved::Broadcast => "*".into(),
            Resolved::Group(g) => format!("@{g}"),
            Resolved::Topic(t) => format!("#{t}"),
        }
    }
}

/// Why a `to` cannot be a destination.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AddressError {
    /// Empty or too long.
    #[error("`to` must be 1 to 256 characters")]
    Length,
    /// A group or topic name with characters a broker subject cannot carry.
    #[error("group and topic names are 1 to 64 of A-Z a-z 0-9 _ -")]
    BadName,
    /// Control characters or whitespace.
    #[error("`to` contains whitespace or control characters")]
    BadChars,
}

pub use claude_daemons::mesh::fields::valid_name;

/// Parse `to`.
pub fn parse(to: &str) -> Result<Address, AddressError> {
    if to.is_empty() || to.len() > 256 {
        return Err(AddressError::Length);
    }
    if to.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(AddressError::BadChars);
    }
    let named = |n: &str, f: fn(String) -> Address| {
        valid_name(n)
            .then(|| f(n.to_string()))
            .ok_or(AddressError::BadName)
    };
    if to == "*" {
        Ok(Address::Broadcast)
    } else if let Some(g) = to.strip_prefix('@') {
        named(g, Address::Group)
    } else if let Some(t) = to.strip_prefix('#') {
        named(t, Address::Topic)
    } else if let Some(s) = to.strip_prefix("session:") {
        Ok(Address::Session(s.to_string()))
    } else {
        Ok(Address::Peer(to.to_string()))
    }
}

/// Whether `s` could be a member key prefix (at least 8 hex digits).
pub fn is_key_prefix(s: &str) -> bool {
    (8..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!(parse("*"), Ok(Address::Broadcast));
        assert_eq!(parse("@ops"), Ok(Address::Group("ops".into())));
        assert_eq!(parse("#ci-news"), Ok(Address::Topic("ci-news".into())));
        assert_eq!(parse("session:abc"), Ok(Address::Session("abc".into())));
        assert_eq!(parse("alice"), Ok(Address::Peer("alice".into())));
        assert_eq!(parse(""), Err(AddressError::Length));
        assert_eq!(parse("@a.b"), Err(AddressError::BadName));
        assert_eq!(parse("#"), Err(AddressError::BadName));
        assert_eq!(parse("a b"), Err(AddressError::BadChars));
        assert!(is_key_prefix("deadbeef"));
        assert!(!is_key_prefix("deadbee"));
        assert!(!is_key_prefix("alice-01"));
    }

    #[test]
    fn canonical_forms() {
        let d = Resolved::Direct {
            key: "k".into(),
            session: Some("s".into()),
        };
        assert_eq!(d.canonical(), "k/s");
        assert_eq!(d.kind(), "dm");
        assert_eq!(Resolved::Group("g".into()).canonical(), "@g");
    }
}
