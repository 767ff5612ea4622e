//! A database connection shared by a daemon's async handlers.

use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// One connection behind a mutex; queries run on tokio's blocking pool so they never stall
/// the event loop.
#[derive(Clone, Debug)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
    path: Arc<PathBuf>,
}

/// The blocking pool went away (the runtime is shutting down) or a query panicked.
#[derive(Debug, thiserror::Error)]
#[error("database task failed: {0}")]
pub struct DbTaskError(String);

impl Db {
    /// Wrap an opened connection.
    pub fn new(conn: Connection, path: &Path) -> Db {
        Db {
            conn: Arc::new(Mutex::new(conn)),
            path: Arc::new(path.into()),
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run `f` with the connection on the blocking pool.
    pub async fn call<R, F>(&self, f: F) -> Result<R, DbTaskError>
    where
        F: FnOnce(&mut Connection) -> R + Send + 'static,
        R: Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            // A panic in an earlier query poisons the mutex; the connection itself is fine
            // (SQLite rolls back an unfinished transaction when the statement is dropped).
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| DbTaskError(e.to_string()))
    }

    /// A cheap query proving the database answers (used by the watchdog).
    pub async fn check(&self) -> Result<(), String> {
        self.call(|c| {
            c.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
                r.get::<_, i64>(0)
            })
        })
        .await
        .map_err(|e| e.to_string())?
        .map(|_| ())
        .map_err(|e| e.to_string())
    }

    /// `PRAGMA optimize`, run before an idle exit so the next start has fresh statistics.
    pub async fn optimize(&self) {
        let outcome = match self.call(|c| c.execute_batch("PRAGMA optimize;")).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = outcome {
            tracing::warn!(error = %e, "PRAGMA optimize failed");
        }
    }
}
