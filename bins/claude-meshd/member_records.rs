//! Members as peers: every daemon announces its member (key, display name, host) in its own
//! signed presence record, whether or not it runs Claude sessions, so a member can be
//! listed and addressed by name while it has no session (its inbox holds the message).

use crate::clock::now_text;
use crate::peers::MAX_REMOTE;
use claude_daemons::api::mesh::Member;
use std::collections::HashMap;
use std::sync::RwLock;

/// This member and the others' latest records.
pub struct MemberRecords {
    me: String,
    name: String,
    host: Option<String>,
    /// Other members, with their heartbeat time.
    remote: RwLock<HashMap<String, (Member, i64)>>,
}

impl MemberRecords {
    /// This member `me` (key), shown as `name` on `host`.
    pub fn new(me: &str, name: &str, host: Option<String>) -> MemberRecords {
        MemberRecords {
            me: me.into(),
            name: name.into(),
            host,
            remote: RwLock::new(HashMap::new()),
        }
    }

    /// This member, as its record announces it.
    pub fn me(&self) -> Member {
        Member {
            key: self.me.clone(),
            name: self.name.clone(),
            hostname: self.host.clone(),
            local: true,
            online: true,
            last_seen_at: now_text(),
            sessions: Vec::new(),
            // This daemon opens grouped envelopes (see `receive`).
            grouped: true,
        }
    }

    /// Record another member's own record (heartbeat `heartbeat_ms`); returns `true` when it
    /// is new or came back online. Older records than the one held are ignored; past
    /// [`MAX_REMOTE`] members the least recently heard is forgotten.
    pub fn upsert(&self, m: Member, heartbeat_ms: i64) -> bool {
        let mut all = self.remote.write().unwrap_or_else(|p| p.into_inner());
        let previous = all.get(&m.key);
        if previous.is_some_and(|(_, hb)| *hb > heartbeat_ms) {
            return false;
        }
        let joined = m.online && !previous.is_some_and(|(p, _)| p.online);
        if previous.is_none() && all.len() >= MAX_REMOTE {
            if let Some(oldest) = all
                .iter()
                .min_by_key(|(_, (_, hb))| *hb)
                .map(|(k, _)| k.clone())
            {
                all.remove(&oldest);
            }
        }
        all.insert(m.key.clone(), (m, heartbeat_ms));
        joined
    }

    /// Mark members whose last heartbeat is older than `before_ms` offline; returns them.
    pub fn expire(&self, before_ms: i64) -> Vec<Member> {
        let mut all = self.remote.write().unwrap_or_else(|p| p.into_inner());
        let mut gone = Vec::new();
        for (m, hb) in all.values_mut() {
            if m.online && *hb < before_ms {
                m.online = false;
                gone.push(m.clone());
            }
        }
        gone
    }

    /// The other members, by name.
    pub fn others(&self) -> Vec<Member> {
        let mut v: Vec<Member> = self
            .remote
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|(m, _)| m.clone())
            .collect();
        v.sort_by(|a, b| (&a.name, &a.key).cmp(&(&b.name, &b.key)));
        v
    }

    /// Whether the member `key` takes grouped envelopes: this one does, another when its
    /// latest record says so (a member not heard from yet gets single messages).
    pub fn takes_groups(&self, key: &str) -> bool {
        key == self.me
            || self
                .remote
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .get(key)
                .is_some_and(|(m, _)| m.grouped)
    }

    /// Keys of the members whose display name is `name` (this one included).
    pub fn named(&self, name: &str) -> Vec<String> {
        let mut keys: Vec<String> = self
            .remote
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|(m, _)| m.name == name)
            .map(|(m, _)| m.key.clone())
            .collect();
        if self.name == name {
            keys.push(self.me.clone());
        }
        keys.sort();
        keys.dedup();
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(key: &str, name: &str) -> Member {
        Member {
            key: key.into(),
            name: name.into(),
            hostname: None,
            local: false,
            online: true,
            last_seen_at: String::new(),
            sessions: vec![],
            grouped: false,
        }
    }

    #[test]
    fn newer_records_win_and_silence_expires() {
        let r = MemberRecords::new("me", "alice", None);
        assert!(r.upsert(member("kb", "bob"), 10), "first sight joins");
        assert!(!r.upsert(member("kb", "bobby"), 5), "older: ignored");
        assert_eq!(r.others()[0].name, "bob");
        assert!(!r.upsert(member("kb", "bobby"), 20));
        assert_eq!(r.named("bobby"), vec!["kb".to_string()]);
        assert_eq!(r.named("alice"), vec!["me".to_string()]);
        assert_eq!(r.expire(15).len(), 0);
        assert_eq!(r.expire(25).len(), 1);
        assert!(!r.others()[0].online);
        assert!(
            r.upsert(member("kb", "bobby"), 30),
            "back online joins again"
        );
        assert!(r.takes_groups("me"));
        assert!(!r.takes_groups("kb"), "its record does not announce groups");
        assert!(!r.takes_groups("unknown"));
        let grouped = Member {
            grouped: true,
            ..member("kb", "bobby")
        };
        r.upsert(grouped, 40);
        assert!(r.takes_groups("kb"));
    }
}
