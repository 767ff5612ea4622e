//! Persisted sessions: the caller's key mapped to a Claude session uuid and the settings its
//! process is started with. Survives restarts of the supervisor so the next ask resumes.

use crate::settings::{ChildKind, Extra, Settings};
use claude_daemons::api::supervisor::SessionOptions;
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::io::Read;

/// A session row.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionRecord {
    pub key: String,
    pub session_id: String,
    pub settings: Settings,
    /// The Claude session this one was forked from, until its own transcript exists.
    pub fork_of: Option<String>,
    pub turns: u64,
    pub total_cost_usd: f64,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("session {key} is bound to workspace {bound}; forget it (DELETE /v1/sessions/{key}?forget=true) to use {wanted}")]
    CwdConflict {
        key: String,
        bound: String,
        wanted: String,
    },
    #[error("session {0} already exists")]
    Exists(String),
    #[error("no session {0}")]
    NotFound(String),
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot make a session id: {0}")]
    Random(#[from] std::io::Error),
}

const COLUMNS: &str = "key, session_id, kind, cwd, model, permission_mode, allowed_tools, turns, total_cost_usd, created_at, updated_at, isolated, options, fork_of";

fn from_row(r: &Row<'_>) -> rusqlite::Result<SessionRecord> {
    let tools: String = r.get(6)?;
    let kind: String = r.get(2)?;
    Ok(SessionRecord {
        key: r.get(0)?,
        session_id: r.get(1)?,
        settings: Settings {
            kind: ChildKind::parse(&kind).unwrap_or_default(),
            cwd: r.get(3)?,
            model: r.get(4)?,
            permission_mode: r.get(5)?,
            allowed_tools: serde_json::from_str(&tools).unwrap_or_default(),
            isolated: r.get::<_, i64>(11)? != 0,
            extra: serde_json::from_str::<Extra>(&r.get::<_, String>(12)?).unwrap_or_default(),
        },
        fork_of: r.get(13)?,
        turns: r.get::<_, i64>(7)?.max(0) as u64,
        total_cost_usd: r.get(8)?,
        created_at: r.get(9)?,
        updated_at: r.get(10)?,
    })
}

pub fn get(conn: &Connection, key: &str) -> rusqlite::Result<Option<SessionRecord>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM sessions WHERE key = ?1"),
        [key],
        from_row,
    )
    .optional()
}

pub fn list(conn: &Connection) -> rusqlite::Result<Vec<SessionRecord>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM sessions ORDER BY key"))?;
    let rows = stmt.query_map([], from_row)?;
    rows.collect()
}

/// The session for `key`, created on first use (with a fresh uuid), its settings updated to
/// what `opts` names. One transaction, so two first asks agree on one uuid.
pub fn ensure(
    conn: &mut Connection,
    key: &str,
    opts: &SessionOptions,
    default_cwd: &str,
) -> Result<SessionRecord, RecordError> {
    let tx = conn.transaction()?;
    let record = match get(&tx, key)? {
        None => {
            insert(
                &tx,
                key,
                &new_uuid()?,
                &Settings::new(default_cwd, opts),
                None,
            )?;
            get(&tx, key)?.expect("row just inserted")
        }
        Some(mut r) => {
            if let Some(cwd) = &opts.cwd {
                if *cwd != r.settings.cwd {
                    return Err(RecordError::CwdConflict {
                        key: key.into(),
                        bound: r.settings.cwd,
                        wanted: cwd.clone(),
                    });
                }
            }
            let mut s = r.settings.clone();
            s.apply(opts);
            if s != r.settings {
                update(&tx, key, &s)?;
                r = get(&tx, key)?.expect("row exists");
            }
            r
        }
    };
    tx.commit()?;
    Ok(record)
}

fn insert(
    conn: &Connection,
    key: &str,
    session_id: &str,
    s: &Settings,
    fork_of: Option<&str>,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO sessions (key, session_id, kind, cwd, model, permission_mode, allowed_tools, isolated, options, fork_of)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            key,
            session_id,
            s.kind.as_str(),
            s.cwd,
            s.model,
            s.permission_mode,
            serde_json::to_string(&s.allowed_tools).expect("strings serialize"),
            s.isolated,
            serde_json::to_string(&s.extra).expect("options serialize"),
            fork_of,
        ],
    )?;
    Ok(())
}

