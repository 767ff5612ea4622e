//! A blocking HTTP/1.1 client over a Unix socket, for `claude-hook` and `claudectl`.
//!
//! Hand-written on purpose: `claude-hook` runs on every tool call, and an async runtime plus
//! a general HTTP client would cost more to start than the whole round trip should take. It
//! speaks only what our daemons answer: one request per connection (`Connection: close`),
//! `Content-Length` or chunked bodies. Every wait is bounded by one deadline for the whole
//! exchange.

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
        self.request_pausing(method, path, headers, body, None)
    }

    /// [`request`](Self::request), calling `pause.1` once when no answer has come
    /// `pause.0` after the start, and then waiting on until the deadline. A caller does
    /// work of its own alongside a slow daemon (claude-hook writes its spool file) without
    /// a second thread, which would cost every fast call a thread's start.
    pub fn request_pausing(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        pause: Option<(Duration, &mut dyn FnMut())>,
    ) -> Result<Response, ClientError> {
        let start = Instant::now();
        let mut pause = pause.map(|(after, f)| (start + after, f));
        // The pause's work is done once its time has come, whatever the exchange is at.
        let mut paused = |now: Instant| {
            if pause.as_ref().is_some_and(|(at, _)| now >= *at) {
                if let Some((_, f)) = pause.take() {
                    f();
                }
            }
            pause.as_ref().map(|(at, _)| *at)
        };
        let deadline = start + self.timeout;
        let remaining = || {
            deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
                .ok_or(ClientError::Timeout(self.timeout))
        };
        let mut stream = self.connect(deadline, &mut paused)?;
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
        // Each wait ends at the pause, if it is still to come, so its work starts on time
        // even while a stalled daemon does not read or answer.
        let wait_for = |next: Option<Instant>, left: Duration| {
            let now = Instant::now();
            next.map_or(left, |at| {
                at.saturating_duration_since(now)
                    .max(Duration::from_micros(1))
                    .min(left)
            })
        };
        let mut written = 0;
        while written < out.len() {
            let next = paused(Instant::now());
            stream.set_write_timeout(Some(wait_for(next, remaining()?)))?;
            match stream.write(&out[written..]) {
                Ok(0) => return Err(ClientError::Io(std::io::ErrorKind::WriteZero.into())),
                Ok(n) => written += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => {}
                Err(e) => return Err(self.timed_out(e)),
            }
        }

        let mut buf = Vec::with_capacity(4096);
        let mut chunk = [0u8; 16384];
        loop {
            let next = paused(Instant::now());
            let left = deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero());
            // Past the deadline (the pause's work may have used it up), what has already
            // arrived is still read, without waiting for more.
            let wait = wait_for(next, left.unwrap_or(Duration::from_micros(1)));
            stream.set_read_timeout(Some(wait))?;
            // With a receive timeout set, a signal handler running on this thread makes
            // read fail with EINTR even under SA_RESTART (signal(7)): retry.
            let n = match stream.read(&mut chunk) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                // The pause, or the deadline, has come: the pause's work, then the rest.
                Err(e) if left.is_some() && is_timeout(&e) => continue,
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
    fn connect(
        &self,
        deadline: Instant,
        paused: &mut dyn FnMut(Instant) -> Option<Instant>,
    ) -> Result<UnixStream, ClientError> {
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
                    paused(Instant::now());
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
        if is_timeout(&e) {
            ClientError::Timeout(self.timeout)
        } else {
            ClientError::Io(e)
        }
    }
}

/// A socket timeout, as read(2) and write(2) report one.
fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

type Head = (u16, Vec<(String, String)>, usize);

/// Most header lines a response may have.
const MAX_HEADERS: usize = 64;

/// The status line and headers: `(status, lowercased headers, length of the head)`.
///
/// Not `httparse`: its first parse detects the CPU's vector instructions at run time, and on
/// a virtual machine each CPUID instruction traps to the hypervisor (4–5 µs here): a tenth
/// of a millisecond of every hook, for a head of a few short lines from our own daemons.
fn parse_head(buf: &[u8]) -> Result<Head, ClientError> {
    let bad = |m: &str| ClientError::BadResponse(m.to_string());
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("connection closed before headers ended"))?;
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| bad("head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let (version, code) = (parts.next(), parts.next());
    if !matches!(version, Some("HTTP/1.1" | "HTTP/1.0")) {
        return Err(bad(&format!("not an HTTP/1 status line: {status_line:?}")));
    }
    let status = code
        .filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| bad(&format!("bad status code in {status_line:?}")))?;
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .filter(|(n, _)| !n.is_empty() && n.bytes().all(is_token))
            .ok_or_else(|| bad(&format!("bad header line {line:?}")))?;
        if headers.len() == MAX_HEADERS {
            return Err(bad("too many headers"));
        }
        headers.push((
            name.to_ascii_lowercase(),
            value.trim_matches([' ', '\t']).to_string(),
        ));
    }
    Ok((status, headers, end + 4))
}

