//! Printing for `claudectl mem|sup|mesh`: raw JSON for `--json`, and the small helpers of
//! the compact human views.
//!
//! Everything a human view prints may come from someone else: peer names and messages, a
//! memory record's text, a daemon's error. Printed raw, `ESC ] 0 ; … BEL` retitles the
//! terminal and `ESC [ 2 J` clears it (worse sequences exist), so [`clean`], [`line`] and
//! [`say!`] show control characters as visible text instead. `--json` needs nothing: JSON
//! escapes control characters itself.

use serde_json::Value;
use std::borrow::Cow;
use std::fmt::Write;

/// Print `v` as pretty JSON on stdout.
pub fn json(v: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).expect("a Value serializes")
    );
}

/// `println!` for a line holding text from daemons, peers or files: see [`clean`].
macro_rules! say {
    ($($arg:tt)*) => {
        println!("{}", $crate::output::clean(&format!($($arg)*)))
    };
}
pub(crate) use say;

/// Whether a terminal could act on `c`: C0 controls (newline and tab excepted), DEL, C1
/// controls, and the bidirectional overrides and isolates that make text display in
/// another order than it reads (Trojan Source).
fn unsafe_char(c: char) -> bool {
    match c {
        '\n' | '\t' => false,
        '\0'..='\x1f' | '\x7f'..='\u{9f}' => true,
        '\u{61c}' | '\u{200e}' | '\u{200f}' => true,
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => true,
        _ => false,
    }
}

/// `s` with every character a terminal could act on shown as text: `^[` for ESC, `^G` for
/// BEL, `^?` for DEL (caret notation, as `cat -v`), `<U+202E>` for C1 controls and
/// bidirectional overrides. Newlines and tabs are kept.
pub fn clean(s: &str) -> Cow<'_, str> {
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            c if !unsafe_char(c) => out.push(c),
            '\x7f' => out.push_str("^?"),
            c if (c as u32) < 0x20 => {
                out.push('^');
                out.push(char::from(c as u8 + 0x40));
            }
            c => {
                let _ = write!(out, "<U+{:04X}>", c as u32);
            }
        }
    }
    Cow::Owned(out)
}

/// `s` on one line (runs of whitespace, newlines included, become one space), with control
/// characters shown as [`clean`] does, cut to `max` characters with `…`.
pub fn line(s: &str, max: usize) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let flat = clean(&flat);
    if flat.chars().count() <= max {
        return flat.into_owned();
    }
    let mut out: String = flat.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// An RFC 3339 UTC time as `YYYY-MM-DD HH:MM` (the rest is noise in a listing).
pub fn when(rfc3339: &str) -> String {
    match rfc3339.get(..16) {
        Some(s) if s.as_bytes().get(10) == Some(&b'T') => s.replacen('T', " ", 1),
        _ => rfc3339.to_string(),
    }
}

/// A duration in milliseconds for people.
pub fn millis(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = "\x1b]0;owned\x07\x1b[31mred\x1b[2J\u{9b}2J\u{202e}gnp.exe\x7f\r";

    #[test]
    fn control_characters_are_shown_not_sent() {
        let c = clean(HOSTILE);
        assert_eq!(c, "^[]0;owned^G^[[31mred^[[2J<U+009B>2J<U+202E>gnp.exe^?^M");
        assert!(!c.chars().any(unsafe_char), "{c}");
        assert_eq!(clean("a\n\tb ✓ — ünï"), "a\n\tb ✓ — ünï", "kept");
        assert!(matches!(clean("plain"), Cow::Borrowed(_)));
        let l = line(&format!("name\n{HOSTILE}"), 200);
        assert!(
            !l.contains('\x1b') && !l.contains('\x07') && !l.contains('\n'),
            "{l}"
        );
        assert!(l.starts_with("name ^[]0;owned^G"), "{l}");
        // The cut counts what is shown, so escapes cannot push a line past its width.
        assert_eq!(line("\x1b\x1b\x1b", 4), "^[^…");
        for c in [
            '\0', '\x1f', '\u{85}', '\u{2066}', '\u{2069}', '\u{200f}', '\u{61c}',
        ] {
            assert!(!clean(&c.to_string()).contains(c), "{c:?}");
        }
    }

    #[test]
    fn lines_and_times() {
        assert_eq!(line("a\n  b", 10), "a b");
        assert_eq!(line("abcdef", 4), "abc…");
        assert_eq!(when("2026-11-21T10:44:36.123Z"), "2026-11-21 10:44");
        assert_eq!(when("yesterday"), "yesterday");
        assert_eq!(millis(1500), "1.5 s");
    }
}
