//! Secret redaction: tokens of well-known services by their shapes, private key blocks,
//! credentials in URLs, headers and command lines, and `NAME=value` / `name: value`
//! assignments whose name says secret (see [`rules`] and [`names`]).
//!
//! Every rule runs over the text and over its JSON-unescaped view (see [`unescape`]); the
//! spans found are merged and each replaced by [`REDACTED`]. One [`RegexSet`] pass finds
//! which rules match at all, so text without secrets costs a single scan; the hook path
//! stays cheap (see `redaction_throughput` in the tests for the figure).

mod names;
mod rules;
mod unescape;

use regex::bytes::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use std::ops::Range;
use std::sync::LazyLock;

/// What a secret is replaced with.
pub const REDACTED: &str = "[REDACTED]";

struct Engine {
    set: RegexSet,
    rules: Vec<Regex>,
}

/// Big enough for every rule's automaton; the rules are fixed, so a failure to build is a
/// bug caught by every test.
const REGEX_SIZE: usize = 64 << 20;

static ENGINE: LazyLock<Engine> = LazyLock::new(|| {
    let patterns = rules::RULES.iter().map(|r| r.pattern);
    let set = RegexSetBuilder::new(patterns)
        .unicode(false)
        .size_limit(REGEX_SIZE)
        .dfa_size_limit(REGEX_SIZE)
        .build()
        .expect("the redaction rules compile");
    let rules = rules::RULES
        .iter()
        .map(|r| {
            RegexBuilder::new(r.pattern)
                .unicode(false)
                .size_limit(REGEX_SIZE)
                .dfa_size_limit(REGEX_SIZE)
                .build()
                .unwrap_or_else(|e| panic!("redaction rule {:?}: {e}", r.name))
        })
        .collect();
    Engine { set, rules }
});

/// How many levels of JSON escaping are looked through (JSON text in a tool result that is
/// itself JSON text, …). Each level costs one more scan, and only text that has escapes.
const MAX_ESCAPE_DEPTH: usize = 3;

/// Whether a JSON field's value is secret because of the field's name (`"password": "…"`,
/// `"STRIPE_KEY": "sk_…"`): a strict name makes any real value secret, a gated one a value
/// that looks random.
pub fn secret_field(name: &str, value: &str) -> bool {
    names::is_secret(names::strength(name), value)
}

/// `text` with every secret found replaced by [`REDACTED`].
pub fn redact(text: &str) -> String {
    let mut spans = find(text.as_bytes());
    let mut view = unescape::view(text);
    for _ in 0..MAX_ESCAPE_DEPTH {
        let Some(v) = view else { break };
        spans.extend(find(v.text.as_bytes()).into_iter().map(|r| {
            let (a, b) = v.original(r.start, r.end);
            a..b
        }));
        view = v.deeper();
    }
    if spans.is_empty() {
        return text.to_string();
    }
    replace(text, spans)
}

/// The byte ranges of secrets in `b`.
fn find(b: &[u8]) -> Vec<Range<usize>> {
    let engine = &*ENGINE;
    let mut spans = Vec::new();
    for i in engine.set.matches(b).iter() {
        let rule = &rules::RULES[i];
        for caps in engine.rules[i].captures_iter(b) {
            if rule.check.is_some_and(|check| !check(&caps)) {
                continue;
            }
            if let Some(m) = rules::secret(&caps).filter(|m| !m.is_empty()) {
                spans.push(m.range());
            }
        }
    }
    spans
}

/// `text` with each run of (possibly overlapping or touching) `spans` replaced by one
/// [`REDACTED`].
fn replace(text: &str, mut spans: Vec<Range<usize>>) -> String {
    spans.sort_by_key(|r| r.start);
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(spans.len());
    for r in spans {
        match merged.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    for r in merged {
        // Spans end at ASCII bytes, but widen to character boundaries to be sure.
        let (mut start, mut end) = (r.start.max(pos), r.end.max(pos));
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        while !text.is_char_boundary(end) {
            end += 1;
        }
        out.push_str(&text[pos..start.max(pos)]);
        out.push_str(REDACTED);
        pos = end;
    }
    out.push_str(&text[pos..]);
    out
}

#[cfg(test)]
mod tests;
