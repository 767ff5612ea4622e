//! Permission prompts and their decisions, kept in `supervisor.db` (table `permissions`):
//! what Claude Code asked, who or what answered, and when.

use claude_daemons::api::supervisor::PermissionRequest;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::Value;

const COLUMNS: &str = "id, key, tool_name, input, description, blocked_path, suggestions, tool_use_id, state, decided_by, message, created_at, decided_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<PermissionRequest> {
    let json = |i: usize| -> rusqlite::Result<Value> {
        Ok(serde_json::from_str(&r.get::<_, String>(i)?).unwrap_or(Value::Null))
    };
    Ok(PermissionRequest {
        id: r.get(0)?,
        key: r.get(1)?,
        tool_name: r.get(2)?,
        input: json(3)?,
        description: r.get(4)?,
        blocked_path: r.get(5)?,
        suggestions: json(6)?,
        tool_use_id: r.get(7)?,
        state: r.get(8)?,
        decided_by: r.get(9)?,
        message: r.get(10)?,
        created_at: r.get(11)?,
        decided_at: r.get(12)?,
    })
}

/// Store a new prompt (`p.state` pending, or already decided by a rule); returns it as
/// stored (with its timestamps).
pub fn insert(
    conn: &Connection,
    p: &PermissionRequest,
    request_id: &str,
) -> rusqlite::Result<PermissionRequest> {
    conn.prepare_cached(
        "INSERT INTO permissions (id, key, request_id, tool_name, input, description, blocked_path,
             suggestions, tool_use_id, state, decided_by, message, decided_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,
             CASE WHEN ?10 = 'pending' THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%fZ', 'now') END)",
    )?
    .execute(params![
        p.id,
        p.key,
        request_id,
        p.tool_name,
        p.input.to_string(),
        p.description,
        p.blocked_path,
        p.suggestions.to_string(),
        p.tool_use_id,
        p.state,
        p.decided_by,
        p.message,
    ])?;
    Ok(get(conn, &p.id)?.expect("row just inserted"))
}

/// Record the decision of a pending prompt; `None` if it was not pending.
pub fn decide(
    conn: &Connection,
    id: &str,
    state: &str,
    decided_by: &str,
    message: Option<&str>,
) -> rusqlite::Result<Option<PermissionRequest>> {
    let n = conn
        .prepare_cached(
            "UPDATE permissions SET state = ?2, decided_by = ?3, message = ?4,
                 decided_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
             WHERE id = ?1 AND state = 'pending'",
        )?
        .execute(params![id, state, decided_by, message])?;
    if n == 0 {
        return Ok(None);
    }
    get(conn, id)
}

pub fn get(conn: &Connection, id: &str) -> rusqlite::Result<Option<PermissionRequest>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM permissions WHERE id = ?1"),
        [id],
        from_row,
    )
    .optional()
}

/// A session's prompts, oldest first: the pending ones, or all of them.
pub fn list(conn: &Connection, key: &str, all: bool) -> rusqlite::Result<Vec<PermissionRequest>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM permissions WHERE key = ?1 AND (?2 OR state = 'pending')
         ORDER BY created_at, id"
    ))?;
    let rows = stmt.query_map(params![key, all], from_row)?;
    rows.collect()
}

/// At start: prompts left pending by a previous run asked a process that is gone.
pub fn abandon_pending(conn: &Connection) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE permissions SET state = 'denied', decided_by = 'session_ended',
             message = 'the supervisor restarted before anyone answered',
             decided_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
         WHERE state = 'pending'",
        [],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use claude_daemons::store::{self, Durability};
    use serde_json::json;

    #[test]
    fn prompts_are_decided_once_and_listed() {
        let dir = tempfile::tempdir().unwrap();
        let c = store::open(
            &dir.path().join("s.db"),
            &crate::schema::SCHEMA,
            Durability::Normal,
        )
        .unwrap();
        let mut p = PermissionRequest {
            id: "01A".into(),
            key: "k".into(),
            tool_name: "Bash".into(),
            input: json!({"command": "ls"}),
            description: None,
            blocked_path: None,
            suggestions: json!([]),
            tool_use_id: Some("toolu_1".into()),
            state: "pending".into(),
            decided_by: None,
            message: None,
            created_at: String::new(),
            decided_at: None,
        };
        let stored = insert(&c, &p, "req-1").unwrap();
        assert_eq!(stored.input, json!({"command": "ls"}));
        assert!(stored.decided_at.is_none());
        p.id = "01B".into();
        p.state = "allowed".into();
        p.decided_by = Some("rule:allow Bash".into());
        assert!(insert(&c, &p, "req-2").unwrap().decided_at.is_some());
        assert_eq!(list(&c, "k", false).unwrap().len(), 1);
        assert_eq!(list(&c, "k", true).unwrap().len(), 2);
        let d = decide(&c, "01A", "denied", "api", Some("no"))
            .unwrap()
            .unwrap();
        assert_eq!(
            (d.state.as_str(), d.message.as_deref()),
            ("denied", Some("no"))
        );
        assert!(
            decide(&c, "01A", "allowed", "api", None).unwrap().is_none(),
            "once"
        );
        assert!(list(&c, "k", false).unwrap().is_empty());
        p.id = "01C".into();
        p.state = "pending".into();
        insert(&c, &p, "req-3").unwrap();
        assert_eq!(abandon_pending(&c).unwrap(), 1);
        assert_eq!(
            get(&c, "01C").unwrap().unwrap().decided_by.as_deref(),
            Some("session_ended")
        );
    }
}
