//! Responses read as they arrive: server-sent events for `claudectl sup ask --stream` and
//! `sup events`. Bounded like the rest of the client: each wait by the caller's idle
//! timeout, each event by [`MAX_EVENT_BYTES`], an error body by [`DEFAULT_MAX_BODY`].

use super::{parse_head, ClientError, UnixClient, DEFAULT_MAX_BODY};
use std::io::{BufRead, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// Longest SSE line (and event) [`EventStream`] accepts; a longer one is a bad response.
pub const MAX_EVENT_BYTES: usize = 16 << 20;

/// One server-sent event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// `event:` (`message` when absent).
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// `id:`, when sent.
    pub id: Option<String>,
}

/// An open response read as it arrives: a `text/event-stream` read event by event, or (for
/// an error status) a body read whole with [`EventStream::into_body`]. Each read waits at
/// most the client's timeout (`None`: forever, for following a stream).
pub struct EventStream {
    /// HTTP status.
    pub status: u16,
    /// Headers, names in lower case.
    pub headers: Vec<(String, String)>,
    body: std::io::BufReader<BodyReader>,
}

impl UnixClient {
    /// Send a request and return once the response head is in; the body is read lazily.
    /// `idle` bounds each wait for more of the response (`None`: no bound).
    pub fn stream(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        idle: Option<Duration>,
    ) -> Result<EventStream, ClientError> {
        let mut stream =
            UnixStream::connect(&self.path).map_err(|source| ClientError::Connect {
                path: self.path.clone(),
                source,
            })?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\naccept: text/event-stream\r\n"
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(b) = body {
            head.push_str(&format!(
                "content-type: application/json\r\ncontent-length: {}\r\n",
                b.len()
            ));
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(body.unwrap_or_default());
        stream.set_write_timeout(Some(self.timeout))?;
        stream.write_all(&out).map_err(|e| self.timed_out(e))?;
        stream.set_read_timeout(idle)?;
        let timeout = idle.unwrap_or(self.timeout);
        let mut buf = Vec::with_capacity(1024);
        let mut byte = [0u8; 1];
        // Byte by byte up to the blank line, so no body bytes are consumed here.
        while !buf.ends_with(b"\r\n\r\n") {
            let n = match stream.read(&mut byte) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => r.map_err(|e| timed_out_after(e, timeout))?,
            };
            if n == 0 || buf.len() > 65536 {
                return Err(ClientError::BadResponse("response head incomplete".into()));
            }
            buf.push(byte[0]);
        }
        let (status, headers, _) = parse_head(&buf)?;
        let find = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        let mode = if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            BodyMode::Chunked(0)
        } else if let Some(len) = find("content-length") {
            BodyMode::Length(
                len.trim()
                    .parse()
                    .map_err(|_| ClientError::BadResponse("bad content-length".into()))?,
            )
        } else {
            BodyMode::UntilClose
        };
        Ok(EventStream {
            status,
            headers,
            body: std::io::BufReader::new(BodyReader {
                stream,
                mode,
                timeout,
            }),
        })
    }
}

impl EventStream {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The whole (remaining) body, at most [`DEFAULT_MAX_BODY`] bytes.
    pub fn into_body(self) -> Result<Vec<u8>, ClientError> {
        let mut out = Vec::new();
        let mut r = self.body.take(DEFAULT_MAX_BODY as u64 + 1);
        r.read_to_end(&mut out).map_err(unwrap_io)?;
        if out.len() > DEFAULT_MAX_BODY {
            return Err(ClientError::BadResponse("response too large".into()));
        }
        Ok(out)
    }

    /// The next event; `None` when the server ended the stream. Comments (`: keepalive`)
    /// are skipped.
    pub fn next_event(&mut self) -> Result<Option<SseEvent>, ClientError> {
        let mut ev = SseEvent::default();
        let mut data: Vec<String> = Vec::new();
        let mut size = 0usize;
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = (&mut self.body)
                .take(MAX_EVENT_BYTES as u64 + 1)
                .read_until(b'\n', &mut line)
                .map_err(unwrap_io)?;
            if n == 0 {
                return Ok(None);
            }
            size += n;
            if size > MAX_EVENT_BYTES {
                return Err(ClientError::BadResponse("event too large".into()));
            }
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end_matches(['\n', '\r']);
            if text.is_empty() {
                if data.is_empty() && ev.event.is_empty() {
                    continue;
                }
                ev.data = data.join("\n");
                if ev.event.is_empty() {
                    ev.event = "message".into();
                }
                return Ok(Some(ev));
            }
            let (field, value) = text.split_once(':').unwrap_or((text, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => ev.event = value.into(),
                "data" => data.push(value.into()),
                "id" => ev.id = Some(value.into()),
                _ => {}
            }
        }
    }
}

