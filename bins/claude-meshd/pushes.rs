//! Messages pushed into a session's channel, provisional until the session shows it got
//! them. Claude Code may drop a `notifications/claude/channel` without a word (one that
//! comes in the first seconds after `initialized`, or any it decides to skip), so a push is
//! not a seen mark: the push's fence — `peer-message-<inbox id>-<random nonce>`, unique to
//! that one rendering — is kept, and the message counts as seen once the session's
//! transcript holds that fence (Claude Code writes the channel message there as the user
//! message of the turn it starts). The hook sends the transcript path with each context
//! request; a push the transcript does not show within `[mesh] push_confirm_secs` goes into
//! that hook's context instead, so it arrives exactly once either way. A push younger than
//! that is held (neither shown nor confirmed): Claude Code may still be about to show it.

use crate::clock::now_ms;
use rusqlite::{params, Connection};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Most of a transcript read from its end to find fences (a pushed message is recent).
const TRANSCRIPT_TAIL: u64 = 16 << 20;

/// A push not yet confirmed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provisional {
    /// The inbox row.
    pub inbox_id: i64,
    /// The fence the pushed rendering carried.
    pub token: String,
    /// When it was pushed (ms since the epoch).
    pub pushed_ms: i64,
}

/// Record a push of `inbox_id` into `session`'s channel with fence `token`. False when it
/// was pushed before (a second claim gets nothing).
pub fn record(
    conn: &Connection,
    inbox_id: i64,
    session: &str,
    token: &str,
) -> rusqlite::Result<bool> {
    let n = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO inbox_pushed (inbox_id, session_id, token, pushed_ms)
             VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![inbox_id, session, token, now_ms()])?;
    Ok(n == 1)
}

/// Whether `inbox_id` was pushed into `session` already.
pub fn pushed(conn: &Connection, inbox_id: i64, session: &str) -> rusqlite::Result<bool> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM inbox_pushed WHERE inbox_id = ?1 AND session_id = ?2)",
    )?
    .query_row(params![inbox_id, session], |r| r.get(0))
}

/// `session`'s pushes not yet seen, oldest first.
pub fn provisional(conn: &Connection, session: &str) -> rusqlite::Result<Vec<Provisional>> {
    let mut stmt = conn.prepare_cached(
        "SELECT p.inbox_id, p.token, p.pushed_ms FROM inbox_pushed p
         WHERE p.session_id = ?1 AND NOT EXISTS (
             SELECT 1 FROM inbox_seen s WHERE s.inbox_id = p.inbox_id AND s.session_id = ?1)
         ORDER BY p.inbox_id",
    )?;
    let rows = stmt.query_map([session], |r| {
        Ok(Provisional {
            inbox_id: r.get(0)?,
            token: r.get(1)?,
            pushed_ms: r.get(2)?,
        })
    })?;
    rows.collect()
}

/// What a hook's context does with a session's provisional pushes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Shown by the session: mark seen, leave out of the context.
    pub arrived: Vec<i64>,
    /// Too recent to judge: leave out of the context, leave unseen.
    pub waiting: Vec<i64>,
}

/// Judge `pushes` against the transcript tail `transcript` (`None`: no transcript to check,
/// every push counts as arrived) at `now_ms`, with `confirm_ms` to show up. Pushes neither
/// arrived nor waiting were lost: the context delivers them.
pub fn judge(
    pushes: &[Provisional],
    transcript: Option<&str>,
    now_ms: i64,
    confirm_ms: i64,
) -> Verdict {
    let mut v = Verdict::default();
    for p in pushes {
        match transcript {
            None => v.arrived.push(p.inbox_id),
            Some(t) if t.contains(&p.token) => v.arrived.push(p.inbox_id),
            Some(_) if now_ms - p.pushed_ms < confirm_ms => v.waiting.push(p.inbox_id),
            Some(_) => {}
        }
    }
    v
}

/// The end of a transcript (at most [`TRANSCRIPT_TAIL`] bytes), as text. `None` when the
/// path is not a regular `.jsonl` file that can be read: then no push can be confirmed
/// from it, and they count as arrived (as without a transcript).
pub fn transcript_tail(path: &str) -> Option<String> {
    let p = Path::new(path);
    if p.extension().and_then(|e| e.to_str()) != Some("jsonl") {
        return None;
    }
    let mut f = std::fs::File::open(p).ok()?;
    let meta = f.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    let start = meta.len().saturating_sub(TRANSCRIPT_TAIL);
    f.seek(SeekFrom::Start(start)).ok()?;
    let mut buf = Vec::new();
    f.take(TRANSCRIPT_TAIL).read_to_end(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(id: i64, pushed_ms: i64) -> Provisional {
        Provisional {
            inbox_id: id,
            token: format!("peer-message-{id}-00ff00ff00ff00ff"),
            pushed_ms,
        }
    }

    #[test]
    fn a_push_is_seen_only_when_the_transcript_shows_it_or_it_is_lost_after_the_wait() {
        let pushes = [p(1, 1_000), p(2, 1_000), p(3, 50_000)];
        let t = r#"{"type":"user","message":{"content":"<channel source=\"claude-daemons\">x <peer-message-1-00ff00ff00ff00ff from=\"a\">"}}"#;
        let v = judge(&pushes, Some(t), 60_000, 30_000);
        // 1 shown; 2 not shown after 59 s: lost (delivered by the hook); 3 only 10 s old.
        assert_eq!(v.arrived, vec![1]);
        assert_eq!(v.waiting, vec![3]);
        // No transcript to check: the old rule, a push is a delivery.
        let v = judge(&pushes, None, 60_000, 30_000);
        assert_eq!(v.arrived, vec![1, 2, 3]);
        assert!(v.waiting.is_empty());
    }

    #[test]
    fn only_a_readable_jsonl_file_is_a_transcript() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("s.jsonl");
        std::fs::write(&f, "a\nb\n").unwrap();
        assert_eq!(transcript_tail(f.to_str().unwrap()).unwrap(), "a\nb\n");
        assert!(transcript_tail(dir.path().join("none.jsonl").to_str().unwrap()).is_none());
        let other = dir.path().join("s.txt");
        std::fs::write(&other, "x").unwrap();
        assert!(transcript_tail(other.to_str().unwrap()).is_none());
        std::fs::create_dir(dir.path().join("d.jsonl")).unwrap();
        assert!(transcript_tail(dir.path().join("d.jsonl").to_str().unwrap()).is_none());
    }
}
