//! Persisted sessions: the caller's key mapped to a Claude session uuid and the settings its
//! process is started with. Survives restarts of the supervisor so the next ask resumes.

use crate::child::ChildKind;
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::io::Read;

/// A session row.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionRecord {
    pub key: String,
    pub session_id: String,
    pub kind: ChildKind,
    pub settings: Settings,
    pub turns: u64,
    pub total_cost_usd: f64,
    pub created_at: String,
    pub updated_at: String,
}

/// What a child is started with; a change means a restart with `--resume`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Settings {
    pub cwd: String,
    pub model: Option<String>,
    pub permission_mode: Option<String>,
    pub allowed_tools: Vec<String>,
    pub isolated: bool,
}

/// What an ask asks for; `None` keeps the stored value.
#[derive(Clone, Debug, Default)]
pub struct Wanted {
    pub cwd: Option<String>,
    pub model: Option<String>,
    pub permission_mode: Option<String>,
    pub allowed_tools: Option<Vec<String>>,
    pub isolated: Option<bool>,
}

impl Wanted {
    /// Whether `current` already is what this asks for.
    pub fn satisfied_by(&self, current: &Settings) -> bool {
        self.cwd.as_ref().is_none_or(|c| *c == current.cwd)
            && self
                .model
                .as_ref()
                .is_none_or(|m| current.model.as_ref() == Some(m))
            && self
                .permission_mode
                .as_ref()
                .is_none_or(|p| current.permission_mode.as_ref() == Some(p))
            && self
                .allowed_tools
                .as_ref()
                .is_none_or(|t| *t == current.allowed_tools)
            && self.isolated.is_none_or(|i| i == current.isolated)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("session {key} is bound to workspace {bound}; forget it (DELETE /v1/sessions/{key}?forget=true) to use {wanted}")]
    CwdConflict {
        key: String,
        bound: String,
        wanted: String,
    },
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot make a session id: {0}")]
    Random(#[from] std::io::Error),
}

const COLUMNS: &str = "key, session_id, kind, cwd, model, permission_mode, allowed_tools, turns, total_cost_usd, created_at, updated_at, isolated";

fn from_row(r: &Row<'_>) -> rusqlite::Result<SessionRecord> {
    let tools: String = r.get(6)?;
    let kind: String = r.get(2)?;
    Ok(SessionRecord {
        key: r.get(0)?,
        session_id: r.get(1)?,
        kind: ChildKind::parse(&kind).unwrap_or(ChildKind::StreamJson),
        settings: Settings {
            cwd: r.get(3)?,
            model: r.get(4)?,
            permission_mode: r.get(5)?,
            allowed_tools: serde_json::from_str(&tools).unwrap_or_default(),
            isolated: r.get::<_, i64>(11)? != 0,
        },
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
/// what `wanted` names. One transaction, so two first asks agree on one uuid.
pub fn ensure(
    conn: &mut Connection,
    key: &str,
    wanted: &Wanted,
    default_cwd: &str,
) -> Result<SessionRecord, RecordError> {
    let tx = conn.transaction()?;
    let record = match get(&tx, key)? {
        None => {
            let settings = Settings {
                cwd: wanted.cwd.clone().unwrap_or_else(|| default_cwd.into()),
                model: wanted.model.clone(),
                permission_mode: wanted.permission_mode.clone(),
                allowed_tools: wanted.allowed_tools.clone().unwrap_or_default(),
                isolated: wanted.isolated.unwrap_or(false),
            };
            tx.execute(
                "INSERT INTO sessions (key, session_id, kind, cwd, model, permission_mode, allowed_tools, isolated)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    key,
                    new_uuid()?,
                    ChildKind::StreamJson.as_str(),
                    settings.cwd,
                    settings.model,
                    settings.permission_mode,
                    serde_json::to_string(&settings.allowed_tools).expect("strings serialize"),
                    settings.isolated,
                ],
            )?;
            get(&tx, key)?.expect("row just inserted")
        }
        Some(mut r) => {
            if let Some(cwd) = &wanted.cwd {
                if *cwd != r.settings.cwd {
                    return Err(RecordError::CwdConflict {
                        key: key.into(),
                        bound: r.settings.cwd,
                        wanted: cwd.clone(),
                    });
                }
            }
            let mut s = r.settings.clone();
            if wanted.model.is_some() {
                s.model = wanted.model.clone();
            }
            if wanted.permission_mode.is_some() {
                s.permission_mode = wanted.permission_mode.clone();
            }
            if let Some(t) = &wanted.allowed_tools {
                s.allowed_tools = t.clone();
            }
            if let Some(i) = wanted.isolated {
                s.isolated = i;
            }
            if s != r.settings {
                tx.execute(
                    "UPDATE sessions SET model = ?2, permission_mode = ?3, allowed_tools = ?4,
                         isolated = ?5, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE key = ?1",
                    params![
                        key,
                        s.model,
                        s.permission_mode,
                        serde_json::to_string(&s.allowed_tools).expect("strings serialize"),
                        s.isolated
                    ],
                )?;
                r = get(&tx, key)?.expect("row exists");
            }
            r
        }
    };
    tx.commit()?;
    Ok(record)
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

pub fn delete(conn: &Connection, key: &str) -> rusqlite::Result<bool> {
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
        let w = Wanted {
            cwd: Some("/w".into()),
            allowed_tools: Some(vec!["Read".into()]),
            ..Wanted::default()
        };
        let a = ensure(&mut c, "agent::chat", &w, "/home").unwrap();
        assert_eq!(a.settings.cwd, "/w");
        assert_eq!(a.session_id.len(), 36);
        let b = ensure(&mut c, "agent::chat", &Wanted::default(), "/home").unwrap();
        assert_eq!(a.session_id, b.session_id, "same mapping");
        assert_eq!(b.settings.allowed_tools, ["Read"]);
        let m = Wanted {
            model: Some("haiku".into()),
            ..Wanted::default()
        };
        let b = ensure(&mut c, "agent::chat", &m, "/home").unwrap();
        assert_eq!(b.settings.model.as_deref(), Some("haiku"));
        let x = Wanted {
            cwd: Some("/elsewhere".into()),
            ..Wanted::default()
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
    fn wanted_is_satisfied_only_by_equal_named_fields() {
        let cur = Settings {
            cwd: "/w".into(),
            model: Some("m".into()),
            permission_mode: None,
            allowed_tools: vec!["Read".into()],
            isolated: false,
        };
        assert!(Wanted::default().satisfied_by(&cur));
        let w = Wanted {
            cwd: Some("/w".into()),
            allowed_tools: Some(vec!["Read".into()]),
            ..Wanted::default()
        };
        assert!(w.satisfied_by(&cur));
        for w in [
            Wanted {
                model: Some("other".into()),
                ..Wanted::default()
            },
            Wanted {
                permission_mode: Some("plan".into()),
                ..Wanted::default()
            },
            Wanted {
                allowed_tools: Some(vec![]),
                ..Wanted::default()
            },
            Wanted {
                cwd: Some("/x".into()),
                ..Wanted::default()
            },
        ] {
            assert!(!w.satisfied_by(&cur), "{w:?}");
        }
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
