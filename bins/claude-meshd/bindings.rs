//! Which member key a display name or a session id belongs to, learnt on first sight of a
//! signed presence record and kept in mesh.db (table `bindings`), so that neither a restart
//! nor a deleted presence record lets another member take a name or a session over.
//!
//! A second key claiming a bound name makes the name ambiguous (the send answers 409 with
//! both candidates); a second key claiming a bound session id is ignored for `session:`
//! addresses. A binding lapses after [`LAPSE_DAYS`] without a record from its key that
//! claims it (a member that moved to a new key, a name given up).

use crate::clock::{now_ms, now_text};
use rusqlite::{params, Connection};
use std::collections::HashMap;
use std::sync::RwLock;

/// Days without a claiming record after which a binding is forgotten.
pub const LAPSE_DAYS: i64 = 30;

/// Most bindings kept; the least recently confirmed go first.
const MAX_BINDINGS: usize = 20_000;

/// A confirmation is written to the database at most this often per binding.
const REFRESH_MS: i64 = 3_600_000;

const LAPSE_MS: i64 = LAPSE_DAYS * 86_400_000;

/// What is bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A display name.
    Name,
    /// A session id.
    Session,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Name => "name",
            Kind::Session => "session",
        }
    }
}

#[derive(Clone, Debug)]
struct Binding {
    key: String,
    confirmed_ms: i64,
}

/// A database change to make after [`Bindings::observe`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    kind: Kind,
    value: String,
    key: String,
    confirmed_ms: i64,
}

/// What an observation found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// Bound to this key (now, or before).
    Same,
    /// Bound to another key: `bound` keeps it.
    Other {
        /// The key the value is bound to.
        bound: String,
    },
}

/// The bindings, in memory; [`store`] persists what [`Bindings::observe`] returns.
#[derive(Default)]
pub struct Bindings(RwLock<HashMap<(Kind, String), Binding>>);

impl Bindings {
    /// Load the bindings that have not lapsed.
    pub fn load(conn: &Connection) -> rusqlite::Result<Bindings> {
        let mut stmt = conn.prepare(
            "SELECT kind, value, key, confirmed_ms FROM bindings WHERE confirmed_ms >= ?1",
        )?;
        let rows = stmt.query_map([now_ms() - LAPSE_MS], |r| {
            let kind: String = r.get(0)?;
            Ok((
                (
                    if kind == "name" {
                        Kind::Name
                    } else {
                        Kind::Session
                    },
                    r.get::<_, String>(1)?,
                ),
                Binding {
                    key: r.get(2)?,
                    confirmed_ms: r.get(3)?,
                },
            ))
        })?;
        Ok(Bindings(RwLock::new(rows.collect::<Result<_, _>>()?)))
    }

    /// The key `value` is bound to, if any.
    pub fn bound(&self, kind: Kind, value: &str) -> Option<String> {
        let m = self.0.read().unwrap_or_else(|p| p.into_inner());
        m.get(&(kind, value.to_string()))
            .filter(|b| b.confirmed_ms >= now_ms() - LAPSE_MS)
            .map(|b| b.key.clone())
    }

    /// `key` signed a record claiming `value`: bind it on first sight, confirm it when it is
    /// the bound key. Returns what was found and what to write.
    pub fn observe(&self, kind: Kind, value: &str, key: &str) -> (Seen, Option<Write>) {
        let now = now_ms();
        let mut m = self.0.write().unwrap_or_else(|p| p.into_inner());
        let id = (kind, value.to_string());
        let write = |confirmed_ms| Write {
            kind,
            value: value.into(),
            key: key.into(),
            confirmed_ms,
        };
        match m.get_mut(&id) {
            Some(b) if b.confirmed_ms >= now - LAPSE_MS && b.key != key => (
                Seen::Other {
                    bound: b.key.clone(),
                },
                None,
            ),
            Some(b) if b.key == key => {
                if now - b.confirmed_ms < REFRESH_MS {
                    return (Seen::Same, None);
                }
                b.confirmed_ms = now;
                (Seen::Same, Some(write(now)))
            }
            _ => {
                if m.len() >= MAX_BINDINGS && !m.contains_key(&id) {
                    if let Some(oldest) = m
                        .iter()
                        .min_by_key(|(_, b)| b.confirmed_ms)
                        .map(|(k, _)| k.clone())
                    {
                        m.remove(&oldest);
                    }
                }
                m.insert(
                    id,
                    Binding {
                        key: key.into(),
                        confirmed_ms: now,
                    },
                );
                (Seen::Same, Some(write(now)))
            }
        }
    }
}

/// Persist observations (a lapsed binding is replaced).
pub fn store(conn: &Connection, writes: &[Write]) -> rusqlite::Result<()> {
    let now = now_text();
    for w in writes {
        conn.prepare_cached(
            "INSERT INTO bindings (kind, value, key, first_seen_at, confirmed_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (kind, value) DO UPDATE SET
                 first_seen_at = CASE WHEN key = ?3 THEN first_seen_at ELSE ?4 END,
                 key = ?3, confirmed_ms = ?5",
        )?
        .execute(params![
            w.kind.as_str(),
            w.value,
            w.key,
            now,
            w.confirmed_ms
        ])?;
    }
    Ok(())
}

/// Forget lapsed bindings, and the least recently confirmed beyond the limit.
pub fn prune(conn: &Connection) -> rusqlite::Result<usize> {
    let lapsed = conn.execute(
        "DELETE FROM bindings WHERE confirmed_ms < ?1",
        [now_ms() - LAPSE_MS],
    )?;
    let over = conn.execute(
        "DELETE FROM bindings WHERE rowid IN (SELECT rowid FROM bindings
             ORDER BY confirmed_ms DESC LIMIT -1 OFFSET ?1)",
        [MAX_BINDINGS as i64],
    )?;
    Ok(lapsed + over)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_key_keeps_the_name_across_a_restart() {
        let (_dir, conn) = crate::schema::test_db();
        let b = Bindings::default();
        let (seen, w) = b.observe(Kind::Name, "alice", "ka");
        assert_eq!(seen, Seen::Same);
        store(&conn, &[w.unwrap()]).unwrap();
        assert_eq!(b.observe(Kind::Name, "alice", "ka"), (Seen::Same, None));
        let (seen, w) = b.observe(Kind::Name, "alice", "kx");
        assert_eq!(seen, Seen::Other { bound: "ka".into() });
        assert!(w.is_none(), "never a silent switch");

        let again = Bindings::load(&conn).unwrap();
        assert_eq!(again.bound(Kind::Name, "alice").as_deref(), Some("ka"));
        assert_eq!(again.bound(Kind::Session, "alice"), None);
        assert!(matches!(
            again.observe(Kind::Name, "alice", "kx").0,
            Seen::Other { .. }
        ));

        // Lapsed: the next claimant binds it.
        conn.execute("UPDATE bindings SET confirmed_ms = 0", [])
            .unwrap();
        let lapsed = Bindings::load(&conn).unwrap();
        assert_eq!(lapsed.bound(Kind::Name, "alice"), None);
        let (seen, w) = lapsed.observe(Kind::Name, "alice", "kx");
        assert_eq!(seen, Seen::Same);
        store(&conn, &[w.unwrap()]).unwrap();
        assert_eq!(prune(&conn).unwrap(), 0);
        let key: String = conn
            .query_row("SELECT key FROM bindings", [], |r| r.get(0))
            .unwrap();
        assert_eq!(key, "kx");
    }
}
