//! Keeping the full-text indexes compact. FTS5 writes a new b-tree (segment) for every
//! write transaction, and more than one for an import's big transactions, and merges them
//! only a little at a time as later writes come (automerge), so an index grown by a bulk
//! load or a burst of commits is made of many segments, and every query looks each of its
//! terms up in every one. At 100,000 observations a prompt's lookup took 2–4× as long on
//! such an index. When writes pause, this thread merges the segments of each level of an
//! index together (FTS5's `merge` with `usermerge` = 2), a bounded number of pages per
//! transaction, so a hook's commit never waits for more than one step; new writes interrupt
//! it until they pause again. Like a log-structured merge, a new small segment is merged
//! with its peers, not with the whole index: merging everything into one segment (a
//! negative `merge`, or `optimize`) would copy the whole index after every write burst.

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
    /// [`POLL`] while nothing is pending, and before a pause counts as one; never with the
    /// lock held, as it asks the database (which may wait for its lock).
    fn wait_for_pause(&self, others_wrote: &mut impl FnMut() -> bool) -> Instant {
        loop {
            let seen = *self.last_write.lock().unwrap_or_else(|e| e.into_inner());
            let wait = match seen {
                Some(t) if t.elapsed() >= QUIET => {
                    if !others_wrote() {
                        return t;
                    }
                    self.written();
                    continue;
                }
                Some(t) => QUIET - t.elapsed().min(QUIET),
                None => {
                    if others_wrote() {
                        self.written();
                        continue;
                    }
                    POLL
                }
            };
            // Not if a write came meanwhile: its wake-up would have been missed.
            let last = self.last_write.lock().unwrap_or_else(|e| e.into_inner());
            let _ = self
                .cond
                .wait_timeout_while(last, wait, |l| *l == seen)
                .unwrap_or_else(|e| e.into_inner());
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
            if let Err(e) = merge_pairs(&conn) {
                tracing::warn!(error = %e, "setting usermerge on the full-text indexes failed");
            }
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

/// Merge every index until no level holds two segments; false when a write interrupted it (an
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
/// documents the test: a merge that did work changes `total_changes` by 2 or more.
pub fn merge_step(conn: &Connection, table: &str) -> rusqlite::Result<bool> {
    let before = conn.total_changes();
    conn.execute(
        &format!("INSERT INTO {table}({table}, rank) VALUES ('merge', ?1)"),
        [STEP_PAGES],
    )?;
    Ok(conn.total_changes() - before >= 2)
}

/// Let a `merge` take two segments of one level (FTS5's default waits for four, as
/// automerge does): after a pause, a level holds at most one segment.
fn merge_pairs(conn: &Connection) -> rusqlite::Result<()> {
    for t in TABLES {
        conn.execute(
            &format!("INSERT INTO {t}({t}, rank) VALUES ('usermerge', 2)"),
            [],
        )?;
    }
    Ok(())
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

    /// Merge steps until one finds nothing to do; rows written (pages, mostly).
    fn merge_until_done(conn: &Connection, table: &str) -> u64 {
        let before = conn.total_changes();
        let mut steps = 0;
        while merge_step(conn, table).unwrap() {
            steps += 1;
            assert!(steps < 1_000, "merging never finished");
        }
        conn.total_changes() - before
    }

    #[test]
    fn a_bursts_segments_join_their_peers_not_the_whole_index() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE VIRTUAL TABLE t USING fts5(body);
             INSERT INTO t(t, rank) VALUES ('usermerge', 2);",
        )
        .unwrap();
        let add = |text: String| conn.execute("INSERT INTO t(body) VALUES (?1)", [text]);
        conn.execute_batch("BEGIN").unwrap();
        for i in 0..20_000 {
            add(format!(
                "word{i} common text number {i} of the index, alpha{} beta{} gamma{}",
                i % 997,
                i % 991,
                i % 983
            ))
            .unwrap();
        }
        conn.execute_batch("COMMIT").unwrap();
        // One big segment, as months of upkeep leave it, then a burst of single commits
        // (one segment each), as hooks write them.
        conn.execute("INSERT INTO t(t) VALUES ('optimize')", [])
            .unwrap();
        let pages: u64 = conn
            .query_row("SELECT count(*) FROM t_data", [], |r| r.get(0))
            .unwrap();
        let burst = |b: usize| {
            for i in 0..12 {
                add(format!("burst {b} row {i} common")).unwrap();
            }
        };
        burst(0);
        let many = segments(&conn, "t");
        assert!(
            many >= 2,
            "the burst left segments beside the big one: {many}"
        );
        merge_until_done(&conn, "t");
        let few = segments(&conn, "t");
        assert!(few <= 3, "{many} segments became {few}");
        // Later bursts' segments are merged with their peers: a few pages each, not the
        // whole index again (a negative merge, like `optimize`, rewrote all of it after
        // every burst; the first merge above may move the big segment once).
        let written: Vec<u64> = (1..5)
            .map(|b| {
                burst(b);
                merge_until_done(&conn, "t")
            })
            .collect();
        assert!(
            written.iter().all(|w| w * 4 < pages),
            "rows written to merge four bursts: {written:?}, index of {pages}"
        );
        let n: i64 = conn
            .query_row("SELECT count(*) FROM t WHERE t MATCH 'common'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(n, 20_060);
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
        let many = segments(&c, "observations_fts");
        assert!(many > 3, "{many}");
        let upkeep_conn = rusqlite::Connection::open(dir.path().join("m.db")).unwrap();
        let announce = Announcer::new();
        let u = start(upkeep_conn, &announce).unwrap();
        // A write keeps it waiting: merging starts only a quiet second after the last one.
        let t = Instant::now();
        announce.send(crate::announce::Announce::received(1));
        while u.details()["pending"] == true {
            assert!(t.elapsed() < Duration::from_secs(60), "never merged");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(t.elapsed() >= QUIET, "merged before writes paused");
        let left = segments(&c, "observations_fts");
        assert!(left <= 3, "{many} segments left {left}");
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
        merge_pairs(&conn).unwrap();
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
        assert!(segments(&conn, "observations_fts") < before);
    }
}
