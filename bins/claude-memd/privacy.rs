//! What never reaches the database: text inside `<private>…</private>`, context we injected
//! ourselves (or Claude Code did: `<system-reminder>`), secrets (see [`crate::redact`]),
//! events of excluded projects and skipped tools.

use crate::redact::{redact, secret_field, REDACTED};
use claude_daemons::api::memory::SummaryText;
use claude_daemons::api::memory_transfer::ObservationFields;
use serde_json::Value;

/// Tags whose content is removed before storage. `claude-memory-context` wraps what
/// SessionStart injects, so memory never feeds on its own output.
const STRIPPED_TAGS: &[&str] = &[
    "private",
    "system-reminder",
    "claude-memory-context",
    "claude-mem-context",
];

/// The tag wrapping injected context.
pub const CONTEXT_TAG: &str = "claude-memory-context";

/// `text` without stripped tags and their content, in one pass.
///
/// Semantics (case-insensitive, exact `<name>` / `</name>` spellings):
/// - Regions nest: `<private>a<private>b</private>c</private>` hides `a`, `b` and `c`. A close
///   tag ends a region only when it names the innermost open one; any other close tag inside
///   a region is hidden content. A close tag outside any region stays visible (it can hide
///   nothing).
/// - An unclosed region hides everything after it: a forgotten `</private>` must not leak
///   the rest.
/// - Tags are recognized in the text *as it is left after removals*, innermost region first:
///   removing a region joins the text around it, and a tag that join forms
///   (`<priv<private>x</private>ate>secret`) opens or closes a region like any other —
///   inside a hidden region as well as outside. So text that could become a tag once a
///   region is removed never survives as visible content, the result never contains an
///   opening stripped tag, stripping is idempotent, and the work is linear in the input
///   (the old pass-until-stable loop was quadratic on nested fragments, inside the writer's
///   transaction).
pub fn strip_tags(text: &str) -> String {
    if !text.contains('<') {
        return text.to_string();
    }
    let b = text.as_bytes();
    // What is left so far; open regions (the tag and where it starts in `left`) on a stack,
    // innermost last. A closed region is cut off the end of `left`, so what follows joins
    // what preceded it.
    let mut left: Vec<u8> = Vec::with_capacity(b.len());
    let mut open: Vec<(u8, usize)> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        // A tag can only end at a `>`: copy up to it, then look at the end of `left`.
        let end = b[i..]
            .iter()
            .position(|&c| c == b'>')
            .map_or(b.len(), |p| i + p + 1);
        left.extend_from_slice(&b[i..end]);
        i = end;
        match tag_at_end(&left) {
            Some((Tag::Open(t), len)) => open.push((t, left.len() - len)),
            Some((Tag::Close(t), _)) if open.last().is_some_and(|&(o, _)| o == t) => {
                let (_, start) = open.pop().expect("checked");
                left.truncate(start);
            }
            _ => {}
        }
    }
    if let Some(&(_, start)) = open.first() {
        left.truncate(start);
    }
    // Only whole ASCII tags (and what they enclosed) were cut, so this is still UTF-8.
    String::from_utf8(left).expect("cut at ASCII tags")
}

enum Tag {
    Open(u8),
    Close(u8),
}

/// The stripped tag (`<name>` or `</name>`) `s` ends with, and its length.
fn tag_at_end(s: &[u8]) -> Option<(Tag, usize)> {
    if s.last() != Some(&b'>') {
        return None;
    }
    STRIPPED_TAGS.iter().enumerate().find_map(|(n, tag)| {
        let name_start = s.len().checked_sub(tag.len() + 1)?;
        if !s[name_start..s.len() - 1].eq_ignore_ascii_case(tag.as_bytes()) {
            return None;
        }
        let n = n as u8;
        match (
            name_start.checked_sub(1).map(|i| s[i]),
            name_start.checked_sub(2).map(|i| s[i]),
        ) {
            (Some(b'/'), Some(b'<')) => Some((Tag::Close(n), tag.len() + 3)),
            (Some(b'<'), _) => Some((Tag::Open(n), tag.len() + 2)),
            _ => None,
        }
    })
}

