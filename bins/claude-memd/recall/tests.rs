//! The in-session lookups on a real (temporary) database.

use super::*;

fn obs(c: &Connection, session: &str, title: &str, files: &str, fact: &str) -> i64 {
    c.query_row(
        "INSERT INTO observations (session_id, project, project_name, type, title, facts,
           files_modified, created_at, created_at_epoch)
         VALUES (?1, '/p', 'p', 'change', ?2, json_array(?4), ?3, '2026-11-20T10:00:00Z', 1)
         RETURNING id",
        params![session, title, files, fact],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn a_files_history_once_per_session() {
    let (_dir, c) = crate::schema::test_db();
    let a = obs(
        &c,
        "s1",
        "Edited src/auth.py",
        "[\"/p/src/auth.py\"]",
        "+`refresh_at = expires - 60`",
    );
    obs(
        &c,
        "s1",
        "Edited src/auth_old.py",
        "[\"/p/src/auth_old.py\"]",
        "other",
    );
    let ctx = file(&c, "s2", "/p", "/p/src/auth.py", "src/auth.py", 300)
        .unwrap()
        .unwrap();
    assert!(
        ctx.contains(&format!("#{a} ")) && ctx.contains("refresh_at"),
        "{ctx}"
    );
    assert!(!ctx.contains("auth_old"), "{ctx}");
    assert_eq!(
        file(&c, "s2", "/p", "/p/src/auth.py", "src/auth.py", 300).unwrap(),
        None
    );
    // Its own session's work is not news to it; another project's file is not this one.
    assert_eq!(
        file(&c, "s1", "/p", "/p/src/auth.py", "src/auth.py", 300).unwrap(),
        None
    );
    assert_eq!(
        file(&c, "s3", "/q", "/p/src/auth.py", "src/auth.py", 300).unwrap(),
        None
    );
    assert_eq!(
        file(&c, "s4", "/p", "/p/src/auth.py", "x", 0).unwrap(),
        None
    );
    assert_eq!(file(&c, "s5", "/p", "/// ", "x", 300).unwrap(), None);
    // The budget holds.
    for i in 0..50 {
        obs(
            &c,
            "s1",
            &format!("Edited big {i}"),
            "[\"/p/big.rs\"]",
            &"x".repeat(150),
        );
    }
    let big = file(&c, "s6", "/p", "/p/big.rs", "big.rs", 300)
        .unwrap()
        .unwrap();
    assert!(big.len() <= 1200, "{}", big.len());
}

#[test]
fn a_prompt_brings_matching_records_not_shown_before() {
    let (_dir, c) = crate::schema::test_db();
    let a = obs(
        &c,
        "s1",
        "Login token refreshes before expiry",
        "[]",
        "refresh_at = expires - 60",
    );
    obs(&c, "s1", "Cart totals in cents", "[]", "no floats");
    let p = "why does the login token expire so early?";
    let ctx = prompt(&c, "s2", "/p", p, 400, 3).unwrap().unwrap();
    assert!(
        ctx.contains(&format!("#{a} ")) && !ctx.contains("Cart"),
        "{ctx}"
    );
    assert_eq!(
        prompt(&c, "s2", "/p", p, 400, 3).unwrap(),
        None,
        "shown once"
    );
    assert_eq!(prompt(&c, "s3", "/p", "hi there", 400, 3).unwrap(), None);
    assert_eq!(prompt(&c, "s3", "/p", p, 0, 3).unwrap(), None);
    assert_eq!(
        prompt_words("Fix the OAuth2 login, please: v2 api"),
        vec!["oauth2".to_string(), "login".into()]
    );
}

/// A prompt's words match whole (stemmed), not as prefixes: FTS5 merging every term a
/// prefix covers made the lookup 3 to 5 times slower at 100,000 observations.
#[test]
fn a_prompts_words_match_whole_and_stemmed() {
    let (_dir, c) = crate::schema::test_db();
    let a = obs(&c, "s1", "Authentication tokens expire", "[]", "x");
    assert_eq!(prompt(&c, "s2", "/p", "auth please", 400, 3).unwrap(), None);
    let ctx = prompt(&c, "s3", "/p", "the token expiring", 400, 3)
        .unwrap()
        .unwrap();
    assert!(ctx.contains(&format!("#{a} ")), "{ctx}");
}

/// A prompt looks only through the newest [`PROMPT_WINDOW`] observations: its cost does
/// not grow with memory. (Ranking every match: 28 ms at 100,000 observations.)
#[test]
fn a_prompt_looks_only_through_the_newest_observations() {
    let (_dir, c) = crate::schema::test_db();
    let old = obs(&c, "s1", "Zebra crossing timer", "[]", "old");
    let others = 3 * PROMPT_WINDOW;
    c.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
         INSERT INTO observations (session_id, project, project_name, type, title, facts,
           created_at, created_at_epoch)
         SELECT 's9', '/q', 'q', 'change', 'zebra stripes ' || i, '[]',
           '2026-11-20T10:00:00Z', 1 FROM n",
        [others],
    )
    .unwrap();
    let new = obs(&c, "s1", "Zebra stripes in the legend", "[]", "new");
    let ctx = prompt(&c, "s2", "/p", "zebra", 400, 3).unwrap().unwrap();
    assert!(ctx.contains(&format!("#{new} ")), "{ctx}");
    assert!(!ctx.contains(&format!("#{old} ")), "{ctx}");
    // Every row of the window is looked at (none is the project's), none beyond it.
    let steps = c
        .prepare_cached(prompt_sql(true))
        .unwrap()
        .get_status(rusqlite::StatementStatus::VmStep);
    // About 7 steps a row: the window's 70,000; all 30,000 rows would take 210,000.
    assert!(
        i64::from(steps) < 10 * PROMPT_WINDOW,
        "{steps} VM steps for {others} matches"
    );
}

