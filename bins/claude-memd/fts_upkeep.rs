//! Keeping the full-text indexes compact. FTS5 writes a new b-tree (segment) for every
//! write transaction and an import's big transaction, and merges them only a little at a
//! time as later writes come (automerge), so an index grown by single-row commits or by
//! a bulk load is made of many segments, and every query looks each of its terms up in
//! every one. At 100,000 observations a prompt's lookup took 2–4× as long on such an index
//! as on one merged into a single segment. When writes pause, this thread merges each
//! index towards one segment, a bounded number of pages per transaction, so a hook's commit
//! never waits for more than one step; new writes interrupt it until they pause again.

use crate::announce::Announcer;
use rusqlite::Connection;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The indexes kept compact.
const TABLES: [&str; 3] = ["observations_fts", "summaries_fts", "prompts_fts"];

/// Pages written per merge transaction: about 5–20 ms of work, which is the longest a
/// write (a hook's commit) can wait for the lock because of upkeep.
const STEP_PAGES: i64 = 200;

/// How long writes must have paused before merging starts.
const QUIET: Duration = Duration::from_secs(1);

/// How often the database is asked whether another connection wrote, when nothing
/// announced a write (a cheap read of the WAL index).
const POLL: Duration = Duration::from_secs(5);

/// The upkeep's state, shared with the thread that does it.
#[derive(Default)]
pub struct Upkeep {
    /// When the last write was announced; `None` once merged since.
    last_write: Mutex<Option<Instant>>,
    cond: Condvar,
    steps: AtomicU64,
    running: AtomicBool,
}

impl Upkeep {
    /// Something was written: merge once writes pause.
    fn written(&self) {
        *self.last_write.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        self.cond.notify_one();
    }

    /// The write that must pause before merging, waiting for one if none is pending.
    /// `others_wrote` catches writes nothing announces (an import): it is asked every
    /// [`POLL`] while nothing is pending, and before a pause counts as one.
    fn wait_for_pause(&self, others_wrote: &mut impl FnMut() -> bool) -> Instant {
        let mut last = self.last_write.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let wait = match *last {
                Some(t) if t.elapsed() >= QUIET => {
                    if !others_wrote() {
                        return t;
                    }
                    *last = Some(Instant::now());
                    QUIET
                }
                Some(t) => QUIET - t.elapsed().min(QUIET),
                None => {
                    if others_wrote() {
                        *last = Some(Instant::now());
                    }
                    POLL
                }
            };
            last = self
                .cond
                .wait_timeout(last, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Whether a write came after `since`.
    fn written_since(&self, since: Instant) -> bool {
        self.last_write
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|t| t > since)
    }

    /// Merged up to `since`: nothing to do until the next write.
    fn done(&self, since: Instant) {
        let mut last = self.last_write.lock().unwrap_or_else(|e| e.into_inner());
        if *last == Some(since) {
            *last = None;
        }
    }

    /// For `/v1/health`: merge steps done, and whether merging is pending or under way.
    pub fn details(&self) -> Value {
        let pending = self
            .last_write
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some();
        json!({
            "merge_steps": self.steps.load(Ordering::Relaxed),
            "pending": pending || self.running.load(Ordering::Relaxed),
        })
    }
}

/// Start the upkeep on `conn` (its own connection). A daemon just started merges what the
/// last one left (an import, or a daemon that exited before writes paused).
pub fn start(conn: Connection, announce: &Announcer) -> std::io::Result<Arc<Upkeep>> {
    let upkeep = Arc::new(Upkeep::default());
    upkeep.written();
    let mut rx = announce.subscribe();
    let u = upkeep.clone();
    std::thread::Builder::new()
        .name("memd-fts-listen".into())
        .spawn(move || loop {
            use tokio::sync::broadcast::error::RecvError;
            match rx.blocking_recv() {
                Ok(a) if a.name.ends_with("-created") || a.name == "record-deleted" => u.written(),
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => u.written(),
                Err(RecvError::Closed) => return,
            }
        })?;
    let u = upkeep.clone();
    std::thread::Builder::new()
        .name("memd-fts-upkeep".into())
        .spawn(move || {
            let mut version = data_version(&conn).unwrap_or(0);
            let mut others_wrote = move |conn: &Connection| {
                let now = data_version(conn).unwrap_or(version);
                std::mem::replace(&mut version, now) != now
            };
            loop {
                let since = u.wait_for_pause(&mut || others_wrote(&conn));
                u.running.store(true, Ordering::Relaxed);
                let merged = merge_all(&conn, &u, since, &mut |c: &Connection| others_wrote(c));
                match merged {
                    Ok(true) => u.done(since),
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "merging the full-text indexes failed");
                        u.done(since);
                    }
                }
                u.running.store(false, Ordering::Relaxed);
            }
        })?;
    Ok(upkeep)
}

/// `PRAGMA data_version`: it changes when another connection commits.
fn data_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA data_version", [], |r| r.get(0))
}

/// Merge every index until each is one segment; false when a write interrupted it (an
/// announced one, or one `others_wrote` found: an import's batches announce nothing, and
/// merging its growing index while it writes would take the lock from it step after step).
fn merge_all(
    conn: &Connection,
    u: &Upkeep,
    since: Instant,
    others_wrote: &mut impl FnMut(&Connection) -> bool,
) -> rusqlite::Result<bool> {
    for table in TABLES {
        loop {
            if u.written_since(since) {
                return Ok(false);
            }
            if others_wrote(conn) {
                u.written();
                return Ok(false);
            }
            let worked = merge_step(conn, table)?;
            u.steps.fetch_add(1, Ordering::Relaxed);
            if !worked {
                break;
            }
        }
    }
    Ok(true)
}

