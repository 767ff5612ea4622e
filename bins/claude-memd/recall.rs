//! Memory during a session, beyond SessionStart: before Claude reads or edits a file, the
//! project's observations that name it (newest first, once per file per session); with a
//! prompt, the few past observations that match its words best (ranked, none this session
//! was shown already). Each within a token budget (characters / 4), wrapped in the context
//! tag that intake strips, so what is shown is never stored again.

use crate::privacy::CONTEXT_TAG;
use rusqlite::{params, Connection};

struct Hit {
    id: i64,
    kind: String,
    title: String,
    facts: Vec<String>,
    day: String,
}

fn one_line(s: &str, max: usize) -> String {
    let s: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() <= max {
        return s;
    }
    s.chars().take(max).collect::<String>() + "…"
}

/// Mark `key` as shown to `session`; false when it already was.
fn first_time(conn: &Connection, session: &str, key: &str) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "INSERT OR IGNORE INTO session_recall (session_id, key) VALUES (?1, ?2)",
        params![session, key],
    )? == 1)
}

/// A context put together, and the observations it shows (to mark as shown).
pub struct Shown {
    /// The context, wrapped in the context tag.
    pub text: String,
    /// The observations in it.
    pub ids: Vec<i64>,
}

/// The lines that fit the budget, and which observations they show.
fn lines(heading: &str, hits: Vec<Hit>, budget_tokens: usize) -> Option<Shown> {
    let budget = budget_tokens.saturating_mul(4);
    let open = format!("<{CONTEXT_TAG}>\n{heading}\n");
    let close = format!("</{CONTEXT_TAG}>");
    let mut body = String::new();
    let mut ids = Vec::new();
    for h in hits {
        let mut s = format!(
            "- #{} {} {} — {}\n",
            h.id,
            h.day,
            h.kind,
            one_line(&h.title, 160)
        );
        for f in h.facts.iter().take(2) {
            s.push_str(&format!("  - {}\n", one_line(f, 200)));
        }
        if open.len() + body.len() + s.len() + close.len() > budget {
            break;
        }
        body.push_str(&s);
        ids.push(h.id);
    }
    (!body.is_empty()).then(|| Shown {
        text: format!("{open}{body}{close}"),
        ids,
    })
}

/// Mark `ids` as shown to `session`, in one commit.
pub fn mark_shown(conn: &Connection, session: &str, ids: &[i64]) -> rusqlite::Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let tx = conn.unchecked_transaction()?;
    for id in ids {
        first_time(&tx, session, &format!("obs:{id}"))?;
    }
    tx.commit()
}

/// [`lines`], with what they show marked for the session at once.
fn render(
    conn: &Connection,
    session: &str,
    heading: &str,
    hits: Vec<Hit>,
    budget_tokens: usize,
) -> rusqlite::Result<Option<String>> {
    let Some(shown) = lines(heading, hits, budget_tokens) else {
        return Ok(None);
    };
    mark_shown(conn, session, &shown.ids)?;
    Ok(Some(shown.text))
}

fn hit(r: &rusqlite::Row<'_>) -> rusqlite::Result<Hit> {
    Ok(Hit {
        id: r.get(0)?,
        kind: r.get(1)?,
        title: r.get(2)?,
        facts: serde_json::from_str(&r.get::<_, String>(3)?).unwrap_or_default(),
        day: r.get(4)?,
    })
}

fn hits(
    st: &mut rusqlite::CachedStatement<'_>,
    p: impl rusqlite::Params,
) -> rusqlite::Result<Vec<Hit>> {
    st.query_map(p, hit)?.collect()
}

/// Before a Read or Edit of `path` (absolute): the project's observations from other
/// sessions that read or changed it, newest first; `None` the second time for a file.
pub fn file(
    conn: &Connection,
    session: &str,
    project: &str,
    path: &str,
    shown_path: &str,
    budget_tokens: usize,
) -> rusqlite::Result<Option<String>> {
    if budget_tokens == 0 || path.is_empty() || !first_time(conn, session, &format!("file:{path}"))?
    {
        return Ok(None);
    }
    // CROSS JOIN keeps this order: from the file's few rows, not through every observation
    // of the project (which the planner picks for the ORDER BY without it: 60 ms vs 10 µs at
    // 100,000 observations).
    let mut st = conn.prepare_cached(
        "SELECT o.id, o.type, o.title, o.facts, substr(o.created_at, 1, 10)
         FROM observation_files f CROSS JOIN observations o ON o.id = f.observation_id
         WHERE f.path = ?1 AND o.project = ?2 AND o.session_id != ?3
         ORDER BY o.created_at_epoch DESC, o.id DESC LIMIT 20",
    )?;
    let found = hits(&mut st, params![path, project, session])?;
    render(
        conn,
        session,
        &format!("Memory: earlier work on {shown_path}, newest first (`claudectl mem show ID` or the get_observations tool for more):"),
        found,
        budget_tokens,
    )
}

