//! Opening a daemon's SQLite database: WAL, busy timeout, foreign keys, incremental
//! auto-vacuum, and versioned migrations: a fresh database is created in one transaction
//! (one commit, one fsync of the WAL, however many versions there are: a first start on a busy
//! disk must not wait for one synchronous commit per version), an existing one is upgraded
//! one transaction per version (an interrupted upgrade resumes at the version it reached).
//!
//! A database is ours only if its `application_id` says so. A file that is not SQLite, is
//! corrupt, belongs to another program or was written by a newer release is refused with a
//! clear error and left exactly as it was: never "repaired" by overwriting.

mod db;

pub use db::{Db, DbTaskError};

use rusqlite::{Connection, ErrorCode, OpenFlags};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One schema step.
#[derive(Debug)]
pub struct Migration {
    /// Schema version after this step; versions start at 1 and have no gaps.
    pub version: u32,
    /// What the step does (recorded in `schema_history`).
    pub description: &'static str,
    /// The SQL, run as one batch inside the step's transaction.
    pub sql: &'static str,
}

/// What a daemon's database looks like.
#[derive(Debug)]
pub struct Schema {
    /// `PRAGMA application_id` marking the file as this daemon's.
    pub application_id: i32,
    /// All migrations, in version order.
    pub migrations: &'static [Migration],
}

impl Schema {
    /// The newest version the migrations reach.
    pub fn latest(&self) -> u32 {
        self.migrations.last().map_or(0, |m| m.version)
    }
}

/// How hard commits wait for the disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=FULL`: a committed transaction survives power loss.
    #[default]
    Full,
    /// `synchronous=NORMAL`: survives a crash of the process, not of the machine.
    Normal,
}

/// Why a database could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file could not be opened or created.
    #[error("database {path}: cannot open: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: rusqlite::Error,
    },
    /// Not a database, or damaged.
    #[error("database {path} is corrupt or not an SQLite file ({detail}); it was left untouched — move it aside to start fresh")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What SQLite said.
        detail: String,
    },
    /// Another program's database.
    #[error("database {path} belongs to another program (application_id {found:#x}, expected {expected:#x}); it was left untouched")]
    Foreign {
        /// The file.
        path: PathBuf,
        /// Its application id.
        found: i32,
        /// Ours.
        expected: i32,
    },
    /// Written by a newer release.
    #[error("database {path} has schema version {found}, newer than the {supported} this release knows; upgrade claude-daemons")]
    TooNew {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: u32,
        /// The newest we know.
        supported: u32,
    },
    /// A migration failed (and was rolled back).
    #[error("database {path}: migration to version {version} failed: {source}")]
    Migration {
        /// The file.
        path: PathBuf,
        /// The step.
        version: u32,
        /// Why.
        source: rusqlite::Error,
    },
    /// Any other SQLite error.
    #[error("database {path}: {source}")]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// Why.
        source: rusqlite::Error,
    },
}

impl StoreError {
    /// Whether the file itself is unusable (as opposed to the directory or the disk).
    pub fn is_bad_file(&self) -> bool {
        matches!(
            self,
            StoreError::Corrupt { .. } | StoreError::Foreign { .. } | StoreError::TooNew { .. }
        )
    }
}

fn classify(path: &Path, source: rusqlite::Error) -> StoreError {
    match source.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
            path: path.into(),
            detail: source.to_string(),
        },
        _ => StoreError::Sqlite {
            path: path.into(),
            source,
        },
    }
}

/// Open (creating if needed) and migrate the database at `path`.
pub fn open(
    path: &Path,
    schema: &Schema,
    durability: Durability,
) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|source| StoreError::Open {
        path: path.into(),
        source,
    })?;
    let err = |e| classify(path, e);
    conn.busy_timeout(Duration::from_secs(5)).map_err(err)?;

    // The first read of the header tells a database from anything else.
    let app_id: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(err)?;
    let version: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(err)?;
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .map_err(err)?;
    let fresh = tables == 0 && version == 0 && app_id == 0;
    if !fresh && app_id != schema.application_id {
        return Err(StoreError::Foreign {
            path: path.into(),
            found: app_id,
            expected: schema.application_id,
        });
    }
    if version > schema.latest() {
        return Err(StoreError::TooNew {
            path: path.into(),
            found: version,
            supported: schema.latest(),
        });
    }
    if fresh {
        // auto_vacuum only takes effect before the first table exists.
        conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL;")
            .map_err(err)?;
    }
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(db = %path.display(), mode, "WAL not available");
    }
    let sync = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {sync}; PRAGMA foreign_keys = ON;"
    ))
    .map_err(err)?;

    if version < schema.latest() {
        if !fresh {
            // Check before building a new schema on top of damaged pages.
            let verdict: String = conn
                .query_row("PRAGMA integrity_check(1)", [], |r| r.get(0))
                .map_err(err)?;
            if verdict != "ok" {
                return Err(StoreError::Corrupt {
                    path: path.into(),
                    detail: verdict,
                });
            }
        }
        migrate(&conn, path, schema, version, fresh)?;
    }
    Ok(conn)
}