/// Most characters of a prompt that are stored. A prompt is the user's own words and may
/// carry a pasted log, so it gets more room than a tool's strings (`MAX_STRING` in
/// `routes/hooks.rs`), but not the whole 8 MB body: longer prompts keep their head (60 %)
/// and tail (30 %) around a `…[N characters elided]…` marker.
pub const MAX_PROMPT_CHARS: usize = 64_000;

/// What of a prompt is stored.
#[derive(Debug, PartialEq)]
pub struct KeptPrompt {
    /// Stripped, redacted and clipped.
    pub text: String,
    /// How many characters the clip elided (0 when it fit).
    pub elided: usize,
}

/// A prompt after stripping, redacting and clipping to [`MAX_PROMPT_CHARS`], or `None` when
/// nothing of it may be stored (it was all private). Stripping and redacting see the whole
/// prompt first, so a clip can neither cut a private region's opening tag away nor leave
/// half a secret.
pub fn prompt_to_store(prompt: &str) -> Option<KeptPrompt> {
    let kept = redact(&strip_tags(prompt));
    let mut text = kept.trim().to_string();
    if text.is_empty() {
        return None;
    }
    let elided = elide(&mut text, MAX_PROMPT_CHARS);
    Some(KeptPrompt { text, elided })
}

/// Clip `s` to about `max` characters: 60 % head and 30 % tail around a marker saying how
/// many were elided. Returns that number (0 when `s` fits).
pub fn elide(s: &mut String, max: usize) -> usize {
    if s.len() <= max {
        return 0;
    }
    let total = s.chars().count();
    if total <= max {
        return 0;
    }
    let (head, tail) = (max * 6 / 10, max * 3 / 10);
    let elided = total - head - tail;
    let byte_at = |n: usize| s.char_indices().nth(n).map_or(s.len(), |(i, _)| i);
    let (head_end, tail_start) = (byte_at(head), byte_at(total - tail));
    *s = format!(
        "{}\n…[{elided} characters elided]…\n{}",
        &s[..head_end],
        &s[tail_start..]
    );
    elided
}

/// Strip tags and redact secrets in one string, in place.
pub fn sanitize_str(s: &mut String) {
    let clean = redact(&strip_tags(s));
    if clean != *s {
        *s = clean;
    }
}

/// [`sanitize`] for the strings of an observation's fields, without a trip through JSON (the
/// field names are none that make a value secret).
pub fn sanitize_observation(o: &mut ObservationFields) {
    for s in [&mut o.kind, &mut o.title, &mut o.source] {
        sanitize_str(s);
    }
    for s in [
        &mut o.subtitle,
        &mut o.narrative,
        &mut o.model,
        &mut o.edited_at,
    ]
    .into_iter()
    .flatten()
    {
        sanitize_str(s);
    }
    for list in [
        &mut o.facts,
        &mut o.concepts,
        &mut o.files_read,
        &mut o.files_modified,
    ] {
        list.iter_mut().for_each(sanitize_str);
    }
}

/// [`sanitize`] for what a session summary says.
pub fn sanitize_summary(t: &mut SummaryText) {
    for s in [
        &mut t.request,
        &mut t.investigated,
        &mut t.learned,
        &mut t.completed,
        &mut t.next_steps,
        &mut t.notes,
    ]
    .into_iter()
    .flatten()
    {
        sanitize_str(s);
    }
    t.files_read.iter_mut().for_each(sanitize_str);
    t.files_edited.iter_mut().for_each(sanitize_str);
}

/// Strip tags and redact secrets in every string of a JSON value, in place; a string under a
/// sensitive key (`"password": "…"`) is redacted whole.
pub fn sanitize(value: &mut Value) {
    match value {
        Value::String(s) => sanitize_str(s),
        Value::Array(items) => items.iter_mut().for_each(sanitize),
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                match v {
                    Value::String(s) if secret_field(k, s) => *s = REDACTED.to_string(),
                    _ => sanitize(v),
                }
            }
        }
        _ => {}
    }
}

/// Whether `path` matches one of the `[memory] exclude_projects` globs.
pub fn excluded(path: &str, globs: &[String]) -> bool {
    globs
        .iter()
        .any(|g| glob_match(g.as_bytes(), path.as_bytes()))
}

