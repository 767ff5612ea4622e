//! Printing for `claudectl mem|sup|mesh`: raw JSON for `--json`, and the small helpers of
//! the compact human views.

use serde_json::Value;

/// Print `v` as pretty JSON on stdout.
pub fn json(v: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).expect("a Value serializes")
    );
}

/// `s` on one line, cut to `max` characters with `…`.
pub fn line(s: &str, max: usize) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        return flat;
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

    #[test]
    fn lines_and_times() {
        assert_eq!(line("a\n  b", 10), "a b");
        assert_eq!(line("abcdef", 4), "abc…");
        assert_eq!(when("2026-11-21T10:44:36.123Z"), "2026-11-21 10:44");
        assert_eq!(when("yesterday"), "yesterday");
        assert_eq!(millis(1500), "1.5 s");
    }
}