/// When no record has every word, the ones with more of them come first, then those
/// with them in the title; newest first among equals.
#[test]
fn any_word_matches_rank_by_how_many_words_they_have() {
    let (_dir, c) = crate::schema::test_db();
    let two = obs(&c, "s1", "Session cookie", "[]", "the login token rotates");
    let title = obs(&c, "s1", "Login page", "[]", "cart");
    let fact = obs(&c, "s1", "Cart page", "[]", "login works");
    let ctx = prompt(&c, "s2", "/p", "login token expiry", 4000, 3)
        .unwrap()
        .unwrap();
    let at = |id: i64| ctx.find(&format!("#{id} ")).unwrap();
    assert!(at(two) < at(title) && at(title) < at(fact), "{ctx}");
    assert_eq!(
        coverage(&[
            "\u{1}Login\u{2} \u{1}login\u{2}".into(),
            String::new(),
            String::new(),
            "\u{1}token\u{2}".into()
        ]),
        (2, 18.0)
    );
}

/// Ranked among the project's newest matches: the best of them first, and an older
/// match beyond the candidates is not looked at.
#[test]
fn a_prompt_ranks_the_projects_newest_matches() {
    let (_dir, c) = crate::schema::test_db();
    let older = obs(&c, "s1", "Token refresh token refresh", "[]", "x");
    for i in 0..(3 * CANDIDATES_PER_RECORD) {
        obs(&c, "s1", &format!("Cart {i}"), "[]", "token refresh");
    }
    let best = obs(&c, "s1", "Token refresh before expiry", "[]", "refresh");
    let ctx = prompt(&c, "s2", "/p", "token refresh", 400, 1)
        .unwrap()
        .unwrap();
    assert!(ctx.contains(&format!("#{best} ")), "{ctx}");
    let ctx = prompt(&c, "s3", "/p", "token refresh", 4000, 3)
        .unwrap()
        .unwrap();
    assert!(!ctx.contains(&format!("#{older} ")), "{ctx}");
}
