//! What the observers spent, per user session and per UTC day, against the caps of
//! `[memory]`. Spend is counted from each result's `usage` (all input, cache and output
//! tokens) and `total_cost_usd` (Claude Code's running total for the process, so the
//! difference from the last one seen), and kept in the database so a restart forgets none.

use claude_daemons::config::MemoryConfig;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

/// The caps.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Caps {
    /// Tokens per user session (0 = no cap).
    pub session_tokens: u64,
    /// Tokens per day (0 = no cap).
    pub day_tokens: u64,
    /// USD per user session (0 = no cap).
    pub session_usd: f64,
    /// USD per day (0 = no cap).
    pub day_usd: f64,
}

impl Caps {
    /// The caps of a configuration.
    pub fn of(m: &MemoryConfig) -> Caps {
        Caps {
            session_tokens: m.observer_session_tokens,
            day_tokens: m.observer_day_tokens,
            session_usd: m.observer_session_usd,
            day_usd: m.observer_day_usd,
        }
    }
}

/// What was spent so far.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Spent {
    /// Tokens by this session's observer.
    pub session_tokens: u64,
    /// USD by this session's observer.
    pub session_usd: f64,
    /// Tokens by all observers today (UTC).
    pub day_tokens: u64,
    /// USD by all observers today (UTC).
    pub day_usd: f64,
}

/// Which cap `spent` reached, if any, said for a person.
pub fn exceeded(caps: &Caps, spent: &Spent) -> Option<String> {
    if caps.session_tokens > 0 && spent.session_tokens >= caps.session_tokens {
        return Some(format!(
            "the session's observer token cap ({} of {}) is reached",
            spent.session_tokens, caps.session_tokens
        ));
    }
    if caps.session_usd > 0.0 && spent.session_usd >= caps.session_usd {
        return Some(format!(
            "the session's observer cost cap (${:.4} of ${:.2}) is reached",
            spent.session_usd, caps.session_usd
        ));
    }
    if caps.day_tokens > 0 && spent.day_tokens >= caps.day_tokens {
        return Some(format!(
            "today's observer token cap ({} of {}) is reached",
            spent.day_tokens, caps.day_tokens
        ));
    }
    if caps.day_usd > 0.0 && spent.day_usd >= caps.day_usd {
        return Some(format!(
            "today's observer cost cap (${:.4} of ${:.2}) is reached",
            spent.day_usd, caps.day_usd
        ));
    }
    None
}

/// What was spent, for `session` and today.
pub fn spent(conn: &Connection, session: &str) -> rusqlite::Result<Spent> {
    conn.prepare_cached(
        "SELECT coalesce(sum(CASE WHEN session_id = ?1 THEN tokens END), 0),
                coalesce(sum(CASE WHEN session_id = ?1 THEN usd END), 0),
                coalesce(sum(CASE WHEN day = strftime('%Y-%m-%d', 'now') THEN tokens END), 0),
                coalesce(sum(CASE WHEN day = strftime('%Y-%m-%d', 'now') THEN usd END), 0)
         FROM observer_spend WHERE session_id = ?1 OR day = strftime('%Y-%m-%d', 'now')",
    )?
    .query_row([session], |r| {
        Ok(Spent {
            session_tokens: r.get::<_, i64>(0)?.max(0) as u64,
            session_usd: r.get(1)?,
            day_tokens: r.get::<_, i64>(2)?.max(0) as u64,
            day_usd: r.get(3)?,
        })
    })
}

/// Today's UTC day and what all observers spent on it (the session fields stay 0).
pub fn today(conn: &Connection) -> rusqlite::Result<(String, Spent)> {
    conn.prepare_cached(
        "SELECT strftime('%Y-%m-%d', 'now'), coalesce(sum(tokens), 0), coalesce(sum(usd), 0)
         FROM observer_spend WHERE day = strftime('%Y-%m-%d', 'now')",
    )?
    .query_row([], |r| {
        let spent = Spent {
            day_tokens: r.get::<_, i64>(1)?.max(0) as u64,
            day_usd: r.get(2)?,
            ..Spent::default()
        };
        Ok((r.get(0)?, spent))
    })
}

/// Every token of a result's `usage`: input, cache writes and reads, output.
pub fn tokens(usage: Option<&Value>) -> u64 {
    let Some(u) = usage else { return 0 };
    [
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    ]
    .iter()
    .filter_map(|k| u.get(k).and_then(Value::as_u64))
    .sum()
}

/// The cost of this turn: the growth of Claude Code's running total since the last result
/// of this session's observer (a restarted process starts counting again from zero).
pub fn usd_delta(conn: &Connection, session: &str, total: Option<f64>) -> rusqlite::Result<f64> {
    let Some(total) = total else { return Ok(0.0) };
    let last: f64 = conn
        .prepare_cached("SELECT last_cost_usd FROM observer_sessions WHERE session_id = ?1")?
        .query_row([session], |r| r.get(0))
        .optional()?
        .unwrap_or(0.0);
    conn.prepare_cached(
        "INSERT INTO observer_sessions (session_id, last_cost_usd) VALUES (?1, ?2)
         ON CONFLICT (session_id) DO UPDATE SET last_cost_usd = ?2",
    )?
    .execute(params![session, total])?;
    Ok(if total >= last { total - last } else { total })
}