enum BodyMode {
    /// Bytes left in the current chunk; `usize::MAX` after the last one.
    Chunked(usize),
    Length(u64),
    UntilClose,
}

struct BodyReader {
    stream: UnixStream,
    mode: BodyMode,
    timeout: Duration,
}

/// Carries a [`ClientError`] through `std::io::Read`.
fn wrap(e: ClientError) -> std::io::Error {
    std::io::Error::other(e)
}

fn unwrap_io(e: std::io::Error) -> ClientError {
    if e.get_ref().is_some_and(|inner| inner.is::<ClientError>()) {
        return *e.into_inner().unwrap().downcast::<ClientError>().unwrap();
    }
    ClientError::Io(e)
}

fn timed_out_after(e: std::io::Error, timeout: Duration) -> ClientError {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            ClientError::Timeout(timeout)
        }
        _ => ClientError::Io(e),
    }
}

impl BodyReader {
    fn raw(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            match self.stream.read(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => return r.map_err(|e| wrap(timed_out_after(e, self.timeout))),
            }
        }
    }

    /// A chunk-size line (or the CRLF after a chunk), read byte by byte: they are short.
    fn line(&mut self) -> std::io::Result<String> {
        let mut out = Vec::new();
        let mut b = [0u8; 1];
        while !out.ends_with(b"\r\n") {
            if self.raw(&mut b)? == 0 || out.len() > 1024 {
                return Err(wrap(ClientError::BadResponse(
                    "chunked body: truncated".into(),
                )));
            }
            out.push(b[0]);
        }
        Ok(String::from_utf8_lossy(&out[..out.len() - 2]).into_owned())
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.mode {
            BodyMode::UntilClose => self.raw(buf),
            BodyMode::Length(0) => Ok(0),
            BodyMode::Length(left) => {
                let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                let n = self.raw(&mut buf[..want])?;
                if n == 0 {
                    return Err(wrap(ClientError::BadResponse(
                        "body shorter than content-length".into(),
                    )));
                }
                self.mode = BodyMode::Length(left - n as u64);
                Ok(n)
            }
            BodyMode::Chunked(usize::MAX) => Ok(0),
            BodyMode::Chunked(0) => {
                let size_line = self.line()?;
                let size_text = size_line.split(';').next().unwrap_or("").trim();
                let size = usize::from_str_radix(size_text, 16)
                    .map_err(|_| wrap(ClientError::BadResponse("chunked body: size".into())))?;
                if size == 0 {
                    self.mode = BodyMode::Chunked(usize::MAX);
                    return Ok(0);
                }
                self.mode = BodyMode::Chunked(size);
                self.read(buf)
            }
            BodyMode::Chunked(left) => {
                let want = buf.len().min(left);
                let n = self.raw(&mut buf[..want])?;
                if n == 0 {
                    return Err(wrap(ClientError::BadResponse(
                        "chunked body: truncated chunk".into(),
                    )));
                }
                if n == left {
                    self.line()?;
                }
                self.mode = BodyMode::Chunked(left - n);
                Ok(n)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_chunked_sse_as_it_arrives() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let l = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            let mut req = [0u8; 1024];
            let _ = c.read(&mut req).unwrap();
            let chunk = |c: &mut UnixStream, s: &str| {
                write!(c, "{:x}\r\n{s}\r\n", s.len()).unwrap();
            };
            c.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                .unwrap();
            chunk(&mut c, ": keepalive\n\nevent: a\nid: 7\ndata: one\n");
            chunk(&mut c, "data: two\n\n");
            std::thread::sleep(Duration::from_millis(50));
            chunk(&mut c, "data: {\"x\":1}\n\n");
            c.write_all(b"0\r\n\r\n").unwrap();
        });
        let mut s = UnixClient::new(&path)
            .stream("GET", "/", &[], None, Some(Duration::from_secs(5)))
            .unwrap();
        assert_eq!(s.status, 200);
        let e = s.next_event().unwrap().unwrap();
        assert_eq!((e.event.as_str(), e.data.as_str()), ("a", "one\ntwo"));
        assert_eq!(e.id.as_deref(), Some("7"));
        let e = s.next_event().unwrap().unwrap();
        assert_eq!(
            (e.event.as_str(), e.data.as_str()),
            ("message", "{\"x\":1}")
        );
        assert!(s.next_event().unwrap().is_none());
        server.join().unwrap();
    }

    #[test]
    fn an_error_answer_on_a_stream_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let l = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            let mut req = [0u8; 1024];
            let _ = c.read(&mut req).unwrap();
            c.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 5\r\n\r\nnope!")
                .unwrap();
        });
        let s = UnixClient::new(&path)
            .stream("GET", "/", &[], None, None)
            .unwrap();
        assert_eq!(s.status, 404);
        assert_eq!(s.into_body().unwrap(), b"nope!");
        server.join().unwrap();
    }
}