/// Words of a prompt worth searching for: letters and digits, four or more characters
/// (or three with a digit or underscore), not among the commonest English words. Only
/// letters, digits and `_`, so quoting it makes a valid FTS5 string (`refresh_at` is the
/// phrase `refresh at`).
fn prompt_words(prompt: &str) -> Vec<String> {
    const COMMON: &[&str] = &[
        "that", "this", "with", "from", "have", "what", "when", "where", "which", "there", "their",
        "them", "then", "than", "they", "will", "would", "could", "should", "about", "into",
        "some", "more", "make", "just", "like", "also", "does", "each", "only", "other", "please",
        "want", "need", "again", "here", "your", "were", "been", "being", "very", "after",
        "before", "still", "because", "these", "those", "while", "over", "them", "file", "code",
        "work", "look", "take", "sure", "let's", "thing", "things", "really",
    ];
    let mut out: Vec<String> = Vec::new();
    for w in prompt.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
        let lower = w.to_lowercase();
        let long = lower.chars().count() >= 4
            || (lower.chars().count() == 3
                && lower.chars().any(|c| c.is_ascii_digit() || c == '_'));
        if long && !COMMON.contains(&lower.as_str()) && !out.contains(&lower) {
            out.push(lower);
        }
        if out.len() == 12 {
            break;
        }
    }
    out
}

/// How many observations, newest first over all projects, a prompt lookup looks through.
/// A prompt's words may match thousands of older records (of other projects too); ranking
/// every match took 28 ms at 100,000 observations. Recent work is what a session is likely
/// to want back, and this bounds the lookup's cost at any size of memory.
pub const PROMPT_WINDOW: i64 = 10_000;

/// How many of the project's newest matches are ranked for each record shown.
const CANDIDATES_PER_RECORD: usize = 4;

/// The prompt lookup: the project's newest matches within the window, newest first (FTS5
/// walks its doclists from the end and stops at the limit, so nothing older is read). CROSS
/// JOIN keeps the FTS table outer. `{rank}` is what each row is ranked by, computed only for
/// these rows.
const PROMPT_SQL: &str = "SELECT o.id, o.type, o.title, o.facts, substr(o.created_at, 1, 10),
           {rank}
         FROM observations_fts CROSS JOIN observations o ON o.id = observations_fts.rowid
         WHERE observations_fts MATCH ?1 AND observations_fts.rowid > ?5
           AND o.project = ?2 AND o.session_id != ?3
           AND NOT EXISTS (SELECT 1 FROM session_recall r
                           WHERE r.session_id = ?3 AND r.key = 'obs:' || o.id)
         ORDER BY observations_fts.rowid DESC LIMIT ?4";

/// All-words matches: bm25 (lower is better), as a search ranks.
const BM25: &str = "bm25(observations_fts, 8.0, 4.0, 1.0, 2.0, 2.0, 1.0, 2.0)";

/// Any-word matches: the title, subtitle, narrative and facts with the matched words marked
/// (FTS5's `highlight`, which reads only the row). bm25 first counts every match of every
/// word in the whole index: 40 % of the lookup.
const MARKED: &str = "highlight(observations_fts, 0, char(1), char(2)),
           highlight(observations_fts, 1, char(1), char(2)),
           highlight(observations_fts, 2, char(1), char(2)),
           highlight(observations_fts, 3, char(1), char(2))";

/// Weights of the marked columns, as bm25 weighs them.
const MARKED_WEIGHTS: [f64; 4] = [8.0, 4.0, 1.0, 2.0];

