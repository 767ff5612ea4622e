//! The user's search text as a safe FTS5 expression.
//!
//! Users type words, `"quoted phrases"` and `-excluded` words; nothing they type is FTS5
//! syntax. Every term is re-quoted here (a `"` inside doubled), so operators, parentheses,
//! column filters and stray quotes in the input are plain text and can never make FTS5
//! answer "syntax error". A word matches as a prefix (`auth` finds `authentication`); the
//! porter tokenizer stems the query as it stemmed the text (`refreshing` finds `refresh`).

/// One parsed query, ready for the all-words and the any-word expressions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// Terms that must (all-words) or may (any-word) match, each a quoted FTS5 term.
    want: Vec<String>,
    /// Terms no hit may contain.
    not: Vec<String>,
}

/// Why a query has nothing to search for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Empty {
    /// No word at all (or only punctuation).
    #[error("q (the words to find) is required")]
    NoWords,
    /// Only `-word` exclusions.
    #[error("q has only excluded words (-word); give at least one word to find")]
    OnlyExcluded,
}

/// A word has something FTS5's unicode61 tokenizer keeps (a letter or digit); anything else
/// would be an empty phrase.
fn has_token(s: &str) -> bool {
    s.chars().any(char::is_alphanumeric)
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Split the text into (excluded, phrase, text) pieces: `"…"` is a phrase (an unclosed quote
/// runs to the end), `-x` at the start of a piece excludes it when a letter, digit or quote
/// follows the dash (so `--release` is a word, not an exclusion).
fn pieces(q: &str) -> Vec<(bool, bool, String)> {
    let mut out = Vec::new();
    let mut chars = q.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut neg = false;
        if c == '-' {
            chars.next();
            match chars.peek() {
                Some(&n) if n == '"' || n.is_alphanumeric() => neg = true,
                _ => {
                    // A dash that starts no exclusion is part of the word.
                    let mut w = String::from("-");
                    while let Some(&n) = chars.peek() {
                        if n.is_whitespace() {
                            break;
                        }
                        w.push(n);
                        chars.next();
                    }
                    out.push((false, false, w));
                    continue;
                }
            }
        }
        if chars.peek() == Some(&'"') {
            chars.next();
            let mut p = String::new();
            for n in chars.by_ref() {
                if n == '"' {
                    break;
                }
                p.push(n);
            }
            out.push((neg, true, p));
        } else {
            let mut w = String::new();
            while let Some(&n) = chars.peek() {
                if n.is_whitespace() {
                    break;
                }
                w.push(n);
                chars.next();
            }
            out.push((neg, false, w));
        }
    }
    out
}

/// Parse what the user typed.
pub fn parse(q: &str) -> Result<Parsed, Empty> {
    let mut want = Vec::new();
    let mut not = Vec::new();
    for (neg, phrase, text) in pieces(q) {
        if !has_token(&text) {
            continue;
        }
        // A phrase matches as written; a word also as the start of a longer word.
        let term = if phrase {
            quote(&text)
        } else {
            format!("{}*", quote(&text))
        };
        if neg {
            not.push(term);
        } else {
            want.push(term);
        }
    }
    match (want.is_empty(), not.is_empty()) {
        (false, _) => Ok(Parsed { want, not }),
        (true, true) => Err(Empty::NoWords),
        (true, false) => Err(Empty::OnlyExcluded),
    }
}

impl Parsed {
    fn with_exclusions(&self, core: String) -> String {
        if self.not.is_empty() {
            core
        } else {
            format!("({core}) NOT ({})", self.not.join(" OR "))
        }
    }

    /// Every term must match.
    pub fn all(&self) -> String {
        self.with_exclusions(self.want.join(" AND "))
    }

    /// At least one term must match; `None` when that is the same as [`Parsed::all`].
    pub fn any(&self) -> Option<String> {
        (self.want.len() > 1).then(|| self.with_exclusions(self.want.join(" OR ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_phrases_and_exclusions() {
        let p = parse("token refresh").unwrap();
        assert_eq!(p.all(), "\"token\"* AND \"refresh\"*");
        assert_eq!(p.any().unwrap(), "\"token\"* OR \"refresh\"*");
        let p = parse("\"login token\" -legacy -\"old api\"").unwrap();
        assert_eq!(
            p.all(),
            "(\"login token\") NOT (\"legacy\"* OR \"old api\")"
        );
        assert_eq!(p.any(), None);
        assert_eq!(parse("--release").unwrap().all(), "\"--release\"*");
        assert_eq!(parse("a\"b").unwrap().all(), "\"a\"\"b\"*");
    }

    #[test]
    fn nothing_to_find() {
        assert_eq!(parse("  "), Err(Empty::NoWords));
        assert_eq!(parse("( ) \"\" - --"), Err(Empty::NoWords));
        assert_eq!(parse("-foo -\"bar\""), Err(Empty::OnlyExcluded));
    }

    /// Whatever the user types, FTS5 accepts the expression.
    #[test]
    fn hostile_input_is_never_a_syntax_error() {
        let (_dir, c) = crate::schema::test_db();
        let inputs = [
            "OR AND NOT",
            "a OR (b",
            "title:foo",
            "NEAR(a b, 3)",
            "\"unbalanced OR (",
            "* ^ + -",
            "-\"",
            "foo\"*\"bar",
            "x -y\"z",
            "don't stop",
            "ü ß 日本語",
            "{a b}: c",
            "\u{0}",
            "a\"\"b",
        ];
        for i in inputs {
            let Ok(p) = parse(i) else { continue };
            for e in std::iter::once(p.all()).chain(p.any()) {
                c.query_row(
                    "SELECT count(*) FROM observations_fts WHERE observations_fts MATCH ?1",
                    [&e],
                    |r| r.get::<_, i64>(0),
                )
                .unwrap_or_else(|err| panic!("{i:?} → {e:?}: {err}"));
            }
        }
    }
}