/// Store `s` as the session's settings (the workspace is fixed).
pub fn update(conn: &Connection, key: &str, s: &Settings) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE sessions SET model = ?2, permission_mode = ?3, allowed_tools = ?4,
             isolated = ?5, options = ?6, kind = ?7, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE key = ?1",
        params![
            key,
            s.model,
            s.permission_mode,
            serde_json::to_string(&s.allowed_tools).expect("strings serialize"),
            s.isolated,
            serde_json::to_string(&s.extra).expect("options serialize"),
            s.kind.as_str(),
        ],
    )?;
    Ok(())
}

/// A new session `new_key` that starts as a copy of `key`'s conversation (Claude Code's
/// `--resume <old> --fork-session`), with the same settings.
pub fn fork(conn: &mut Connection, key: &str, new_key: &str) -> Result<SessionRecord, RecordError> {
    let tx = conn.transaction()?;
    let old = get(&tx, key)?.ok_or_else(|| RecordError::NotFound(key.into()))?;
    if get(&tx, new_key)?.is_some() {
        return Err(RecordError::Exists(new_key.into()));
    }
    // A fork of a fork that never ran resumes the same original.
    let from = old.fork_of.as_deref().unwrap_or(&old.session_id);
    insert(&tx, new_key, &new_uuid()?, &old.settings, Some(from))?;
    tx.execute(
        "INSERT INTO history (key, seq, prompt, result)
         SELECT ?2, seq, prompt, result FROM history WHERE key = ?1",
        params![key, new_key],
    )?;
    let r = get(&tx, new_key)?.expect("row just inserted");
    tx.commit()?;
    Ok(r)
}

/// The session's own transcript exists now: it no longer resumes its origin.
pub fn forked(conn: &Connection, key: &str) -> rusqlite::Result<()> {
    conn.execute("UPDATE sessions SET fork_of = NULL WHERE key = ?1", [key])?;
    Ok(())
}

/// A turn completed; `total_cost_usd` is the CLI's running total for the Claude session.
pub fn record_turn(
    conn: &Connection,
    key: &str,
    total_cost_usd: Option<f64>,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE sessions SET turns = turns + 1,
             total_cost_usd = COALESCE(?2, total_cost_usd),
             updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE key = ?1",
    )?
    .execute(params![key, total_cost_usd])?;
    Ok(())
}

/// The session's completed turns, oldest first: (prompt, final text).
pub fn history(conn: &Connection, key: &str) -> rusqlite::Result<Vec<(String, String)>> {
    let mut stmt =
        conn.prepare_cached("SELECT prompt, result FROM history WHERE key = ?1 ORDER BY seq")?;
    let rows = stmt.query_map([key], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// Add turns to the session's history.
pub fn append_history(
    conn: &Connection,
    key: &str,
    turns: &[(String, String)],
) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO history (key, seq, prompt, result)
         VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM history WHERE key = ?1), ?2, ?3)",
    )?;
    for (p, r) in turns {
        stmt.execute(params![key, p, r])?;
    }
    Ok(())
}

/// Take over `key` from another host of the fleet: the same Claude session (its transcript
/// was copied here) with `s`; any other session this host kept under the key is replaced.
pub fn adopt(
    conn: &mut Connection,
    key: &str,
    session_id: &str,
    s: &Settings,
) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    tx.execute(
        "DELETE FROM sessions WHERE key = ?1 AND session_id != ?2",
        [key, session_id],
    )?;
    tx.execute(
        "DELETE FROM sessions WHERE session_id = ?1 AND key != ?2",
        [session_id, key],
    )?;
    if get(&tx, key)?.is_some() {
        tx.execute(
            "UPDATE sessions SET cwd = ?2, fork_of = NULL WHERE key = ?1",
            [key, &s.cwd],
        )?;
        update(&tx, key, s)?;
    } else {
        insert(&tx, key, session_id, s, None)?;
    }
    tx.commit()
}

/// Forget a session, its history and the permission prompts it was asked.
pub fn delete(conn: &Connection, key: &str) -> rusqlite::Result<bool> {
    conn.execute("DELETE FROM permissions WHERE key = ?1", [key])?;
    conn.execute("DELETE FROM history WHERE key = ?1", [key])?;
    Ok(conn.execute("DELETE FROM sessions WHERE key = ?1", [key])? > 0)
}

