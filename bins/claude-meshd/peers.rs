//! Who can be messaged: this daemon's Claude sessions (registered by hooks, kept in the
//! `sessions` table) and, in broker mode, other members' sessions seen through presence.
//! Resolving an address among them is `resolve.rs`.

use crate::address::valid_name;
use crate::bindings::{self, Bindings, Kind, Seen};
use crate::clock::now_text;
use crate::fields;
use crate::inbox::Membership;
use crate::member_records::MemberRecords;
use claude_daemons::api::mesh::{Member, Peer, PeerRegistration, Profile};
use rusqlite::{params, Connection};
use std::collections::HashMap;
use std::sync::RwLock;

/// Why a destination did not resolve.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResolveError {
    /// Nobody by that address.
    #[error("no peer matches {0:?}")]
    Unknown(String),
    /// More than one peer matches.
    #[error("{0:?} matches more than one peer; use a session id or a longer key prefix")]
    Ambiguous(String, Vec<String>),
    /// A name first seen with one member key is now claimed by another.
    #[error(
        "{0:?} was first seen with member key {1} and is now claimed by another key too; \
         use session:<id> or a key prefix"
    )]
    Contested(String, String, Vec<String>),
    /// A member key outside `[mesh] members`.
    #[error("{0} is not a member of this mesh ([mesh] members)")]
    NotMember(String),
}

/// Most remote sessions kept per member key; its least recently heard go first.
pub const MAX_PER_MEMBER: usize = 256;

/// Most remote sessions kept in all; the least recently heard go first.
pub const MAX_REMOTE: usize = 4096;

/// What [`Peers::upsert_remote`] did.
#[derive(Debug, PartialEq)]
pub enum Upsert {
    /// Older than what is known of that session: ignored.
    Stale,
    /// Stored.
    Stored {
        /// `peer_join` (new, or back online), `peer_leave` (it said it left) or none.
        change: Option<&'static str>,
        /// Sessions dropped to stay within the bounds.
        evicted: Vec<Peer>,
    },
}

/// A different key claimed a bound name or session.
#[derive(Debug, PartialEq, Eq)]
pub struct Conflict {
    /// Name or session.
    pub kind: Kind,
    /// The name or session id.
    pub value: String,
    /// The key it stays bound to.
    pub bound: String,
}

/// The registry.
pub struct Peers {
    pub(crate) me: String,
    local: RwLock<HashMap<String, Peer>>,
    pub(crate) remote: RwLock<HashMap<(String, String), (Peer, i64)>>,
    pub(crate) bindings: Bindings,
    members: Vec<String>,
    pub(crate) broker_mode: bool,
    pub(crate) records: MemberRecords,
}

