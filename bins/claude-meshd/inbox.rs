//! The inbox: received messages, deduplicated on (sender key, `client_message_id`), with
//! per-session seen marks. Who may read a row is decided by [`visible`], shared by the inbox
//! query, the SSE stream and the hook context so a session never reads another's DMs.

use crate::clock::now_text;
use claude_daemons::api::mesh::{InboxItem, PeerRef, Priority};
use rusqlite::{params, Connection, OptionalExtension, Row};

/// A message to store.
#[derive(Clone, Debug)]
pub struct Incoming {
    /// Sender member key.
    pub from_key: String,
    /// Sender display name.
    pub from_name: String,
    /// Sending session.
    pub from_session: Option<String>,
    /// The send's id.
    pub client_message_id: String,
    /// Stream sequence when it came through the broker.
    pub broker_message_id: Option<i64>,
    /// `dm`, `broadcast`, `group`, `topic`.
    pub kind: String,
    /// Canonical destination (`key`, `key/session`, `*`, `@g`, `#t`).
    pub to: String,
    /// Body.
    pub body: String,
    /// Priority.
    pub priority: Priority,
    /// reply_to.
    pub reply_to: Option<String>,
    /// meta JSON text.
    pub meta: Option<String>,
    /// Accepted at by the sender.
    pub created_at: String,
}

/// Insert unless already there. Returns the row id and whether it is new.
pub fn insert(conn: &Connection, m: &Incoming) -> rusqlite::Result<(i64, bool)> {
    let to_session =
        m.to.split_once('/')
            .filter(|_| m.kind == "dm")
            .map(|(_, s)| s.to_string());
    let dest = match m.kind.as_str() {
        "dm" => m.to.split('/').next().unwrap_or("").to_string(),
        _ => m.to.trim_start_matches(['@', '#']).to_string(),
    };
    let n = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO inbox (from_key, client_message_id, broker_message_id,
                 from_session, from_name, kind, to_text, dest, to_session, body, priority,
                 reply_to, meta, created_at, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        )?
        .execute(params![
            m.from_key,
            m.client_message_id,
            m.broker_message_id,
            m.from_session,
            m.from_name,
            m.kind,
            m.to,
            dest,
            to_session,
            m.body,
            m.priority.as_str(),
            m.reply_to,
            m.meta,
            m.created_at,
            now_text(),
        ])?;
    if n == 1 {
        return Ok((conn.last_insert_rowid(), true));
    }
    let id = conn.query_row(
        "SELECT id FROM inbox WHERE from_key = ?1 AND client_message_id = ?2",
        params![m.from_key, m.client_message_id],
        |r| r.get(0),
    )?;
    Ok((id, false))
}

/// The item `m` is once stored as row `id` (what [`get`] would read back, unseen).
pub fn stored_item(id: i64, m: &Incoming) -> InboxItem {
    InboxItem {
        id,
        client_message_id: m.client_message_id.clone(),
        broker_message_id: m.broker_message_id,
        from: PeerRef {
            key: m.from_key.clone(),
            name: m.from_name.clone(),
            session: m.from_session.clone(),
        },
        to: m.to.clone(),
        kind: m.kind.clone(),
        body: m.body.clone(),
        priority: m.priority,
        reply_to: m.reply_to.clone(),
        meta: m.meta.as_deref().and_then(|t| serde_json::from_str(t).ok()),
        created_at: m.created_at.clone(),
        seen_at: None,
    }
}

/// What a session belongs to, for visibility.
#[derive(Clone, Debug, Default)]
pub struct Membership {
    /// This daemon's member key.
    pub me: String,
    /// The session.
    pub session: String,
    /// Its groups.
    pub groups: Vec<String>,
    /// Its topics.
    pub topics: Vec<String>,
}

/// Whether `item` is for `m`'s session: DMs to it or to its whole member, broadcasts, its
/// groups and topics — never what it sent itself.
pub fn visible(item: &InboxItem, m: &Membership) -> bool {
    if item.from.key == m.me && item.from.session.as_deref() == Some(m.session.as_str()) {
        return false;
    }
    match item.kind.as_str() {
        "dm" => match item.to.split_once('/') {
            Some((key, session)) => key == m.me && session == m.session,
            None => item.to == m.me,
        },
        "broadcast" => true,
        "group" => m.groups.iter().any(|g| item.to == format!("@{g}")),
        "topic" => m.topics.iter().any(|t| item.to == format!("#{t}")),
        _ => false,
    }
}

const COLUMNS: &str = "i.id, i.client_message_id, i.broker_message_id, i.from_key, i.from_name,
    i.from_session, i.to_text, i.kind, i.body, i.priority, i.reply_to, i.meta, i.created_at";

fn item(r: &Row<'_>, seen_at: Option<String>) -> rusqlite::Result<InboxItem> {
    let meta: Option<String> = r.get(11)?;
    Ok(InboxItem {
        id: r.get(0)?,
        client_message_id: r.get(1)?,
        broker_message_id: r.get(2)?,
        from: PeerRef {
            key: r.get(3)?,
            name: r.get(4)?,
            session: r.get(5)?,
        },
        to: r.get(6)?,
        kind: r.get(7)?,
        body: r.get(8)?,
        priority: Priority::parse(&r.get::<_, String>(9)?).unwrap_or_default(),
        reply_to: r.get(10)?,
        meta: meta.and_then(|m| serde_json::from_str(&m).ok()),
        created_at: r.get(12)?,
        seen_at,
    })
}

