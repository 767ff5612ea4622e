//! The SessionStart context: a compact markdown timeline of the project's recent work,
//! newest first, cut to a token budget (characters / 4), with IDs the model can look up.
//! An empty project gets one short hint instead of boilerplate.

use crate::privacy::CONTEXT_TAG;
use rusqlite::{params, Connection};

/// Observations considered at most.
const MAX_OBSERVATIONS: i64 = 50;
/// Summaries considered at most.
const MAX_SUMMARIES: i64 = 3;
/// How many of the newest observations are shown with their facts.
const DETAILED: usize = 3;

/// A rendered context.
#[derive(Clone, Debug, PartialEq)]
pub struct Rendered {
    /// The markdown, wrapped in the context tag.
    pub markdown: String,
    /// Observations shown.
    pub observations: usize,
    /// Estimated tokens.
    pub tokens: usize,
}

struct Obs {
    id: i64,
    kind: String,
    title: String,
    facts: Vec<String>,
    day: String,
    time: String,
    /// Estimated tokens to read it in full (characters / 4).
    read_tokens: i64,
    /// Tokens the observer spent writing it.
    discovery_tokens: i64,
    /// A teammate's: who wrote it (team memory).
    by: Option<String>,
}

/// `picked`: the newest `?2` rows of `table` keyed `?1` or `?3`. Two index searches merged:
/// `project IN (?1, ?3)` makes SQLite scan the whole table by time instead.
fn newest(table: &str) -> String {
    let one = |key: &str| {
        format!(
            "SELECT * FROM (SELECT id, created_at_epoch FROM {table} WHERE project = {key}
               ORDER BY created_at_epoch DESC, id DESC LIMIT ?2)"
        )
    };
    format!("WITH picked AS ({} UNION ALL {})", one("?1"), one("?3"))
}