/// This state directory's supervisor identity, made on first start.
pub fn daemon_id(conn: &Connection) -> Result<String, RecordError> {
    let id = new_uuid()?;
    conn.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('daemon_id', ?1)",
        [id],
    )?;
    Ok(
        conn.query_row("SELECT value FROM meta WHERE key = 'daemon_id'", [], |r| {
            r.get(0)
        })?,
    )
}

/// A random (version 4) uuid, as Claude Code's `--session-id` wants.
pub fn new_uuid() -> std::io::Result<String> {
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use claude_daemons::store::{self, Durability};

    fn db() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let conn = store::open(
            &dir.path().join("s.db"),
            &crate::schema::SCHEMA,
            Durability::Normal,
        )
        .unwrap();
        (dir, conn)
    }

    #[test]
    fn ensure_creates_once_updates_settings_and_refuses_a_new_cwd() {
        let (_d, mut c) = db();
        let w = SessionOptions {
            cwd: Some("/w".into()),
            allowed_tools: Some(vec!["Read".into()]),
            ..SessionOptions::default()
        };
        let a = ensure(&mut c, "agent::chat", &w, "/home").unwrap();
        assert_eq!(a.settings.cwd, "/w");
        assert_eq!(a.session_id.len(), 36);
        let b = ensure(&mut c, "agent::chat", &SessionOptions::default(), "/home").unwrap();
        assert_eq!(a.session_id, b.session_id, "same mapping");
        assert_eq!(b.settings.allowed_tools, ["Read"]);
        let m = SessionOptions {
            model: Some("haiku".into()),
            ..SessionOptions::default()
        };
        let b = ensure(&mut c, "agent::chat", &m, "/home").unwrap();
        assert_eq!(b.settings.model.as_deref(), Some("haiku"));
        let x = SessionOptions {
            cwd: Some("/elsewhere".into()),
            ..SessionOptions::default()
        };
        assert!(matches!(
            ensure(&mut c, "agent::chat", &x, "/home"),
            Err(RecordError::CwdConflict { .. })
        ));
        record_turn(&c, "agent::chat", Some(0.5)).unwrap();
        record_turn(&c, "agent::chat", None).unwrap();
        let r = get(&c, "agent::chat").unwrap().unwrap();
        assert_eq!((r.turns, r.total_cost_usd), (2, 0.5));
        assert!(delete(&c, "agent::chat").unwrap());
        assert!(get(&c, "agent::chat").unwrap().is_none());
        let id = daemon_id(&c).unwrap();
        assert_eq!(daemon_id(&c).unwrap(), id);
    }

    #[test]
    fn a_fork_copies_settings_and_points_at_its_origin() {
        let (_d, mut c) = db();
        let w = SessionOptions {
            cwd: Some("/w".into()),
            system_prompt: Some("brief".into()),
            ..SessionOptions::default()
        };
        let a = ensure(&mut c, "a", &w, "/home").unwrap();
        append_history(&c, "a", &[("q".into(), "r".into())]).unwrap();
        let b = fork(&mut c, "a", "b").unwrap();
        assert_eq!(history(&c, "b").unwrap(), [("q".into(), "r".into())]);
        append_history(&c, "b", &[("q2".into(), "r2".into())]).unwrap();
        assert_eq!(history(&c, "a").unwrap().len(), 1, "apart");
        assert_eq!(history(&c, "b").unwrap().len(), 2);
        assert_ne!(a.session_id, b.session_id);
        assert_eq!(b.fork_of.as_deref(), Some(a.session_id.as_str()));
        assert_eq!(b.settings, a.settings);
        assert!(matches!(
            fork(&mut c, "a", "b"),
            Err(RecordError::Exists(_))
        ));
        assert!(matches!(
            fork(&mut c, "x", "y"),
            Err(RecordError::NotFound(_))
        ));
        let bb = fork(&mut c, "b", "bb").unwrap();
        assert_eq!(
            bb.fork_of, b.fork_of,
            "a fork of an unrun fork resumes the origin"
        );
        forked(&c, "b").unwrap();
        assert_eq!(get(&c, "b").unwrap().unwrap().fork_of, None);
    }

    #[test]
    fn uuids_are_v4() {
        let u = new_uuid().unwrap();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!("89ab".contains(&u[19..20]));
        assert_ne!(u, new_uuid().unwrap());
    }
}
