//! Resolving a parsed [`Address`] to a [`Resolved`] destination among the [`Peers`]: a
//! session id, a member's display name or key (prefix), refusing names two keys claim.

use crate::address::{is_key_prefix, Address, Resolved};
use crate::bindings::Kind;
use crate::peers::{Peers, ResolveError};
use claude_daemons::api::mesh::Peer;

impl Peers {
    /// Resolve a parsed destination.
    pub fn resolve(&self, addr: &Address) -> Result<Resolved, ResolveError> {
        match addr {
            Address::Broadcast => Ok(Resolved::Broadcast),
            Address::Group(g) => Ok(Resolved::Group(g.clone())),
            Address::Topic(t) => Ok(Resolved::Topic(t.clone())),
            Address::Session(s) => self
                .by_session(s)?
                .ok_or_else(|| ResolveError::Unknown(format!("session:{s}"))),
            Address::Peer(s) => self.resolve_peer(s),
        }
    }

    /// A session id resolves to the member that signed its record — the first one seen
    /// signing it ([`bindings`]), whatever other keys claim it later.
    fn by_session(&self, s: &str) -> Result<Option<Resolved>, ResolveError> {
        let direct = |key: String| {
            Some(Resolved::Direct {
                key,
                session: Some(s.into()),
            })
        };
        if self.local(s).is_some() {
            return Ok(direct(self.me.clone()));
        }
        if let Some(bound) = self.bindings.bound(Kind::Session, s) {
            return Ok(self.admits(&bound).then_some(bound).and_then(direct));
        }
        let remote = self.remote.read().unwrap_or_else(|p| p.into_inner());
        let mut keys: Vec<String> = remote
            .values()
            .filter(|(p, _)| p.session_id == s)
            .map(|(p, _)| p.key.clone())
            .collect();
        keys.sort();
        keys.dedup();
        match keys.len() {
            0 => Ok(None),
            1 => Ok(keys.pop().and_then(direct)),
            _ => Err(ResolveError::Ambiguous(
                format!("session:{s}"),
                keys.iter().map(|k| format!("{k}/{s}")).collect(),
            )),
        }
    }

    fn resolve_peer(&self, s: &str) -> Result<Resolved, ResolveError> {
        if let Some(r) = self.by_session(s)? {
            return Ok(r);
        }
        let all = self.all();
        let named: Vec<&Peer> = all.iter().filter(|p| p.name == s).collect();
        // A member's display name names the member as a whole, whether or not it runs
        // sessions (its inbox holds the message for its next session).
        let members = self.records.named(s);
        let candidates = || -> Vec<String> {
            let mut c: Vec<String> = named
                .iter()
                .map(|p| format!("{}/{}", p.key, p.session_id))
                .collect();
            c.extend(members.iter().cloned());
            c
        };
        // A name bound to one key and claimed by another is never resolved to either.
        if let Some(bound) = self
            .bindings
            .bound(Kind::Name, s)
            .filter(|b| named.iter().any(|p| &p.key != b) || members.iter().any(|k| k != b))
        {
            let mut c = candidates();
            if !c.iter().any(|x| x.starts_with(bound.as_str())) {
                c.push(bound.clone());
            }
            return Err(ResolveError::Contested(s.into(), bound, c));
        }
        let mut keys: Vec<&String> = named.iter().map(|p| &p.key).chain(&members).collect();
        keys.sort();
        keys.dedup();
        if keys.len() > 1 {
            return Err(ResolveError::Ambiguous(s.into(), candidates()));
        }
        match (named.as_slice(), members.as_slice()) {
            ([one], _) => {
                return Ok(Resolved::Direct {
                    key: one.key.clone(),
                    session: Some(one.session_id.clone()),
                })
            }
            (_, [key]) => {
                if !self.admits(key) {
                    return Err(ResolveError::NotMember(key.clone()));
                }
                return Ok(Resolved::Direct {
                    key: key.clone(),
                    session: None,
                });
            }
            ([], []) => {}
            _ => return Err(ResolveError::Ambiguous(s.into(), candidates())),
        }
        // A member known by name from an earlier record, whose record is gone (away longer
        // than the presence bucket keeps it, or not read again since a restart): the name
        // stays bound to its key, and its consumer will hold the message.
        if let Some(bound) = self.bindings.bound(Kind::Name, s) {
            if self.broker_mode && self.admits(&bound) {
                return Ok(Resolved::Direct {
                    key: bound,
                    session: None,
                });
            }
        }
        if is_key_prefix(s) {
            let s = s.to_ascii_lowercase();
            let mut keys: Vec<String> = std::iter::once(self.me.clone())
                .chain(all.iter().map(|p| p.key.clone()))
                .filter(|k| k.starts_with(&s))
                .collect();
            keys.sort();
            keys.dedup();
            match keys.as_slice() {
                [one] => {
                    return Ok(Resolved::Direct {
                        key: one.clone(),
                        session: None,
                    })
                }
                [] if s.len() == 64
                    && self.broker_mode
                    && crate::identity::parse_public(&s).is_some() =>
                {
                    if !self.admits(&s) {
                        return Err(ResolveError::NotMember(s));
                    }
                    // A member we have not seen yet: its key is enough to encrypt to it, and
                    // its durable consumer will receive the message when it comes online.
                    return Ok(Resolved::Direct {
                        key: s,
                        session: None,
                    });
                }
                [] => {}
                many => return Err(ResolveError::Ambiguous(s, many.to_vec())),
            }
        }
        Err(ResolveError::Unknown(s.into()))
    }
}