/// Render the context of `project` (its key) named `name`, within `budget` tokens. Records
/// imported from claude-mem whose repository could not be found carry the bare name as
/// their key (a real key is an absolute path): they belong to every project of that name,
/// as they did in claude-mem.
pub fn render(
    conn: &Connection,
    project: &str,
    name: &str,
    budget: usize,
) -> rusqlite::Result<Rendered> {
    let budget_chars = budget.max(50) * 4;
    // No key is empty: the bare-name half then finds nothing (a root named like its path).
    let bare = if name == project { "" } else { name };
    let mut st = conn.prepare_cached(&format!(
        "{}
         SELECT o.id, type, title, facts, substr(created_at, 1, 10), substr(created_at, 12, 5),
           (length(title) + length(coalesce(subtitle, '')) + length(facts)
            + length(coalesce(narrative, ''))) / 4, discovery_tokens,
           (SELECT m.name || '@' || m.host FROM team_records t JOIN team_members m
              ON m.key = t.member WHERE t.record = 'observation' AND t.id = o.id)
         FROM picked p JOIN observations o ON o.id = p.id
         ORDER BY p.created_at_epoch DESC, p.id DESC LIMIT ?2",
        newest("observations")
    ))?;
    let obs: Vec<Obs> = st
        .query_map(params![project, MAX_OBSERVATIONS, bare], |r| {
            Ok(Obs {
                id: r.get(0)?,
                kind: r.get(1)?,
                title: r.get(2)?,
                facts: serde_json::from_str(&r.get::<_, String>(3)?).unwrap_or_default(),
                day: r.get(4)?,
                time: r.get(5)?,
                read_tokens: r.get(6)?,
                discovery_tokens: r.get(7)?,
                by: r.get(8)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut st = conn.prepare_cached(&format!(
        "{}
         SELECT s.id, request, completed, learned, next_steps, substr(created_at, 1, 16)
         FROM picked p JOIN session_summaries s ON s.id = p.id
         ORDER BY p.created_at_epoch DESC, p.id DESC LIMIT ?2",
        newest("session_summaries")
    ))?;
    let summaries: Vec<[Option<String>; 5]> = st
        .query_map(params![project, MAX_SUMMARIES, bare], |r| {
            Ok([
                Some(format!("#S{}", r.get::<_, i64>(0)?)),
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
            ])
        })?
        .collect::<rusqlite::Result<_>>()?;

    let open = format!("<{CONTEXT_TAG}>\n");
    let close = format!("</{CONTEXT_TAG}>");
    if obs.is_empty() && summaries.is_empty() {
        let markdown = format!(
            "{open}# Memory: {name}\nNo earlier work is recorded for this project yet; \
             what you do now will be remembered for later sessions.\n{close}"
        );
        let tokens = markdown.len() / 4;
        return Ok(Rendered {
            markdown,
            observations: 0,
            tokens,
        });
    }

    let mut out = String::with_capacity(budget_chars.min(64 << 10));
    out.push_str(&open);
    out.push_str(&format!("# Memory: {name} — recent work, newest first\n"));
    out.push_str(
        "Types: change (edits), discovery (reads, searches, commands), other kinds as written. ",
    );
    out.push_str("Fetch any entry in full by its ID: `claudectl mem get <ID>` or GET /v1/observations/<ID>.\n");
    if let Some(note) = budget_note(conn)? {
        out.push_str(&format!("Note: {note}\n"));
    }
    let spent: i64 = obs.iter().map(|o| o.discovery_tokens).sum();
    if spent > 0 {
        let read: i64 = obs.iter().map(|o| o.read_tokens).sum();
        let saved = (spent - read).max(0) * 100 / spent;
        out.push_str(&format!(
            "Stats: {} observations, ~{read} tokens to read them, {spent} tokens spent writing them ({saved}% saved).\n",
            obs.len()
        ));
    }
    let footer_len = close.len() + 80;

    if let Some([id, request, completed, learned, next]) = summaries.first() {
        let mut s = format!(
            "\n## Last session summary ({})\n",
            id.as_deref().unwrap_or("")
        );
        for (label, v) in [
            ("Request", request),
            ("Completed", completed),
            ("Learned", learned),
            ("Next", next),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                s.push_str(&format!("- {label}: {}\n", one_line(v, 240)));
            }
        }
        if out.len() + s.len() + footer_len <= budget_chars {
            out.push_str(&s);
        }
    }

    let mut shown = 0;
    let mut day = String::new();
    for (i, o) in obs.iter().enumerate() {
        let mut s = String::new();
        if o.day != day {
            s.push_str(&format!("\n## {}\n", o.day));
        }
        s.push_str(&format!(
            "- #{} {} {} — {}{}\n",
            o.id,
            o.time,
            o.kind,
            one_line(&o.title, 160),
            o.by.as_deref()
                .map(|by| format!(" (teammate {by})"))
                .unwrap_or_default()
        ));
        if i < DETAILED {
            for f in o.facts.iter().take(3) {
                s.push_str(&format!("  - {}\n", one_line(f, 160)));
            }
        }
        if out.len() + s.len() + footer_len > budget_chars {
            break;
        }
        day.clone_from(&o.day);
        out.push_str(&s);
        shown += 1;
    }
    if shown < obs.len() {
        out.push_str(&format!(
            "\n({} older entries not shown; search with GET /v1/search?q=…&project=…)\n",
            obs.len() - shown
        ));
    }
    out.push_str(&close);
    let tokens = out.len() / 4;
    Ok(Rendered {
        markdown: out,
        observations: shown,
        tokens,
    })
}

/// Today's observer budget note, if a cap was reached today.
fn budget_note(conn: &Connection) -> rusqlite::Result<Option<String>> {
    let v: Option<String> = conn
        .query_row(
            "SELECT value FROM settings WHERE key = 'observer.budget'
               AND json_extract(value, '$.day') = strftime('%Y-%m-%d', 'now')",
            [],
            |r| r.get(0),
        )
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })?;
    Ok(v.and_then(|v| {
        let v: serde_json::Value = serde_json::from_str(&v).ok()?;
        Some(format!(
            "the Claude observer's budget was reached today ({}); newer entries are the local builder's.",
            v["reason"].as_str()?
        ))
    }))
}

fn one_line(s: &str, max: usize) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        let mut t: String = flat.chars().take(max).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        // The directory must outlive the connection, which the tests keep to the end.
        let (dir, c) = crate::schema::test_db();
        std::mem::forget(dir);
        c
    }

    fn add(c: &Connection, project: &str, title: &str, epoch: i64) -> i64 {
        c.query_row(
            "INSERT INTO observations (session_id, project, project_name, type, title, facts, created_at, created_at_epoch)
             VALUES ('s', ?1, 'app', 'change', ?2, '[\"fact one\"]', strftime('%Y-%m-%dT%H:%M:%fZ', ?3, 'unixepoch'), ?3) RETURNING id",
            params![project, title, epoch],
            |r| r.get(0),
        )
        .unwrap()
    }

    #[test]
    fn records_keyed_by_the_bare_name_join_every_project_of_that_name() {
        let c = db();
        let mine = add(&c, "/src/app", "Edited mine.rs", 1_700_000_000);
        let imported = add(&c, "app", "Imported from claude-mem", 1_700_000_100);
        add(&c, "/src/other", "Edited other.rs", 1_700_000_200);
        let r = render(&c, "/src/app", "app", 2000).unwrap();
        assert_eq!(r.observations, 2, "{}", r.markdown);
        let (a, b) = (
            r.markdown.find(&format!("#{imported} ")).unwrap(),
            r.markdown.find(&format!("#{mine} ")).unwrap(),
        );
        assert!(a < b, "one timeline, newest first:\n{}", r.markdown);
        assert_eq!(
            render(&c, "/src/other", "other", 2000)
                .unwrap()
                .observations,
            1
        );
    }

    #[test]
    fn empty_project_gets_a_short_hint() {
        let c = db();
        let r = render(&c, "/p", "app", 2000).unwrap();
        assert_eq!(r.observations, 0);
        assert!(r.markdown.contains("No earlier work"));
        assert!(r.markdown.len() < 300);
    }

    #[test]
    fn newest_first_with_ids_within_budget() {
        let c = db();
        let old = add(&c, "/p", "Edited old.rs", 1_700_000_000);
        let new = add(&c, "/p", "Edited new.rs", 1_700_000_100);
        add(&c, "/other", "Edited elsewhere.rs", 1_700_000_200);
        let r = render(&c, "/p", "app", 2000).unwrap();
        let (a, b) = (
            r.markdown.find(&format!("#{new} ")).unwrap(),
            r.markdown.find(&format!("#{old} ")).unwrap(),
        );
        assert!(a < b, "newest first:\n{}", r.markdown);
        assert!(!r.markdown.contains("elsewhere"), "other projects stay out");
        assert!(r.markdown.starts_with("<claude-memory-context>"));
        for i in 0..500 {
            add(
                &c,
                "/p",
                &format!("Edited file number {i} with a long enough title"),
                1_700_001_000 + i,
            );
        }
        let r = render(&c, "/p", "app", 300).unwrap();
        assert!(r.markdown.len() <= 300 * 4, "{}", r.markdown.len());
        assert!(
            r.observations > 3 && r.observations < 50,
            "{}",
            r.observations
        );
        assert!(r.markdown.contains("Edited file number 499"));
        assert!(r.markdown.contains("older entries not shown"));
        assert!(!r.markdown.contains("Stats:"), "no spend, no stats line");
    }

    #[test]
    fn stats_line_and_budget_note() {
        let c = db();
        let id = add(&c, "/p", "Fixed the parser", 1_700_000_000);
        c.execute(
            "UPDATE observations SET discovery_tokens = 4000 WHERE id = ?1",
            [id],
        )
        .unwrap();
        c.execute(
            "INSERT INTO settings (key, value) VALUES ('observer.budget',
               json_object('day', strftime('%Y-%m-%d', 'now'), 'reason', 'today''s observer cost cap is reached'))",
            [],
        )
        .unwrap();
        let r = render(&c, "/p", "app", 2000).unwrap();
        assert!(
            r.markdown.contains("Stats: 1 observations, ~"),
            "{}",
            r.markdown
        );
        assert!(
            r.markdown
                .contains("4000 tokens spent writing them (99% saved)"),
            "{}",
            r.markdown
        );
        assert!(
            r.markdown
                .contains("budget was reached today (today's observer cost cap"),
            "{}",
            r.markdown
        );
    }
}