/// One bounded merge transaction on `table`; whether it found anything to merge. FTS5
/// documents the test: a merge that did work changes `total_changes` by 2 or more. A
/// negative page count merges segments of every level together, so repeated steps end
/// with one segment.
pub fn merge_step(conn: &Connection, table: &str) -> rusqlite::Result<bool> {
    let before = conn.total_changes();
    conn.execute(
        &format!("INSERT INTO {table}({table}, rank) VALUES ('merge', ?1)"),
        [-STEP_PAGES],
    )?;
    Ok(conn.total_changes() - before >= 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Segments of `table` (the FTS5 structure record's second varint, after the 4-byte
    /// cookie and the level count).
    fn segments(conn: &Connection, table: &str) -> u64 {
        let block: Vec<u8> = conn
            .query_row(
                &format!("SELECT block FROM {table}_data WHERE id = 10"),
                [],
                |r| r.get(0),
            )
            .unwrap();
        let mut varints = Vec::new();
        let (mut v, mut shift) = (0u64, 0);
        for b in &block[4..] {
            v |= u64::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                varints.push(v);
                (v, shift) = (0, 0);
                if varints.len() == 2 {
                    break;
                }
            }
        }
        varints[1]
    }

    #[test]
    fn steps_merge_an_index_of_many_segments_into_one() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE VIRTUAL TABLE t USING fts5(body);")
            .unwrap();
        for i in 0..200 {
            // One transaction each, as single hook commits write them.
            conn.execute(
                "INSERT INTO t(body) VALUES (?1)",
                [format!("word{i} common text number {i}")],
            )
            .unwrap();
        }
        assert!(segments(&conn, "t") > 1, "automerge left several segments");
        let mut steps = 0;
        while merge_step(&conn, "t").unwrap() {
            steps += 1;
            assert!(steps < 1_000, "merging never finished");
        }
        assert_eq!(segments(&conn, "t"), 1);
        // Nothing left to do: a step is a no-op, and the index still answers.
        assert!(!merge_step(&conn, "t").unwrap());
        let n: i64 = conn
            .query_row("SELECT count(*) FROM t WHERE t MATCH 'common'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(n, 200);
    }

    #[test]
    fn the_daemons_indexes_are_merged_once_writes_pause() {
        let (dir, c) = crate::schema::test_db();
        for i in 0..300 {
            c.execute(
                "INSERT INTO observations (session_id, project, project_name, type, title,
                   created_at, created_at_epoch)
                 VALUES ('s', '/p', 'p', 'change', ?1, '2026-11-20T10:00:00Z', 1)",
                [format!("edited module{i} of the parser")],
            )
            .unwrap();
        }
        assert!(segments(&c, "observations_fts") > 1);
        let upkeep_conn = rusqlite::Connection::open(dir.path().join("m.db")).unwrap();
        let announce = Announcer::new();
        let u = start(upkeep_conn, &announce).unwrap();
        // A write keeps it waiting: merging starts only a quiet second after the last one.
        announce.send(crate::announce::Announce::received(1));
        let t = Instant::now();
        while u.details()["pending"] == true {
            assert!(t.elapsed() < Duration::from_secs(60), "never merged");
            std::thread::sleep(Duration::from_millis(20));
        }
        // (Half: the pause counts from the daemon's start, a moment before `t`.)
        assert!(t.elapsed() >= QUIET / 2, "merged before writes paused");
        assert_eq!(segments(&c, "observations_fts"), 1);
        assert!(u.details()["merge_steps"].as_u64().unwrap() >= 2);
        let n: i64 = c
            .query_row(
                "SELECT count(*) FROM observations_fts WHERE observations_fts MATCH 'parser'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 300);
    }

    #[test]
    fn a_write_by_another_connection_stops_the_merge() {
        let (dir, writer) = crate::schema::test_db();
        let add = |i: usize| {
            writer
                .execute(
                    "INSERT INTO observations (session_id, project, project_name, type, title,
                       created_at, created_at_epoch)
                     VALUES ('s', '/p', 'p', 'change', ?1, '2026-11-20T10:00:00Z', 1)",
                    [format!("imported record{i} of the batch")],
                )
                .unwrap()
        };
        for i in 0..100 {
            add(i);
        }
        let conn = Connection::open(dir.path().join("m.db")).unwrap();
        let mut version = data_version(&conn).unwrap();
        let mut others_wrote = |c: &Connection| {
            let now = data_version(c).unwrap();
            std::mem::replace(&mut version, now) != now
        };
        let u = Upkeep::default();
        let since = Instant::now();
        let before = segments(&conn, "observations_fts");
        // An import's batch, which announces nothing.
        add(100);
        assert!(!merge_all(&conn, &u, since, &mut others_wrote).unwrap());
        assert_eq!(
            u.steps.load(Ordering::Relaxed),
            0,
            "merged while another wrote"
        );
        assert!(segments(&conn, "observations_fts") >= before);
        assert!(
            u.details()["pending"] == true,
            "the write counts as pending"
        );
        // Once it stopped writing, the merge runs to the end.
        let since = u.last_write.lock().unwrap().unwrap();
        assert!(merge_all(&conn, &u, since, &mut others_wrote).unwrap());
        assert_eq!(segments(&conn, "observations_fts"), 1);
    }
}