/// A byte of an HTTP token (a header name): RFC 9110 `tchar`.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
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
    fn rejects_what_is_not_a_response_head() {
        for head in [
            &b"HTTP/2 200 OK\r\n\r\n"[..],
            b"HTTP/1.1 20 OK\r\n\r\n",
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nbad name: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\n: empty\r\n\r\n",
            b"HTTP/1.1 200 OK\r\n\xff: x\r\n\r\n",
        ] {
            assert!(
                matches!(parse_response(head), Err(ClientError::BadResponse(_))),
                "{}",
                String::from_utf8_lossy(head)
            );
        }
        let many = format!("HTTP/1.1 200 OK\r\n{}\r\n", "a: b\r\n".repeat(65));
        assert!(parse_response(many.as_bytes()).is_err());
        let r = parse_response(b"HTTP/1.0 404 Not Found\r\nX-Y:\t v \r\n\r\n").unwrap();
        assert_eq!((r.status, r.header("x-y")), (404, Some("v")));
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

    /// Read a request head (a socket closed with unread bytes resets the client's read).
    fn read_request(s: &mut UnixStream) {
        let mut got = Vec::new();
        let mut b = [0u8; 1];
        while !got.ends_with(b"\r\n\r\n") && s.read(&mut b).unwrap() == 1 {
            got.push(b[0]);
        }
    }

    /// A server for one request: it answers `answer` once `gate` lets it (at once without).
    fn answer_once(
        path: &Path,
        answer: &'static [u8],
        gate: Option<std::sync::mpsc::Receiver<()>>,
    ) -> std::thread::JoinHandle<()> {
        let listener = std::os::unix::net::UnixListener::bind(path).unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            read_request(&mut s);
            if let Some(gate) = gate {
                gate.recv().unwrap();
            }
            s.write_all(answer).unwrap();
        })
    }

    /// GET `/` from the server at `path`, with a pause after `after`; the answer and how
    /// many times the pause ran.
    fn get_pausing(path: &Path, after: Duration, mut pause: impl FnMut()) -> (Response, u32) {
        let mut paused = 0;
        let mut counted = || {
            paused += 1;
            pause();
        };
        let r = UnixClient::new(path)
            .timeout(Duration::from_secs(60))
            .request_pausing("GET", "/", &[], None, Some((after, &mut counted)))
            .unwrap();
        (r, paused)
    }

    /// The pause's work runs once, while the server is still silent, and the answer that
    /// comes after it is still read; a server that answers at once never sees the pause.
    #[test]
    fn a_pause_runs_once_while_the_server_is_slow() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let slow = dir.path().join("s");
        let server = answer_once(
            &slow,
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
            Some(rx),
        );
        // The server answers only once the client has done its pause's work.
        let (r, paused) = get_pausing(&slow, Duration::from_millis(20), || tx.send(()).unwrap());
        server.join().unwrap();
        assert_eq!((r.status, r.body.as_slice(), paused), (200, &b"ok"[..], 1));

        let fast = dir.path().join("t");
        let server = answer_once(
            &fast,
            b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n",
            None,
        );
        let (r, paused) = get_pausing(&fast, Duration::from_secs(60), || {});
        server.join().unwrap();
        assert_eq!((r.status, paused), (204, 0));
    }

    /// A pause whose work outlasts the deadline does not lose the answer that arrived
    /// meanwhile: what is already there is read.
    #[test]
    fn an_answer_that_came_during_a_long_pause_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let server = answer_once(
            &path,
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
            Some(rx),
        );
        // The server answers as the pause starts; the pause ends past the deadline.
        let mut pause = || {
            tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(600));
        };
        let r = UnixClient::new(&path)
            .timeout(Duration::from_millis(300))
            .request_pausing(
                "GET",
                "/",
                &[],
                None,
                Some((Duration::from_millis(20), &mut pause)),
            )
            .unwrap();
        server.join().unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"ok"[..]));
    }
}