/// Count one request and what it cost.
pub fn record(conn: &Connection, session: &str, tokens: u64, usd: f64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO observer_spend (session_id, day, requests, tokens, usd)
         VALUES (?1, strftime('%Y-%m-%d', 'now'), 1, ?2, ?3)
         ON CONFLICT (session_id, day) DO UPDATE SET requests = requests + 1,
           tokens = tokens + ?2, usd = usd + ?3",
    )?
    .execute(params![session, tokens as i64, usd])?;
    Ok(())
}

/// Count the events a valid answer covered and the observations it gave (for the
/// events-per-request and tokens-per-observation figures).
pub fn counted(
    conn: &Connection,
    session: &str,
    events: usize,
    observations: usize,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO observer_spend (session_id, day, events, observations)
         VALUES (?1, strftime('%Y-%m-%d', 'now'), ?2, ?3)
         ON CONFLICT (session_id, day) DO UPDATE SET events = events + ?2,
           observations = observations + ?3",
    )?
    .execute(params![session, events as i64, observations as i64])?;
    Ok(())
}

/// Remember that `session` reached a cap (and, for the next SessionStart context, that a
/// cap was reached today). True the first time for the session: say it then.
pub fn note_once(conn: &Connection, session: &str, why: &str) -> rusqlite::Result<bool> {
    let noted: Option<Option<String>> = conn
        .query_row(
            "SELECT budget_note FROM observer_sessions WHERE session_id = ?1",
            [session],
            |r| r.get(0),
        )
        .optional()?;
    if noted.flatten().is_some() {
        return Ok(false);
    }
    conn.execute(
        "INSERT INTO observer_sessions (session_id, budget_note) VALUES (?1, ?2)
         ON CONFLICT (session_id) DO UPDATE SET budget_note = ?2",
        params![session, why],
    )?;
    let note = serde_json::json!({"day": chrono_day(), "reason": why}).to_string();
    conn.execute(
        "INSERT INTO settings (key, value) VALUES ('observer.budget', ?1)
         ON CONFLICT (key) DO UPDATE SET value = ?1,
           updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
        [note],
    )?;
    Ok(true)
}

fn chrono_day() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // Days since the epoch to a civil date (Howard Hinnant's algorithm).
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_by_session_and_day() {
        let (_dir, c) = crate::schema::test_db();
        let caps = Caps {
            session_tokens: 1000,
            day_tokens: 1500,
            session_usd: 0.0,
            day_usd: 0.05,
        };
        record(&c, "a", 600, 0.01).unwrap();
        assert_eq!(exceeded(&caps, &spent(&c, "a").unwrap()), None);
        record(&c, "a", 400, 0.01).unwrap();
        let why = exceeded(&caps, &spent(&c, "a").unwrap()).unwrap();
        assert!(why.contains("session's observer token cap"), "{why}");
        assert_eq!(exceeded(&caps, &spent(&c, "b").unwrap()), None);
        record(&c, "b", 600, 0.01).unwrap();
        let why = exceeded(&caps, &spent(&c, "b").unwrap()).unwrap();
        assert!(why.contains("today's observer token cap"), "{why}");
        assert_eq!(usd_delta(&c, "a", Some(0.02)).unwrap(), 0.02);
        assert!((usd_delta(&c, "a", Some(0.05)).unwrap() - 0.03).abs() < 1e-9);
        assert_eq!(
            usd_delta(&c, "a", Some(0.01)).unwrap(),
            0.01,
            "restarted process"
        );
        assert!(note_once(&c, "a", "cap").unwrap());
        assert!(!note_once(&c, "a", "cap").unwrap(), "said once");
        assert_eq!(chrono_day().len(), 10);
        let u = serde_json::json!({"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 100});
        assert_eq!(tokens(Some(&u)), 115);
    }

    #[test]
    fn today_sums_every_session_of_the_day() {
        let (_dir, c) = crate::schema::test_db();
        let (day, spent) = today(&c).unwrap();
        assert_eq!((day.len(), spent.day_tokens, spent.day_usd), (10, 0, 0.0));
        record(&c, "a", 600, 0.25).unwrap();
        record(&c, "b", 400, 0.5).unwrap();
        c.execute(
            "INSERT INTO observer_spend (session_id, day, requests, tokens, usd)
             VALUES ('a', '2000-01-01', 1, 9999, 9.0)",
            [],
        )
        .unwrap();
        let (day, spent) = today(&c).unwrap();
        assert_eq!(day, chrono_day());
        assert_eq!((spent.day_tokens, spent.day_usd), (1000, 0.75));
    }
}
