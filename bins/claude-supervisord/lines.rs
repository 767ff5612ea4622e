//! Reading a child's stdout one line at a time with a bound on line length, so a child that
//! prints megabytes without a newline costs a fixed amount of memory, not all of it.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// Longest line kept (tool outputs can be large; the contract asks for at least 1 MiB).
pub const MAX_LINE: usize = 8 << 20;
/// How much of a discarded line is kept.
const HEAD: usize = 64;

#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A complete line, without its newline.
    Text(String),
    /// A line longer than the bound, discarded but for its first bytes (enough to tell
    /// what kind of message it was).
    TooLong { len: usize, head: String },
    /// Not UTF-8.
    NotUtf8,
}

/// Read the next line; `None` at end of stream.
pub async fn next_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Option<Line>> {
    buf.clear();
    let mut discarded = 0usize;
    let mut head = Vec::new();
    loop {
        let chunk = r.fill_buf().await?;
        if chunk.is_empty() {
            // EOF: a last line without newline still counts.
            if discarded > 0 {
                return Ok(Some(too_long(discarded, &head)));
            }
            if buf.is_empty() {
                return Ok(None);
            }
            return Ok(Some(finish(std::mem::take(buf))));
        }
        let (part, found) = match memchr(chunk) {
            Some(i) => (&chunk[..i], Some(i)),
            None => (chunk, None),
        };
        if discarded > 0 || buf.len() + part.len() > max {
            if discarded == 0 {
                head.extend(buf.iter().chain(part).take(HEAD));
            }
            discarded += buf.len() + part.len();
            buf.clear();
        } else {
            buf.extend_from_slice(part);
        }
        let used = found.map_or(chunk.len(), |i| i + 1);
        r.consume(used);
        if found.is_some() {
            if discarded > 0 {
                return Ok(Some(too_long(discarded, &head)));
            }
            return Ok(Some(finish(std::mem::take(buf))));
        }
    }
}

fn too_long(len: usize, head: &[u8]) -> Line {
    Line::TooLong {
        len,
        head: String::from_utf8_lossy(head).into_owned(),
    }
}

fn memchr(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

fn finish(mut bytes: Vec<u8>) -> Line {
    if bytes.last() == Some(&b'\r') {
        bytes.pop();
    }
    match String::from_utf8(bytes) {
        Ok(s) => Line::Text(s),
        Err(_) => Line::NotUtf8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn splits_bounds_and_recovers() {
        let mut data = b"one\n".to_vec();
        data.extend(std::iter::repeat_n(b'x', 100));
        data.extend(b"\ntwo\n\xff\xfe\nlast");
        let mut r = tokio::io::BufReader::with_capacity(7, &data[..]);
        let mut buf = Vec::new();
        let mut got = Vec::new();
        while let Some(l) = next_line(&mut r, &mut buf, 50).await.unwrap() {
            got.push(l);
        }
        assert_eq!(
            got,
            [
                Line::Text("one".into()),
                // The head: what was read when the bound was crossed (7-byte reads).
                Line::TooLong {
                    len: 100,
                    head: "x".repeat(52),
                },
                Line::Text("two".into()),
                Line::NotUtf8,
                Line::Text("last".into()),
            ]
        );
    }
}
