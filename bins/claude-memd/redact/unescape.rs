//! A JSON-unescaped view of a string, with the way back to the original's offsets.
//!
//! Tool inputs and outputs often hold JSON *text* (an MCP result, `cat package.json`, a
//! log line): a secret there sits behind escapes — `\nghp_…` reads as the word `nghp_…`,
//! `\"password\": \"…\"` has no plain quotes. Secrets are looked for in the unescaped view
//! and the spans found are mapped back, so the stored text keeps its escapes.

/// The unescaped text and, for each of its bytes (plus one past the end), the offset in the
/// original where the character it belongs to starts.
pub struct View {
    /// The text with `\n \r \t \b \f \" \\ \/ \uXXXX` decoded.
    pub text: String,
    map: Vec<usize>,
}

impl View {
    /// The original range covering `start..end` of the view.
    pub fn original(&self, start: usize, end: usize) -> (usize, usize) {
        (self.map[start], self.map[end])
    }

    /// The view of this view (JSON text inside JSON text), mapped to the same original.
    pub fn deeper(&self) -> Option<View> {
        let inner = view(&self.text)?;
        let map = inner.map.iter().map(|&i| self.map[i]).collect();
        Some(View {
            text: inner.text,
            map,
        })
    }
}

/// The unescaped view of `s`, or `None` when `s` has no escape to decode.
pub fn view(s: &str) -> Option<View> {
    let b = s.as_bytes();
    let first = memchr_backslash(b)?;
    let mut text = String::with_capacity(s.len());
    let mut map = Vec::with_capacity(s.len() + 1);
    text.push_str(&s[..first]);
    map.extend(0..first);
    let mut i = first;
    let mut decoded = false;
    while i < b.len() {
        if b[i] != b'\\' {
            // Copy up to the next backslash in one go (char boundaries are kept: `\` is ASCII).
            let next = memchr_backslash(&b[i..]).map_or(b.len(), |p| i + p);
            text.push_str(&s[i..next]);
            map.extend(i..next);
            i = next;
            continue;
        }
        let (c, len) = match b.get(i + 1) {
            Some(b'n') => ('\n', 2),
            Some(b'r') => ('\r', 2),
            Some(b't') => ('\t', 2),
            Some(b'b') => ('\u{8}', 2),
            Some(b'f') => ('\u{c}', 2),
            Some(b'"') => ('"', 2),
            Some(b'\\') => ('\\', 2),
            Some(b'/') => ('/', 2),
            Some(b'u') => unicode_escape(&b[i..]).unwrap_or(('\\', 1)),
            _ => ('\\', 1),
        };
        decoded |= len > 1;
        text.push(c);
        map.extend(std::iter::repeat_n(i, c.len_utf8()));
        i += len;
    }
    map.push(b.len());
    decoded.then_some(View { text, map })
}

fn memchr_backslash(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\\')
}

/// `\uXXXX` (or a `\uD8xx\uDCxx` pair) at the start of `b`: the character and the length.
fn unicode_escape(b: &[u8]) -> Option<(char, usize)> {
    let hex = |at: usize| -> Option<u32> {
        let h = b.get(at..at + 4)?;
        u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()
    };
    let hi = hex(2)?;
    if (0xD800..0xDC00).contains(&hi) {
        if b.get(6..8)? != b"\\u" {
            return None;
        }
        let lo = hex(8)?;
        if !(0xDC00..0xE000).contains(&lo) {
            return None;
        }
        let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
        return Some((char::from_u32(c)?, 12));
    }
    Some((char::from_u32(hi)?, 6))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_maps_back() {
        let s = r#"a\nghp_x \"k\": \u00e9\ud83d\ude00 z\q"#;
        let v = view(s).unwrap();
        assert_eq!(v.text, "a\nghp_x \"k\": é😀 z\\q");
        let at = v.text.find("ghp_x").unwrap();
        let (a, b) = v.original(at, at + 5);
        assert_eq!(&s[a..b], "ghp_x");
        let at = v.text.find('é').unwrap();
        let (a, b) = v.original(at, at + 'é'.len_utf8() + '😀'.len_utf8());
        assert_eq!(&s[a..b], r"\u00e9\ud83d\ude00");
        assert!(view("no escapes").is_none());
        let twice = r#"{\"a\": \"x\\nghp_y\"}"#;
        let v = view(twice).unwrap().deeper().unwrap();
        assert_eq!(v.text, "{\"a\": \"x\nghp_y\"}");
        let at = v.text.find("ghp_y").unwrap();
        let (a, b) = v.original(at, at + 5);
        assert_eq!(&twice[a..b], "ghp_y");
        assert!(view(r"C:\q\z").is_none(), "nothing decodable");
        assert_eq!(
            view(r"bad \u12 \ud800x\t").unwrap().text,
            "bad \\u12 \\ud800x\t"
        );
    }
}
