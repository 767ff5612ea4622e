//! What an edit changed, as a compact unified diff (old → new) the local builder keeps in a
//! change observation, so added and removed lines are searchable and shown.
//!
//! The `similar` crate computes the diff (Myers, line-based, with unified-diff hunks);
//! this module only normalises the input and caps the output.

use similar::{ChangeTag, TextDiff};

/// Lines of diff kept per observation (all edits together).
pub const MAX_LINES: usize = 40;
/// Characters of diff kept per observation.
pub const MAX_CHARS: usize = 2000;
/// Characters kept of one diff line.
const MAX_LINE: usize = 160;

/// One edit's change.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Change {
    /// Unified diff hunks (`@@ … @@`, ` `, `-`, `+` lines), without file headers.
    pub unified: String,
    /// Added lines (text only), in order.
    pub added: Vec<String>,
    /// Removed lines (text only), in order.
    pub removed: Vec<String>,
}

fn clip_line(l: &str) -> String {
    let l = l.trim_end_matches(['\n', '\r']);
    if l.chars().count() <= MAX_LINE {
        return l.to_string();
    }
    let mut s: String = l.chars().take(MAX_LINE).collect();
    s.push('…');
    s
}

/// Ends text with a newline, so a last line without one does not differ from the same line
/// followed by more ("a" → "a\nb" adds one line rather than replacing one).
fn terminated(s: &str) -> std::borrow::Cow<'_, str> {
    if s.is_empty() || s.ends_with('\n') {
        s.into()
    } else {
        format!("{s}\n").into()
    }
}

/// The change from `old` to `new`.
pub fn diff(old: &str, new: &str) -> Change {
    let (old, new) = (terminated(old), terminated(new));
    let d = TextDiff::from_lines(old.as_ref(), new.as_ref());
    let mut c = Change::default();
    for op in d.ops() {
        for ch in d.iter_changes(op) {
            match ch.tag() {
                ChangeTag::Insert => c.added.push(clip_line(ch.value())),
                ChangeTag::Delete => c.removed.push(clip_line(ch.value())),
                ChangeTag::Equal => {}
            }
        }
    }
    let unified = d.unified_diff().context_radius(1).to_string();
    c.unified = unified
        .lines()
        .map(clip_line)
        .collect::<Vec<_>>()
        .join("\n");
    c
}

/// Several edits' diffs as one text within [`MAX_LINES`] and [`MAX_CHARS`]; what does not
/// fit is counted in a last line.
pub fn capped(changes: &[Change]) -> String {
    let all: Vec<&str> = changes.iter().flat_map(|c| c.unified.lines()).collect();
    let mut out = String::new();
    let mut kept = 0;
    for l in &all {
        if kept == MAX_LINES || out.len() + l.len() + 1 > MAX_CHARS {
            break;
        }
        out.push_str(l);
        out.push('\n');
        kept += 1;
    }
    if kept < all.len() {
        out.push_str(&format!("… ({} more diff lines)\n", all.len() - kept));
    }
    out
}

/// The first lines of a new file, within the same caps.
pub fn head(content: &str) -> String {
    capped(&[Change {
        unified: content
            .lines()
            .map(|l| format!("+{}", clip_line(l)))
            .collect::<Vec<_>>()
            .join("\n"),
        ..Change::default()
    }])
}

/// One edit as a fact: the line counts and the first lines it added and removed (the whole
/// diff is the narrative).
pub fn fact(old_lines: usize, new_lines: usize, c: &Change) -> String {
    let mut f = format!("Replaced {old_lines} line(s) with {new_lines} line(s)");
    let show = |sign: char, l: &[String]| -> String {
        let mut s: Vec<String> = l
            .iter()
            .filter(|l| !l.trim().is_empty())
            .take(2)
            .map(|l| format!("{sign}`{}`", clip(l, 80)))
            .collect();
        let blank_or_more = l.len() - s.len();
        if blank_or_more > 0 && !s.is_empty() {
            s.push(format!("({blank_or_more} more)"));
        }
        s.join(" ")
    };
    let parts: Vec<String> = [show('-', &c.removed), show('+', &c.added)]
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect();
    if !parts.is_empty() {
        f.push_str(": ");
        f.push_str(&parts.join(" "));
    }
    f
}

fn clip(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.chars().count() <= max {
        return s.to_string();
    }
    s.chars().take(max).collect::<String>() + "…"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_added_line_is_the_change() {
        // The example: the added line was in no observation.
        let c = diff(
            "expires = 3600",
            "expires = 3600\nrefresh_at = expires - 60",
        );
        assert_eq!(c.added, vec!["refresh_at = expires - 60"]);
        assert!(c.removed.is_empty());
        assert_eq!(
            c.unified,
            "@@ -1 +1,2 @@\n expires = 3600\n+refresh_at = expires - 60"
        );
    }

    #[test]
    fn replaced_lines_show_both_sides() {
        let c = diff("a\nb\nc\nd\ne\n", "a\nb\nX\nd\ne\n");
        assert_eq!((c.removed, c.added), (vec!["c".into()], vec!["X".into()]));
        assert_eq!(c.unified, "@@ -2,3 +2,3 @@\n b\n-c\n+X\n d");
    }

    #[test]
    fn output_is_capped() {
        let old: String = (0..500).map(|i| format!("line {i}\n")).collect();
        let new: String = (0..500)
            .map(|i| format!("LINE {i} {}\n", "x".repeat(300)))
            .collect();
        let text = capped(&[diff(&old, &new)]);
        assert!(text.len() <= MAX_CHARS + 40, "{}", text.len());
        assert!(text.lines().count() <= MAX_LINES + 1);
        assert!(text.ends_with("more diff lines)\n"), "{text}");
        let h = head("fn main() {}\n");
        assert_eq!(h, "+fn main() {}\n");
    }
}
