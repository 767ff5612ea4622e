//! What `/stream` sends about records: every new observation, summary and prompt in full,
//! in id order, each event carrying the highest ids sent so far as its SSE id. A client that
//! reconnects with `Last-Event-ID` gets everything stored since, whatever it missed and
//! however long it was away (the database is the replay log).

use crate::records;
use rusqlite::Connection;
use serde_json::Value;

/// Highest observation, summary and prompt id a client has.
pub type Marks = [i64; 3];

/// Rows sent per kind per catch-up query; a catch-up loops until it has all.
const BATCH: i64 = 200;

/// Parse an SSE id (`"obs.summary.prompt"`).
pub fn parse(id: &str) -> Option<Marks> {
    let mut it = id.trim().split('.').map(|n| n.parse::<i64>().ok());
    let m = [it.next()??, it.next()??, it.next()??];
    (it.next().is_none() && m.iter().all(|n| *n >= 0)).then_some(m)
}

/// The SSE id for `m`.
pub fn format(m: &Marks) -> String {
    format!("{}.{}.{}", m[0], m[1], m[2])
}

/// The highest ids stored now.
pub fn latest(conn: &Connection) -> rusqlite::Result<Marks> {
    conn.query_row(
        "SELECT (SELECT ifnull(max(id), 0) FROM observations),
                (SELECT ifnull(max(id), 0) FROM session_summaries),
                (SELECT ifnull(max(id), 0) FROM user_prompts)",
        [],
        |r| Ok([r.get(0)?, r.get(1)?, r.get(2)?]),
    )
}

/// One record for the stream: event name, kind index in [`Marks`], id and JSON.
pub struct Item {
    /// SSE event name (seed 000's).
    pub name: &'static str,
    /// Index into [`Marks`].
    pub kind: usize,
    /// Row id.
    pub id: i64,
    /// The record as `/api/*` lists it, plus `project_name` for filtering.
    pub data: Value,
}

fn project_name(conn: &Connection, table: &str, id: i64) -> rusqlite::Result<Value> {
    conn.prepare_cached(&format!("SELECT project_name FROM {table} WHERE id = ?1"))?
        .query_row([id], |r| r.get::<_, String>(0))
        .map(Value::String)
}

fn item(
    conn: &Connection,
    name: &'static str,
    kind: usize,
    table: &str,
    id: i64,
    record: impl serde::Serialize,
) -> rusqlite::Result<Item> {
    let mut data = serde_json::to_value(record).unwrap_or_default();
    if let Value::Object(o) = &mut data {
        o.insert("project_name".into(), project_name(conn, table, id)?);
    }
    Ok(Item {
        name,
        kind,
        id,
        data,
    })
}

/// Records stored after `m`, oldest first (at most [`BATCH`] of each kind).
pub fn after(conn: &Connection, m: &Marks) -> rusqlite::Result<Vec<Item>> {
    let mut out = Vec::new();
    for o in records::observation_rows(conn, None, None, m[0], BATCH, 0)? {
        out.push(item(
            conn,
            "observation-created",
            0,
            "observations",
            o.id,
            &o,
        )?);
    }
    for s in records::summary_rows(conn, None, None, m[1], BATCH, 0)? {
        let id = s.id;
        out.push(item(
            conn,
            "session-summary-created",
            1,
            "session_summaries",
            id,
            s,
        )?);
    }
    for p in records::prompt_rows(conn, None, None, m[2], BATCH, 0)? {
        let id = p.id;
        out.push(item(conn, "user-prompt-created", 2, "user_prompts", id, p)?);
    }
    out.sort_by_key(|i| (i.id, i.kind));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_bad_ones_are_ignored() {
        assert_eq!(parse("3.0.12"), Some([3, 0, 12]));
        assert_eq!(parse(&format(&[7, 8, 9])), Some([7, 8, 9]));
        for bad in ["", "1.2", "1.2.3.4", "a.b.c", "-1.0.0", "1..2"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