fn alive(pid: Option<u32>) -> bool {
    // SAFETY: kill with signal 0 only checks that the process exists.
    // 0 and values past i32::MAX would make kill(2) address process groups and always
    // succeed: such a pid says nothing, as if none was given.
    pid.filter(|p| (1..=i32::MAX as u32).contains(p)).is_none_or(|p| unsafe { libc::kill(p as i32, 0) } == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
}

/// Forget this daemon's sessions that are gone — they left, or their process is no more —
/// and were last seen `days` ago: such a session will not be messaged again, and every
/// remembered one costs memory and a line in `peers` for the daemon's whole life. A session
/// still running is kept however quiet it has been (its groups and topics with it).
pub fn prune(conn: &Connection, days: u32) -> rusqlite::Result<usize> {
    let cutoff = crate::clock::text(crate::clock::now_ms() - i64::from(days) * 86_400_000);
    let old: Vec<(String, Option<u32>, Option<String>)> = conn
        .prepare("SELECT session_id, pid, left_at FROM sessions WHERE last_seen_at < ?1")?
        .query_map([cutoff], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let mut forgotten = 0;
    for (session, pid, left) in old {
        if left.is_some() || pid.is_none_or(|p| !alive(Some(p))) {
            forgotten += conn.execute("DELETE FROM sessions WHERE session_id = ?1", [session])?;
        }
    }
    Ok(forgotten)
}

impl Peers {
    /// Load this daemon's sessions and the bindings from the database. `members` is the
    /// allow-list of member keys (lower-case hex; empty: every key).
    pub fn load(
        conn: &Connection,
        me: &str,
        broker_mode: bool,
        members: Vec<String>,
    ) -> rusqlite::Result<Peers> {
        let mut stmt = conn.prepare(
            "SELECT session_id, name, cwd, hostname, pid, groups, topics, profile,
                 last_seen_at, left_at FROM sessions",
        )?;
        let rows = stmt.query_map([], |r| {
            let json = |i: usize| -> rusqlite::Result<String> { r.get(i) };
            let pid: Option<u32> = r.get(4)?;
            let left: Option<String> = r.get(9)?;
            Ok(Peer {
                key: me.to_string(),
                session_id: r.get(0)?,
                name: r.get(1)?,
                cwd: r.get(2)?,
                hostname: r.get(3)?,
                pid,
                groups: serde_json::from_str(&json(5)?).unwrap_or_default(),
                topics: serde_json::from_str(&json(6)?).unwrap_or_default(),
                profile: serde_json::from_str(&json(7)?).unwrap_or_default(),
                local: true,
                online: left.is_none() && alive(pid),
                last_seen_at: r.get(8)?,
                channel: false,
            })
        })?;
        let mut local = HashMap::new();
        for p in rows {
            let p = p?;
            local.insert(p.session_id.clone(), p);
        }
        Ok(Peers {
            me: me.into(),
            local: RwLock::new(local),
            remote: RwLock::new(HashMap::new()),
            bindings: Bindings::load(conn)?,
            members,
            broker_mode,
            records: MemberRecords::new(me, "", None),
        })
    }

    /// Set this member's display name and host (what its own member record says).
    pub fn set_me(&mut self, name: &str, hostname: Option<String>) {
        self.records = MemberRecords::new(&self.me, name, hostname);
    }

    /// This member, as its own record announces it.
    pub fn me_member(&self) -> Member {
        self.records.me()
    }

    /// Other members' own records.
    pub fn records(&self) -> &MemberRecords {
        &self.records
    }

    /// A verified member record claims its display name for its key (see [`Peers::observe`]).
    pub fn observe_member(&self, m: &Member) -> (Option<Conflict>, Option<bindings::Write>) {
        let (seen, write) = self.bindings.observe(Kind::Name, &m.name, &m.key);
        let conflict = match seen {
            Seen::Other { bound } => Some(Conflict {
                kind: Kind::Name,
                value: m.name.clone(),
                bound,
            }),
            Seen::Same => None,
        };
        (conflict, write)
    }

    /// Every member known — this one first, then others by name — each with its sessions
    /// (online ones unless `all`). A member seen only through its sessions' records (an
    /// older release) is listed under its key.
    pub fn member_list(&self, all: bool) -> Vec<Member> {
        let mut out = vec![self.records.me()];
        out.extend(self.records.others());
        for p in self.all() {
            if !all && !p.online {
                continue;
            }
            if !out.iter().any(|m| m.key == p.key) {
                out.push(Member {
                    key: p.key.clone(),
                    name: p.key.chars().take(8).collect(),
                    hostname: p.hostname.clone(),
                    local: false,
                    online: p.online,
                    last_seen_at: p.last_seen_at.clone(),
                    sessions: Vec::new(),
                    grouped: false,
                });
            }
            if let Some(m) = out.iter_mut().find(|m| m.key == p.key) {
                m.sessions.push(p);
            }
        }
        out
    }

    /// Whether `key` may appear as a peer and exchange messages: this member, or any key
    /// when there is no `[mesh] members` list, or a key on it.
    pub fn admits(&self, key: &str) -> bool {
        self.members.is_empty() || key == self.me || self.members.iter().any(|m| m == key)
    }

    /// Register or refresh a session; returns the peer and whether it just joined.
    pub fn register(
        &self,
        conn: &Connection,
        reg: &PeerRegistration,
        default_name: &str,
    ) -> Result<(Peer, bool), String> {
        fields::session_id(&reg.session_id)?;
        fields::place(reg.hostname.as_deref(), reg.cwd.as_deref())?;
        let clean = |list: &[String], sigil: char| -> Result<Vec<String>, String> {
            let mut out: Vec<String> = Vec::new();
            for g in list {
                let g = g.trim_start_matches(sigil);
                if !valid_name(g) {
                    return Err(format!("bad group or topic name {g:?}"));
                }
                if !out.iter().any(|x| x == g) {
                    out.push(g.to_string());
                }
            }
            Ok(out)
        };
        let groups = clean(&reg.groups, '@')?;
        let topics = clean(&reg.topics, '#')?;
        if groups.len() > fields::MAX_LIST || topics.len() > fields::MAX_LIST {
            return Err(format!(
                "at most {} groups and {0} topics",
                fields::MAX_LIST
            ));
        }
        let name = match &reg.name {
            Some(n) => {
                fields::name(n)?;
                n.trim().to_string()
            }
            None => default_session_name(default_name, &reg.session_id),
        };
        let now = now_text();
        let mut local = self.local.write().unwrap_or_else(|p| p.into_inner());
        let previous = local.get(&reg.session_id).cloned();
        let profile = previous
            .as_ref()
            .map(|p| p.profile.clone())
            .unwrap_or(Profile {
                visible: true,
                ..Profile::default()
            });
        let peer = Peer {
            key: self.me.clone(),
            session_id: reg.session_id.clone(),
            name,
            cwd: reg.cwd.clone(),
            hostname: reg.hostname.clone(),
            pid: reg.pid,
            groups,
            topics,
            profile,
            local: true,
            online: true,
            last_seen_at: now.clone(),
            channel: false,
        };
        conn.execute(
            "INSERT INTO sessions (session_id, name, cwd, hostname, pid, groups, topics, profile,
                 registered_at, last_seen_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)
             ON CONFLICT (session_id) DO UPDATE SET name = ?2, cwd = ?3, hostname = ?4,
                 pid = ?5, groups = ?6, topics = ?7, last_seen_at = ?9, left_at = NULL",
            params![
                peer.session_id,
                peer.name,
                peer.cwd,
                peer.hostname,
                peer.pid,
                serde_json::to_string(&peer.groups).unwrap_or_default(),
                serde_json::to_string(&peer.topics).unwrap_or_default(),
                serde_json::to_string(&peer.profile).unwrap_or_default(),
                now,
            ],
        )
        .map_err(|e| e.to_string())?;
        let joined = previous.is_none_or_offline();
        local.insert(peer.session_id.clone(), peer.clone());
        Ok((peer, joined))
    }

    /// A session leaves (SessionEnd). Returns it if it was online.
    pub fn leave(&self, conn: &Connection, session: &str) -> rusqlite::Result<Option<Peer>> {
        let mut local = self.local.write().unwrap_or_else(|p| p.into_inner());
        let Some(p) = local.get_mut(session) else {
            return Ok(None);
        };
        conn.execute(
            "UPDATE sessions SET left_at = ?2 WHERE session_id = ?1",
            params![session, now_text()],
        )?;
        let was = p.online;
        p.online = false;
        Ok(was.then(|| p.clone()))
    }

    /// Change a session's profile; returns the new peer.
    pub fn set_profile(
        &self,
        conn: &Connection,
        session: &str,
        f: impl FnOnce(&mut Profile),
    ) -> rusqlite::Result<Option<Peer>> {
        let mut local = self.local.write().unwrap_or_else(|p| p.into_inner());
        let Some(p) = local.get_mut(session) else {
            return Ok(None);
        };
        f(&mut p.profile);
        // A status change (every prompt, every stop) is a sign of life.
        p.last_seen_at = now_text();
        conn.execute(
            "UPDATE sessions SET profile = ?2, last_seen_at = ?3 WHERE session_id = ?1",
            params![
                session,
                serde_json::to_string(&p.profile).unwrap_or_default(),
                p.last_seen_at
            ],
        )?;
        Ok(Some(p.clone()))
    }

    /// One local session.
    pub fn local(&self, session: &str) -> Option<Peer> {
        self.local
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(session)
            .cloned()
    }

    /// Local sessions.
    pub fn locals(&self) -> Vec<Peer> {
        let mut v: Vec<Peer> = self
            .local
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .map(|mut p| {
                // A session that died without SessionEnd is not online, whatever it said.
                p.online = p.online && alive(p.pid);
                p
            })
            .collect();
        v.sort_by(|a, b| a.session_id.cmp(&b.session_id));
        v
    }

    /// Everyone known: local sessions and remote presence.
    pub fn all(&self) -> Vec<Peer> {
        let mut v = self.locals();
        let mut r: Vec<Peer> = self
            .remote
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|(p, _)| p.clone())
            .collect();
        r.sort_by(|a, b| (&a.key, &a.session_id).cmp(&(&b.key, &b.session_id)));
        v.extend(r);
        v
    }

    /// A session's visibility facts.
    pub fn membership(&self, session: &str) -> Membership {
        let p = self.local(session);
        Membership {
            me: self.me.clone(),
            session: session.into(),
            groups: p.as_ref().map(|p| p.groups.clone()).unwrap_or_default(),
            topics: p.map(|p| p.topics).unwrap_or_default(),
        }
    }

    /// A verified remote record claims its name and session for its key: bind them on first
    /// sight. Returns the claims that conflict with earlier bindings (never switched), and
    /// what to write to the database.
    pub fn observe(&self, peer: &Peer) -> (Vec<Conflict>, Vec<bindings::Write>) {
        let mut conflicts = Vec::new();
        let mut writes = Vec::new();
        for (kind, value) in [(Kind::Name, &peer.name), (Kind::Session, &peer.session_id)] {
            let (seen, write) = self.bindings.observe(kind, value, &peer.key);
            if let Seen::Other { bound } = seen {
                conflicts.push(Conflict {
                    kind,
                    value: value.clone(),
                    bound,
                });
            }
            writes.extend(write);
        }
        (conflicts, writes)
    }

    /// Record a remote session's presence (with its heartbeat time), within the bounds:
    /// a new session past [`MAX_PER_MEMBER`] of its key or [`MAX_REMOTE`] in all pushes out
    /// the least recently heard. A record older than the one held is ignored (a replayed
    /// old record cannot bring back an old name or state).
    pub fn upsert_remote(&self, peer: Peer, heartbeat_ms: i64) -> Upsert {
        let mut remote = self.remote.write().unwrap_or_else(|p| p.into_inner());
        let k = (peer.key.clone(), peer.session_id.clone());
        let previous = remote.get(&k);
        if previous.is_some_and(|(_, hb)| *hb > heartbeat_ms) {
            return Upsert::Stale;
        }
        let was_online = previous.is_some_and(|(p, _)| p.online);
        let change = match (was_online, peer.online) {
            (false, true) => Some("peer_join"),
            (true, false) => Some("peer_leave"),
            _ => None,
        };
        let mut evicted = Vec::new();
        if previous.is_none() {
            let oldest = |remote: &HashMap<(String, String), (Peer, i64)>, key: Option<&str>| {
                remote
                    .iter()
                    .filter(|((k, _), _)| key.is_none_or(|key| k == key))
                    .min_by_key(|(_, (_, hb))| *hb)
                    .map(|(id, _)| id.clone())
            };
            let of_key = remote.keys().filter(|(key, _)| *key == peer.key).count();
            if of_key >= MAX_PER_MEMBER {
                evicted.extend(oldest(&remote, Some(&peer.key)).and_then(|id| remote.remove(&id)));
            }
            if remote.len() >= MAX_REMOTE {
                evicted.extend(oldest(&remote, None).and_then(|id| remote.remove(&id)));
            }
        }
        remote.insert(k, (peer, heartbeat_ms));
        Upsert::Stored {
            change,
            evicted: evicted.into_iter().map(|(p, _)| p).collect(),
        }
    }

    /// Mark remote sessions whose last heartbeat is older than `before_ms` offline; returns
    /// them (each is a `peer_leave`).
    pub fn expire_remote(&self, before_ms: i64) -> Vec<Peer> {
        let mut remote = self.remote.write().unwrap_or_else(|p| p.into_inner());
        let mut gone = Vec::new();
        for (p, hb) in remote.values_mut() {
            if p.online && *hb < before_ms {
                p.online = false;
                gone.push(p.clone());
            }
        }
        gone
    }
}

/// `<display name>-<first 8 characters of the session>`, within the name limit.
fn default_session_name(display_name: &str, session: &str) -> String {
    let tail: String = session.chars().take(8).collect();
    let mut head = display_name.to_string();
    while head.len() + 1 + tail.len() > fields::MAX_NAME {
        head.pop();
    }
    format!("{head}-{tail}")
}

trait OfflineExt {
    fn is_none_or_offline(&self) -> bool;
}

impl OfflineExt for Option<Peer> {
    fn is_none_or_offline(&self) -> bool {
        self.as_ref().is_none_or(|p| !p.online)
    }
}

#[cfg(test)]
#[path = "peers_tests.rs"]
pub(crate) mod tests;
