//! A blocking HTTP/1.1 client over a Unix socket, for `claude-hook` and `claudectl`.
//!
//! Hand-written on purpose: `claude-hook` runs on every tool call, and an async runtime plus
//! a general HTTP client would cost more to start than the whole round trip should take. It
//! speaks only what our daemons answer: one request per connection (`Connection: close`),
//! `Content-Length` or chunked bodies, parsed with `httparse`. Every wait is bounded by one
//! deadline for the whole exchange.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod sse;
pub use sse::{EventStream, SseEvent, MAX_EVENT_BYTES};

/// Largest response body accepted by default.
pub const DEFAULT_MAX_BODY: usize = 16 << 20;

/// A response.
#[derive(Clone, Debug)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The decoded body.
    pub body: Vec<u8>,
}

impl Response {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, ClientError> {
        serde_json::from_slice(&self.body).map_err(|e| ClientError::BadResponse(e.to_string()))
    }
}

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens on the socket (or we may not connect).
    #[error("cannot connect to {path}: {source}")]
    Connect {
        /// The socket.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The deadline passed.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// Reading or writing failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The answer was not HTTP we understand.
    #[error("bad response: {0}")]
    BadResponse(String),
}

/// A client for one daemon socket.
#[derive(Clone, Debug)]
pub struct UnixClient {
    path: PathBuf,
    timeout: Duration,
    max_body: usize,
}

impl UnixClient {
    /// A client for the socket at `path` with a 5 s deadline.
    pub fn new(path: impl AsRef<Path>) -> UnixClient {
        UnixClient {
            path: path.as_ref().into(),
            timeout: Duration::from_secs(5),
            max_body: DEFAULT_MAX_BODY,
        }
    }

    /// Set the deadline for a whole exchange (connect, send, receive).
    pub fn timeout(mut self, timeout: Duration) -> UnixClient {
        self.timeout = timeout;
        self
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Result<Response, ClientError> {
        self.request("GET", path, &[], None)
    }

    /// `POST path` with a JSON body.
    pub fn post_json(&self, path: &str, body: &[u8]) -> Result<Response, ClientError> {
        self.request(
            "POST",
            path,
            &[("content-type", "application/json")],
            Some(body),
        )
    }

    /// Any request.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Response, ClientError> {
        let deadline = Instant::now() + self.timeout;
        let remaining = || {
            deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
                .ok_or(ClientError::Timeout(self.timeout))
        };
        let mut stream = self.connect(deadline)?;
        let mut head =
            format!("{method} {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n");
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(b) = body {
            head.push_str(&format!("content-length: {}\r\n", b.len()));
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(body.unwrap_or_default());
        stream.set_write_timeout(Some(remaining()?))?;
        stream.write_all(&out).map_err(|e| self.timed_out(e))?;

        let mut buf = Vec::with_capacity(4096);
        let mut chunk = [0u8; 16384];
        loop {
            stream.set_read_timeout(Some(remaining()?))?;
            // With a receive timeout set, a signal handler running on this thread makes
            // read fail with EINTR even under SA_RESTART (signal(7)): retry.
            let n = match stream.read(&mut chunk) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => r.map_err(|e| self.timed_out(e))?,
            };
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.len() > self.max_body + 65536 {
                return Err(ClientError::BadResponse("response too large".into()));
            }
        }
        parse_response(&buf)
    }

    /// Connect without blocking past `deadline`: when the daemon is stopped (SIGSTOP, a long
    /// fsync) and its listen backlog is full, a blocking connect(2) would wait for it.
    fn connect(&self, deadline: Instant) -> Result<UnixStream, ClientError> {
        use socket2::{Domain, SockAddr, Socket, Type};
        let fail = |source| ClientError::Connect {
            path: self.path.clone(),
            source,
        };
        let addr = SockAddr::unix(&self.path).map_err(fail)?;
        let socket = Socket::new(Domain::UNIX, Type::STREAM, None).map_err(fail)?;
        socket.set_nonblocking(true).map_err(fail)?;
        loop {
            match socket.connect(&addr) {
                Ok(()) => break,
                // Unix sockets answer EAGAIN when the backlog is full: try again shortly.
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline {
                        return Err(ClientError::Timeout(self.timeout));
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(fail(e)),
            }
        }
        socket.set_nonblocking(false).map_err(fail)?;
        Ok(UnixStream::from(std::os::fd::OwnedFd::from(socket)))
    }

    fn timed_out(&self, e: std::io::Error) -> ClientError {
        match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                ClientError::Timeout(self.timeout)
            }
            _ => ClientError::Io(e),
        }
    }
}

type Head = (u16, Vec<(String, String)>, usize);

fn parse_head(buf: &[u8]) -> Result<Head, ClientError> {
    let mut raw = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Response::new(&mut raw);
    let head_len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return Err(ClientError::BadResponse(
                "connection closed before headers ended".into(),
            ))
        }
        Err(e) => return Err(ClientError::BadResponse(e.to_string())),
    };
    let headers = parsed
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    Ok((parsed.code.unwrap_or(0), headers, head_len))
}

fn parse_response(buf: &[u8]) -> Result<Response, ClientError> {
    let (status, headers, head_len) = parse_head(buf)?;
    let rest = &buf[head_len..];
    let find = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    };
    let body = if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        decode_chunked(rest)?
    } else if let Some(len) = find("content-length") {
        let len: usize = len
            .trim()
            .parse()
            .map_err(|_| ClientError::BadResponse("bad content-length".into()))?;
        if rest.len() < len {
            return Err(ClientError::BadResponse(
                "body shorter than content-length".into(),
            ));
        }
        rest[..len].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn decode_chunked(mut data: &[u8]) -> Result<Vec<u8>, ClientError> {
    let bad = |m: &str| ClientError::BadResponse(format!("chunked body: {m}"));
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| bad("truncated size line"))?;
        let size_text = std::str::from_utf8(&data[..line_end]).map_err(|_| bad("size"))?;
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| bad("size"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if size.checked_add(2).is_none_or(|need| data.len() < need) {
            return Err(bad("truncated chunk"));
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_length() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: b\r\n\r\nhiEXTRA")
            .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"hi");
        assert_eq!(r.header("x-a"), Some("b"));
    }

    #[test]
    fn parses_chunked() {
        let r = parse_response(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.body, b"hello world");
    }

    #[test]
    fn rejects_truncated() {
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Le").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc").is_err());
        assert!(
            parse_response(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nff\r\nab")
                .is_err()
        );
    }

    #[test]
    fn connect_error_names_the_socket() {
        let e = UnixClient::new("/nonexistent/x.sock")
            .get("/v1/health")
            .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/x.sock"), "{e}");
    }

    #[test]
    fn deadline_bounds_a_silent_server() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let _l = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let started = Instant::now();
        let e = UnixClient::new(&path)
            .timeout(Duration::from_millis(200))
            .get("/")
            .unwrap_err();
        assert!(matches!(e, ClientError::Timeout(_)), "{e}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