/// How an any-word match ranks, better first: how many different words it has, then how
/// often and where (a word in the title counts most).
fn coverage(columns: &[String]) -> (usize, f64) {
    let mut words = std::collections::HashSet::new();
    let mut weight = 0.0;
    for (text, w) in columns.iter().zip(MARKED_WEIGHTS) {
        for marked in text.split('\u{1}').skip(1) {
            let word = marked.split('\u{2}').next().unwrap_or_default();
            words.insert(word.to_lowercase());
            weight += w;
        }
    }
    (words.len(), weight)
}

/// [`PROMPT_SQL`] ranked by [`BM25`] (all words) or [`MARKED`] (any word), built once.
fn prompt_sql(every_word: bool) -> &'static str {
    static SQL: std::sync::LazyLock<[String; 2]> =
        std::sync::LazyLock::new(|| [MARKED, BM25].map(|rank| PROMPT_SQL.replace("{rank}", rank)));
    &SQL[usize::from(every_word)]
}

/// The project's newest matches of `query` above `floor`, best first, the best `max`.
fn ranked(
    conn: &Connection,
    query: &str,
    every_word: bool,
    session: &str,
    project: &str,
    floor: i64,
    max: usize,
) -> rusqlite::Result<Vec<Hit>> {
    let mut st = conn.prepare_cached(prompt_sql(every_word))?;
    let n = (max * CANDIDATES_PER_RECORD).max(8) as i64;
    let mut scored: Vec<(f64, Hit)> = st
        .query_map(params![query, project, session, n, floor], |r| {
            let score = if every_word {
                r.get::<_, f64>(5)?
            } else {
                let columns = (5..9)
                    .map(|i| r.get::<_, Option<String>>(i).map(Option::unwrap_or_default))
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                let (words, weight) = coverage(&columns);
                -(words as f64 * 1e6 + weight)
            };
            Ok((score, hit(r)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    // Lower is better; ties keep the newer first (a stable sort).
    scored.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(scored.into_iter().take(max).map(|(_, h)| h).collect())
}

/// With a prompt: up to `max` observations from other sessions of the project that match
/// its words (all words first, else any, ranked), none this session was shown. Only the
/// project's newest matches within the newest [`PROMPT_WINDOW`] observations are ranked, so
/// a prompt costs the same at any size. (The hook runs [`prompt_matches`] and [`prompt_context`], which add the nearest meanings
/// when a model is loaded.)
#[cfg(test)]
pub fn prompt(
    conn: &Connection,
    session: &str,
    project: &str,
    prompt: &str,
    budget_tokens: usize,
    max: usize,
) -> rusqlite::Result<Option<String>> {
    prompt_with(conn, session, project, prompt, budget_tokens, max, &[])
}

/// The prompt lookup with the project's observations nearest the prompt's meaning
/// (`nearest`: ids, closest first, from the embedding model; empty without one, which
/// leaves the word matches alone), fused with the word matches: [`prompt_matches`] then
/// [`prompt_context`] on one connection, as the hook's route runs them.
#[cfg(test)]
pub fn prompt_with(
    conn: &Connection,
    session: &str,
    project: &str,
    prompt: &str,
    budget_tokens: usize,
    max: usize,
    nearest: &[i64],
) -> rusqlite::Result<Option<String>> {
    if budget_tokens == 0 {
        return Ok(None);
    }
    let Some(m) = prompt_matches(conn, session, project, prompt, max)? else {
        return Ok(None);
    };
    let Some(shown) = prompt_context(conn, session, project, m, budget_tokens, max, nearest)?
    else {
        return Ok(None);
    };
    mark_shown(conn, session, &shown.ids)?;
    Ok(Some(shown.text))
}

/// A prompt's word matches, found before its context is put together.
pub struct PromptMatches {
    hits: Vec<Hit>,
    every_word: bool,
}

/// The read half of the prompt lookup: the observations matching the prompt's words (all
/// of them first, else any, ranked); `None` when the prompt has no words to look up. It
/// reads only, so claude-memd runs it while the prompt's event is being committed; what
/// was shown is marked with [`mark_shown`] once the event is stored.
pub fn prompt_matches(
    conn: &Connection,
    session: &str,
    project: &str,
    prompt: &str,
    max: usize,
) -> rusqlite::Result<Option<PromptMatches>> {
    let words = prompt_words(prompt);
    if words.is_empty() {
        return Ok(None);
    }
    // Whole words (stemmed by the tokenizer: `expiring` finds `expire`), not prefixes as a
    // search's words: a prompt's words are whole, and FTS5 merges every term a prefix
    // covers, which made the lookup 3 to 5 times slower at 100,000 observations.
    let terms: Vec<String> = words.iter().map(|w| format!("\"{w}\"")).collect();
    let newest: i64 = conn.query_row("SELECT coalesce(max(id), 0) FROM observations", [], |r| {
        r.get(0)
    })?;
    let floor = newest - PROMPT_WINDOW;
    let mut found = ranked(
        conn,
        &terms.join(" AND "),
        true,
        session,
        project,
        floor,
        max,
    )?;
    let mut every_word = true;
    if found.is_empty() && terms.len() > 1 {
        every_word = false;
        found = ranked(
            conn,
            &terms.join(" OR "),
            false,
            session,
            project,
            floor,
            max,
        )?;
    }
    Ok(Some(PromptMatches {
        hits: found,
        every_word,
    }))
}

/// The second half: the word matches fused with the nearest meanings, within the budget.
/// The caller marks what it shows ([`mark_shown`]): claude-memd answers the hook first.
pub fn prompt_context(
    conn: &Connection,
    session: &str,
    project: &str,
    matches: PromptMatches,
    budget_tokens: usize,
    max: usize,
    nearest: &[i64],
) -> rusqlite::Result<Option<Shown>> {
    if budget_tokens == 0 {
        return Ok(None);
    }
    let found = with_nearest(
        conn,
        session,
        project,
        matches.hits,
        matches.every_word,
        nearest,
        max,
    )?;
    Ok(lines(PROMPT_HEADING, found, budget_tokens))
}

/// [`prompt_context`] without nearest meanings: the word matches alone, within the budget.
/// It reads nothing, so claude-memd puts it together without a trip to the database.
pub fn prompt_lines(matches: PromptMatches, budget_tokens: usize) -> Option<Shown> {
    if budget_tokens == 0 {
        return None;
    }
    lines(PROMPT_HEADING, matches.hits, budget_tokens)
}

const PROMPT_HEADING: &str = "Memory: earlier work that matches this prompt (`claudectl mem show ID` or the get_observations tool for more):";

/// An observation the vector index offered for a prompt, if it is one the prompt lookup
/// could show: the project's, from another session, not shown to this one yet.
const NEAREST_SQL: &str = "SELECT o.id, o.type, o.title, o.facts, substr(o.created_at, 1, 10)
         FROM observations o
         WHERE o.id = ?1 AND o.project = ?2 AND o.session_id != ?3
           AND NOT EXISTS (SELECT 1 FROM session_recall r
                           WHERE r.session_id = ?3 AND r.key = 'obs:' || o.id)";

/// The word matches and the nearest meanings fused (reciprocal rank), the best `max`. Hits
/// that share only some of the prompt's words weigh nothing against meaning: they come
/// after the nearest records, as in hybrid search.
fn with_nearest(
    conn: &Connection,
    session: &str,
    project: &str,
    lexical: Vec<Hit>,
    every_word: bool,
    nearest: &[i64],
    max: usize,
) -> rusqlite::Result<Vec<Hit>> {
    if nearest.is_empty() {
        return Ok(lexical);
    }
    let ids: Vec<i64> = lexical.iter().map(|h| h.id).collect();
    let weight = if every_word { 1.0 } else { 0.0 };
    let fused = crate::embed::fusion::rrf(&[(&ids, weight), (nearest, 1.0)]);
    let mut lexical: std::collections::HashMap<i64, Hit> =
        lexical.into_iter().map(|h| (h.id, h)).collect();
    let mut st = conn.prepare_cached(NEAREST_SQL)?;
    let mut out = Vec::new();
    for (id, _) in fused {
        if out.len() == max {
            break;
        }
        let hit = match lexical.remove(&id) {
            Some(h) => Some(h),
            None => hits(&mut st, params![id, project, session])?.pop(),
        };
        out.extend(hit);
    }
    Ok(out)
}

/// Whether a prompt has words to look up (a prompt without any gets no context, so its
/// meaning need not be computed either).
pub fn prompt_has_words(prompt: &str) -> bool {
    !prompt_words(prompt).is_empty()
}

#[cfg(test)]
mod tests;