fn migrate(
    conn: &Connection,
    path: &Path,
    schema: &Schema,
    from: u32,
    fresh: bool,
) -> Result<(), StoreError> {
    let steps: Vec<&Migration> = schema
        .migrations
        .iter()
        .filter(|m| m.version > from)
        .collect();
    // A fresh database: every step in one transaction. An upgrade: one transaction a step.
    let groups: Vec<&[&Migration]> = if fresh {
        vec![&steps[..]]
    } else {
        steps.chunks(1).collect()
    };
    for group in groups {
        let Some(last) = group.last() else { continue };
        let fail_at = |version| {
            move |source| StoreError::Migration {
                path: path.into(),
                version,
                source,
            }
        };
        // `unchecked_transaction` because the connection is borrowed shared; nothing else
        // uses it during open.
        let tx = conn
            .unchecked_transaction()
            .map_err(fail_at(group[0].version))?;
        for m in group {
            apply_step(&tx, schema, m).map_err(fail_at(m.version))?;
        }
        tx.commit().map_err(fail_at(last.version))?;
        for m in group {
            tracing::info!(db = %path.display(), version = m.version, "migrated: {}", m.description);
        }
    }
    Ok(())
}

/// One step inside the caller's transaction: its SQL, its history row, the new version.
fn apply_step(tx: &Connection, schema: &Schema, m: &Migration) -> rusqlite::Result<()> {
    tx.execute_batch(&format!(
        "PRAGMA application_id = {};
         CREATE TABLE IF NOT EXISTS schema_history (
             version INTEGER PRIMARY KEY,
             description TEXT NOT NULL,
             program_version TEXT NOT NULL,
             applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')));",
        schema.application_id
    ))?;
    tx.execute_batch(m.sql)?;
    tx.execute(
        "INSERT INTO schema_history (version, description, program_version) VALUES (?1, ?2, ?3)",
        rusqlite::params![m.version, m.description, env!("CARGO_PKG_VERSION")],
    )?;
    tx.execute_batch(&format!("PRAGMA user_version = {}", m.version))
}

#[cfg(test)]
mod tests {
    use super::*;

    static SCHEMA: Schema = Schema {
        application_id: 0x7465_7374,
        migrations: &[
            Migration {
                version: 1,
                description: "notes",
                sql: "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);",
            },
            Migration {
                version: 2,
                description: "tags",
                sql: "ALTER TABLE notes ADD COLUMN tag TEXT;",
            },
        ],
    };

    #[test]
    fn creates_migrates_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let conn = open(&path, &SCHEMA, Durability::Full).unwrap();
        let v: u32 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, 2);
        let jm: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(jm, "wal");
        let av: i64 = conn
            .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
            .unwrap();
        assert_eq!(av, 2, "incremental");
        let fk: i64 = conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
        let hist: i64 = conn
            .query_row("SELECT count(*) FROM schema_history", [], |r| r.get(0))
            .unwrap();
        assert_eq!(hist, 2);
        conn.execute("INSERT INTO notes (body, tag) VALUES ('x', 'y')", [])
            .unwrap();
        drop(conn);
        let conn = open(&path, &SCHEMA, Durability::Normal).unwrap();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM notes", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
    }

    /// Commits in a WAL file: frames whose header carries the database size after a commit.
    fn wal_commits(db: &Path) -> usize {
        let wal = std::fs::read(db.with_extension("db-wal")).unwrap_or_default();
        if wal.len() < 32 {
            return 0;
        }
        let page = u32::from_be_bytes(wal[8..12].try_into().unwrap()) as usize;
        wal[32..]
            .chunks(24 + page)
            .filter(|f| f.len() == 24 + page && f[4..8] != [0, 0, 0, 0])
            .count()
    }

    #[test]
    fn a_fresh_database_is_one_commit_and_an_upgrade_one_per_version() {
        static FOUR: Schema = Schema {
            application_id: 0x7465_7374,
            migrations: &[
                Migration {
                    version: 1,
                    description: "a",
                    sql: "CREATE TABLE a (x);",
                },
                Migration {
                    version: 2,
                    description: "b",
                    sql: "CREATE TABLE b (x);",
                },
                Migration {
                    version: 3,
                    description: "c",
                    sql: "CREATE TABLE c (x);",
                },
                Migration {
                    version: 4,
                    description: "d",
                    sql: "CREATE TABLE d (x);",
                },
            ],
        };
        static TWO: Schema = Schema {
            application_id: 0x7465_7374,
            migrations: FOUR.migrations.split_at(2).0,
        };
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("fresh.db");
        let conn = open(&fresh, &FOUR, Durability::Full).unwrap();
        assert_eq!(wal_commits(&fresh), 1, "all four versions in one commit");
        let hist: i64 = conn
            .query_row("SELECT count(*) FROM schema_history", [], |r| r.get(0))
            .unwrap();
        assert_eq!(hist, 4);

        let old = dir.path().join("old.db");
        drop(open(&old, &TWO, Durability::Full).unwrap()); // the last close checkpoints
        assert_eq!(wal_commits(&old), 0);
        let conn = open(&old, &FOUR, Durability::Full).unwrap();
        assert_eq!(wal_commits(&old), 2, "versions 3 and 4, one commit each");
        let v: u32 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, 4);
    }

    #[test]
    fn failed_migration_rolls_back() {
        static BAD: Schema = Schema {
            application_id: 0x7465_7374,
            migrations: &[
                Migration {
                    version: 1,
                    description: "ok",
                    sql: "CREATE TABLE a (x);",
                },
                Migration {
                    version: 2,
                    description: "broken",
                    sql: "CREATE TABLE b (y); THIS IS NOT SQL;",
                },
            ],
        };
        static GOOD_V1: Schema = Schema {
            application_id: 0x7465_7374,
            migrations: BAD.migrations.split_at(1).0,
        };
        let dir = tempfile::tempdir().unwrap();
        // A fresh database is all or nothing.
        let fresh = dir.path().join("fresh.db");
        let err = open(&fresh, &BAD, Durability::Full).unwrap_err();
        assert!(
            matches!(err, StoreError::Migration { version: 2, .. }),
            "{err}"
        );
        let tables: i64 = Connection::open(&fresh)
            .unwrap()
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .unwrap();
        assert_eq!(tables, 0, "nothing of version 1 either");
        // An upgrade keeps the versions it reached.
        let path = dir.path().join("t.db");
        drop(open(&path, &GOOD_V1, Durability::Full).unwrap());
        let err = open(&path, &BAD, Durability::Full).unwrap_err();
        assert!(
            matches!(err, StoreError::Migration { version: 2, .. }),
            "{err}"
        );
        let conn = Connection::open(&path).unwrap();
        let v: u32 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, 1, "version 1 committed, version 2 rolled back");
        let b: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'b'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(b, 0);
    }

    #[test]
    fn refuses_garbage_foreign_and_newer_files_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("garbage.db");
        let bytes = vec![0x5au8; 8192];
        std::fs::write(&garbage, &bytes).unwrap();
        let err = open(&garbage, &SCHEMA, Durability::Full).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(err.is_bad_file());
        assert_eq!(std::fs::read(&garbage).unwrap(), bytes, "left untouched");

        let foreign = dir.path().join("foreign.db");
        Connection::open(&foreign)
            .unwrap()
            .execute_batch("CREATE TABLE theirs (x);")
            .unwrap();
        let err = open(&foreign, &SCHEMA, Durability::Full).unwrap_err();
        assert!(matches!(err, StoreError::Foreign { found: 0, .. }), "{err}");

        let newer = dir.path().join("newer.db");
        open(&newer, &SCHEMA, Durability::Full).unwrap();
        Connection::open(&newer)
            .unwrap()
            .execute_batch("PRAGMA user_version = 9")
            .unwrap();
        let err = open(&newer, &SCHEMA, Durability::Full).unwrap_err();
        assert!(matches!(err, StoreError::TooNew { found: 9, .. }), "{err}");
    }
}