/// `*` matches any run of characters (slashes included), `?` one character. Iterative with
/// one backtrack point, so it is linear-ish and cannot blow up on hostile patterns.
fn glob_match(pat: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pat.len() && (pat[p] == b'?' || pat[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pat.len() && pat[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strips_private_and_injected_tags() {
        assert_eq!(
            strip_tags("fix the bug <private>my ssn is 123</private> please"),
            "fix the bug  please"
        );
        assert_eq!(
            strip_tags("a <PRIVATE>x</PRIVATE> b <private>y</private> c"),
            "a  b  c"
        );
        assert_eq!(
            strip_tags("keep <system-reminder>injected</system-reminder>this"),
            "keep this"
        );
        assert_eq!(strip_tags("open <private>never closed secret"), "open ");
        assert_eq!(strip_tags("a < b and c > d"), "a < b and c > d");
    }

    #[test]
    fn fully_private_prompt_is_not_stored() {
        assert_eq!(prompt_to_store("<private>all of it</private>"), None);
        assert_eq!(prompt_to_store("  <private>x</private>\n "), None);
        assert_eq!(
            prompt_to_store("visible <private>hidden</private>").map(|k| k.text),
            Some("visible".to_string())
        );
    }

    #[test]
    fn long_prompts_are_clipped_with_a_marker() {
        let half = MAX_PROMPT_CHARS / 2;
        let long = format!("{}{}", "a".repeat(MAX_PROMPT_CHARS), "é".repeat(half));
        let k = prompt_to_store(&long).unwrap();
        assert_eq!(
            k.elided,
            MAX_PROMPT_CHARS + half - MAX_PROMPT_CHARS * 9 / 10
        );
        assert!(k.text.starts_with(&"a".repeat(MAX_PROMPT_CHARS * 6 / 10)));
        assert!(k.text.ends_with(&"é".repeat(MAX_PROMPT_CHARS * 3 / 10)));
        assert!(k
            .text
            .contains(&format!("…[{} characters elided]…", k.elided)));
        assert!(k.text.chars().count() < MAX_PROMPT_CHARS);
        let short = prompt_to_store("short").unwrap();
        assert_eq!((short.text.as_str(), short.elided), ("short", 0));
        // Stripping comes first: a private region that straddles the clip stays hidden.
        let straddling = format!(
            "{}<private>{}</private>tail",
            "h".repeat(MAX_PROMPT_CHARS),
            "SECRET".repeat(MAX_PROMPT_CHARS)
        );
        let k = prompt_to_store(&straddling).unwrap();
        assert!(!k.text.contains("SECRET") && k.text.ends_with("tail"));
    }

    #[test]
    fn sanitize_walks_json_and_redacts_sensitive_keys() {
        let mut v = json!({
            "command": "echo <private>hidden</private> ok",
            "env": {"password": "hunter2", "user": "bob"},
            "list": ["GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789"]
        });
        sanitize(&mut v);
        assert_eq!(v["command"], "echo  ok");
        assert_eq!(v["env"]["password"], REDACTED);
        assert_eq!(v["env"]["user"], "bob");
        assert!(!v.to_string().contains("ghp_abc"), "{v}");
    }

    /// The typed sanitizers change exactly what sanitizing the record's JSON changes.
    #[test]
    fn typed_sanitizing_matches_the_json_walk() {
        let dirty = |n: &str| {
            format!("{n} <private>hidden</private> GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789 <claude-memory-context>x</claude-memory-context>")
        };
        let mut o = ObservationFields {
            kind: dirty("type"),
            title: dirty("title"),
            subtitle: Some(dirty("subtitle")),
            facts: vec![dirty("f1"), "clean".into()],
            narrative: Some(dirty("narrative")),
            concepts: vec![dirty("c")],
            files_read: vec![dirty("r")],
            files_modified: vec![dirty("m")],
            discovery_tokens: 3,
            source: dirty("source"),
            model: Some(dirty("model")),
            edited_at: Some(dirty("edited")),
        };
        let mut v = serde_json::to_value(&o).unwrap();
        sanitize(&mut v);
        sanitize_observation(&mut o);
        assert_eq!(serde_json::to_value(&o).unwrap(), v);
        assert!(!v.to_string().contains("ghp_") && !v.to_string().contains("hidden"));
        let mut t = SummaryText {
            request: Some(dirty("request")),
            investigated: Some(dirty("investigated")),
            learned: Some(dirty("learned")),
            completed: None,
            next_steps: Some(dirty("next")),
            notes: Some(dirty("notes")),
            files_read: vec![dirty("r")],
            files_edited: vec![dirty("e")],
        };
        let mut v = serde_json::to_value(&t).unwrap();
        sanitize(&mut v);
        sanitize_summary(&mut t);
        assert_eq!(serde_json::to_value(&t).unwrap(), v);
    }

    #[test]
    fn globs() {
        let g = vec!["/home/*/secret*".to_string(), "/exact".to_string()];
        assert!(excluded("/home/u/secret-project", &g));
        assert!(excluded("/exact", &g));
        assert!(!excluded("/exact/sub", &g));
        assert!(!excluded("/home/u/public", &g));
        assert!(glob_match(b"a?c*", b"abcdef"));
        assert!(!glob_match(b"*x*y*z*q", b"xyxyxyxyxyxyxyxyxyxyz"));
    }

    #[test]
    fn nested_and_reformed_tags() {
        // Regions nest; a close tag only ends the innermost region it names.
        assert_eq!(
            strip_tags("a<private>b<private>c</private>d</private>e"),
            "ae"
        );
        assert_eq!(
            strip_tags("a<private>b</system-reminder>c</private>d"),
            "ad",
            "a mismatched close tag is hidden content"
        );
        assert_eq!(
            strip_tags("a</private>b"),
            "a</private>b",
            "a stray close is text"
        );
        // Removing a region joins `<priv` and `ate>` into a tag: it opens a region too.
        assert_eq!(
            strip_tags("<priv<private>x</private>ate>secret</private>ok"),
            "ok"
        );
        assert_eq!(strip_tags("<priv<private>x</private>ate>secret"), "");
        // Across tag names as well.
        assert_eq!(
            strip_tags("<priv<system-reminder>x</system-reminder>ate>secret</private>ok"),
            "ok"
        );
        // Inside a hidden region too: the inner region goes first, its surroundings join into
        // a tag, and the secret after it stays hidden.
        assert_eq!(
            strip_tags("<private> <priv<private></private>ate> </private> SECRET </private>ok"),
            "ok"
        );
        // A close tag formed by a removal closes.
        assert_eq!(strip_tags("<private>x</priv<private></private>ate>y"), "y");
        // Text that merely resembles a tag is kept.
        assert_eq!(
            strip_tags("<priv ate> <private-ish> <privates>"),
            "<priv ate> <private-ish> <privates>"
        );
        // Multi-byte text around removed regions stays intact.
        assert_eq!(strip_tags("é<private>ü</private>ß"), "éß");
    }

    #[test]
    fn stripped_output_never_holds_an_opening_tag() {
        let samples = [
            "<priv<private></private>ate>x",
            "<<private>></private>private>y",
            "<PRIV<private>a</private>ATE>b</PRIVATE>c",
            "<system-rem<private></private>inder>z</system-reminder>w",
            "<<private>/private>q",
        ];
        for s in samples {
            let out = strip_tags(s);
            let lower = out.to_ascii_lowercase();
            for tag in STRIPPED_TAGS {
                assert!(!lower.contains(&format!("<{tag}>")), "{s:?} -> {out:?}");
            }
            assert_eq!(strip_tags(&out), out, "idempotent: {s:?}");
        }
    }

    #[test]
    fn nested_fragments_cost_linear_time() {
        // Issue 21: `"<priv"×k + "<private></private>" + "ate></private>"×k` re-forms a tag
        // after every removal; the old pass-until-stable loop was quadratic (1.1 MB: 30 s).
        let k = 8 * 1024 * 1024 / 19;
        let text = format!(
            "{}<private></private>{}visible",
            "<priv".repeat(k),
            "ate></private>".repeat(k)
        );
        let t = std::time::Instant::now();
        let out = strip_tags(&text);
        let took = t.elapsed();
        assert_eq!(out, "visible");
        eprintln!(
            "{} MB of nested fragments stripped in {took:?}",
            text.len() >> 20
        );
        assert!(took < std::time::Duration::from_secs(10), "{took:?}");
        // Many plain tags, too.
        let text = "keep <private>hidden</private> ".repeat(20_000);
        assert_eq!(strip_tags(&text), "keep  ".repeat(20_000));
    }
}