/// One inbox row.
pub fn get(conn: &Connection, id: i64) -> rusqlite::Result<Option<InboxItem>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS}, i.seen_at FROM inbox i WHERE i.id = ?1"
    ))?
    .query_row([id], |r| item(r, r.get(13)?))
    .optional()
}

/// Filters of `GET /v1/inbox`.
#[derive(Clone, Debug, Default)]
pub struct Query {
    /// Rows with id > since.
    pub since: i64,
    /// Sender key (or key prefix) or name.
    pub from: Option<String>,
    /// Topic (`#t` or `t`).
    pub topic: Option<String>,
    /// Only rows not yet seen (by the session when given).
    pub unread_only: bool,
    /// Most rows.
    pub limit: usize,
}

/// Read a page; `who` restricts to one session's view. Returns the items (with the session's
/// own seen marks) and the cursor after the last row scanned.
pub fn page(
    conn: &Connection,
    q: &Query,
    who: Option<&Membership>,
) -> rusqlite::Result<(Vec<InboxItem>, i64)> {
    let seen_col = if who.is_some() {
        "(SELECT s.seen_at FROM inbox_seen s WHERE s.inbox_id = i.id AND s.session_id = ?2)"
    } else {
        "i.seen_at"
    };
    // A session's view is narrowed in SQL first, through the destination and kind indexes,
    // to a superset of what `visible` (which still decides) lets through: the hook asks on
    // every tool call, and reading a month's inbox row by row made that call grow with the
    // messages meant for other sessions.
    let mut args: Vec<rusqlite::types::Value> = vec![0.into()];
    let rows = match who {
        None => "i.id > ?1".to_string(),
        Some(m) => {
            args.extend([m.session.clone().into(), m.me.clone().into()]);
            let dests: Vec<String> = (m.groups.iter().map(|g| format!("@{g}")))
                .chain(m.topics.iter().map(|t| format!("#{t}")))
                .collect();
            let named = if dests.is_empty() {
                String::new()
            } else {
                let marks: Vec<String> = (0..dests.len()).map(|k| format!("?{}", k + 4)).collect();
                args.extend(dests.into_iter().map(Into::into));
                format!(
                    " UNION ALL SELECT id FROM inbox WHERE to_text IN ({}) AND id > ?1",
                    marks.join(", ")
                )
            };
            format!(
                "i.id IN (SELECT id FROM inbox WHERE kind = 'broadcast' AND id > ?1
                          UNION ALL SELECT id FROM inbox WHERE to_text IN (?3, ?3 || '/' || ?2)
                              AND id > ?1{named})"
            )
        }
    };
    let unread = if q.unread_only {
        format!("AND {seen_col} IS NULL")
    } else {
        String::new()
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS}, {seen_col} FROM inbox i WHERE {rows} {unread}
         ORDER BY i.id LIMIT 500"
    ))?;
    let mut out = Vec::new();
    let mut cursor = q.since;
    let topic = q
        .topic
        .as_deref()
        .map(|t| format!("#{}", t.trim_start_matches('#')));
    loop {
        let before = cursor;
        args[0] = cursor.into();
        let batch: Vec<InboxItem> = stmt
            .query_map(rusqlite::params_from_iter(&args), |r| item(r, r.get(13)?))?
            .collect::<Result<_, _>>()?;
        for it in batch {
            cursor = it.id;
            let keep = who.is_none_or(|m| visible(&it, m))
                && q.from
                    .as_deref()
                    .is_none_or(|f| it.from.key.starts_with(f) || it.from.name == f)
                && topic.as_deref().is_none_or(|t| it.to == t)
                && (!q.unread_only || it.seen_at.is_none());
            if keep {
                out.push(it);
                if out.len() >= q.limit {
                    return Ok((out, cursor));
                }
            }
        }
        if cursor == before {
            return Ok((out, cursor));
        }
    }
}

/// Mark rows seen (by a session when given, and the row's first-seen time).
pub fn mark_seen(conn: &Connection, ids: &[i64], session: Option<&str>) -> rusqlite::Result<()> {
    let now = now_text();
    for id in ids {
        conn.prepare_cached("UPDATE inbox SET seen_at = coalesce(seen_at, ?2) WHERE id = ?1")?
            .execute(params![id, now])?;
        if let Some(s) = session {
            conn.prepare_cached(
                "INSERT OR IGNORE INTO inbox_seen (inbox_id, session_id, seen_at)
                 VALUES (?1, ?2, ?3)",
            )?
            .execute(params![id, s, now])?;
        }
    }
    Ok(())
}

/// Drop messages received more than `days` ago (their seen marks go with them).
pub fn prune(conn: &Connection, days: u32) -> rusqlite::Result<usize> {
    let cutoff = crate::clock::text(crate::clock::now_ms() - i64::from(days) * 86_400_000);
    conn.execute("DELETE FROM inbox WHERE received_at < ?1", [cutoff])
}
