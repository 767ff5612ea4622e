//! What never reaches the database: text inside `<private>…</private>`, context we injected
//! ourselves (or Claude Code did: `<system-reminder>`), secrets (see [`crate::redact`]),
//! events of excluded projects and skipped tools.

use crate::redact::{redact, sensitive_key, REDACTED};
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

/// `text` without stripped tags and their content. An unclosed tag hides everything after
/// it: a forgotten `</private>` must not leak the rest.
pub fn strip_tags(text: &str) -> String {
    if !text.contains('<') {
        return text.to_string();
    }
    let mut out = text.to_string();
    for tag in STRIPPED_TAGS {
        let open = format!("<{tag}>");
        let close = format!("</{tag}>");
        // Repeat until none is left: removing one region can join text into a new tag
        // (`<priv<private></private>ate>`). Each pass is linear — one lowercased copy,
        // whose byte offsets are the original's — so a pasted log full of tags costs
        // passes, not a rescan per tag.
        loop {
            let lower = out.to_ascii_lowercase();
            let Some(first) = lower.find(&open) else {
                break;
            };
            let mut kept = String::with_capacity(out.len());
            let mut pos = 0;
            let mut next = Some(first);
            while let Some(start) = next {
                kept.push_str(&out[pos..start]);
                let body = start + open.len();
                pos = lower[body..]
                    .find(&close)
                    .map_or(out.len(), |i| body + i + close.len());
                next = lower[pos..].find(&open).map(|i| pos + i);
            }
            kept.push_str(&out[pos..]);
            out = kept;
        }
    }
    out
}

/// A prompt after stripping, or `None` when nothing of it may be stored (it was all private).
pub fn prompt_to_store(prompt: &str) -> Option<String> {
    let kept = redact(&strip_tags(prompt));
    (!kept.trim().is_empty()).then(|| kept.trim().to_string())
}

/// Strip tags and redact secrets in every string of a JSON value, in place; a string under a
/// sensitive key (`"password": "…"`) is redacted whole.
pub fn sanitize(value: &mut Value) {
    match value {
        Value::String(s) => {
            let clean = redact(&strip_tags(s));
            if clean != *s {
                *s = clean;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(sanitize),
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                match v {
                    Value::String(s) if sensitive_key(k) && !s.is_empty() => {
                        *s = REDACTED.to_string()
                    }
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
            prompt_to_store("visible <private>hidden</private>").as_deref(),
            Some("visible")
        );
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
    fn many_tags_cost_linear_time() {
        // 20,000 tags in ~0.5 MB: a rescan per tag took minutes in the writer thread.
        let text = "keep <private>hidden</private> ".repeat(20_000);
        let t = std::time::Instant::now();
        let out = strip_tags(&text);
        assert_eq!(out, "keep  ".repeat(20_000));
        assert!(
            t.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            t.elapsed()
        );
        assert_eq!(
            strip_tags("<priv<private>x</private>ate>secret</private>ok"),
            "ok"
        );
    }
}
