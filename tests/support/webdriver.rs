//! A small W3C WebDriver client for the browser tests and the viewer bench: JSON over HTTP/1.1
//! to chromedriver on loopback, one connection per command.
//!
//! Why not a crate: fantoccini (the maintained client) brings hyper's client, the `webdriver`
//! crate and ICU as dev-dependencies, and those switch on features of crates the daemons use
//! (syn's `fold`, hyper's `client`, time's `macros`…). `cargo test` then builds every daemon
//! with other features than `cargo build` does, so the package builds (makepkg, rpmbuild)
//! could no longer reuse the test build and compiled everything twice. The protocol needs
//! only the dozen commands below.
//!
//! The methods are `async` so the tests read like any async client, but each one blocks on
//! its loopback round trip: chromedriver answers in milliseconds.
#![allow(dead_code)] // the test and the bench use different parts

use base64::Engine;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A chromedriver child on a free loopback port, killed on drop.
pub struct Chromedriver {
    child: Child,
    /// Where it listens.
    pub port: u16,
}

impl Chromedriver {
    /// Start `binary` and wait until it listens.
    pub fn start(binary: &Path) -> Chromedriver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{} ({e}): scripts/test installs chromium-driver",
                    binary.display()
                )
            });
        let driver = Chromedriver { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        driver
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A failed command: chromedriver's error text, or why it could not be reached.
pub type Error = String;

/// How to find an element.
pub enum Locator<'a> {
    /// A CSS selector.
    Css(&'a str),
    /// An element id.
    Id(&'a str),
}

impl Locator<'_> {
    fn body(&self) -> Value {
        match self {
            Locator::Css(s) => json!({"using": "css selector", "value": s}),
            Locator::Id(id) => json!({"using": "css selector", "value": format!("#{id}")}),
        }
    }
}

/// One browser session.
pub struct Client {
    port: u16,
    session: String,
}

/// An element of the page.
pub struct Element<'c> {
    client: &'c Client,
    /// The W3C reference object (`{"element-6066-…": id}`), as commands take it back.
    reference: Value,
    id: String,
}

/// The page's address, as the browser reports it.
pub struct PageUrl(pub String);

impl PageUrl {
    /// The path part: after the authority, before a query or fragment.
    pub fn path(&self) -> &str {
        let rest = self.0.split_once("://").map_or(self.0.as_str(), |(_, r)| r);
        let path = rest.find('/').map_or("/", |i| &rest[i..]);
        path.split(['?', '#']).next().unwrap_or("/")
    }
}

/// One HTTP exchange with chromedriver; the `value` of its JSON answer, or its error.
fn call(port: u16, method: &str, path: &str, body: Option<&Value>) -> Result<Value, Error> {
    let mut s =
        TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("chromedriver: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(120))).ok();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
    // chromedriver keeps the connection open whatever the request says: read exactly the
    // answer (Content-Length, or chunks up to the last one), not up to EOF.
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    let complete = |raw: &[u8]| -> Option<Result<Vec<u8>, Error>> {
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
        let body = &raw[split + 4..];
        if head.contains("transfer-encoding: chunked") {
            return body.ends_with(b"0\r\n\r\n").then(|| dechunk(body));
        }
        let len = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|n| n.trim().parse::<usize>().ok())?;
        (body.len() >= len).then(|| Ok(body[..len].to_vec()))
    };
    let payload = loop {
        if let Some(done) = complete(&raw) {
            break done?;
        }
        let n = s
            .read(&mut buf)
            .map_err(|e| format!("{method} {path}: {e}"))?;
        if n == 0 {
            return Err(format!(
                "{method} {path}: chromedriver closed the connection"
            ));
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let v: Value =
        serde_json::from_slice(&payload).map_err(|e| format!("{method} {path}: not JSON ({e})"))?;
    let value = v.get("value").cloned().unwrap_or(Value::Null);
    match value.get("error") {
        Some(err) => Err(format!(
            "{method} {path}: {err}: {}",
            value.get("message").unwrap_or(&Value::Null)
        )),
        None => Ok(value),
    }
}

fn dechunk(mut b: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    loop {
        let line = b.windows(2).position(|w| w == b"\r\n").ok_or("bad chunk")?;
        let size = usize::from_str_radix(String::from_utf8_lossy(&b[..line]).trim(), 16)
            .map_err(|e| e.to_string())?;
        b = &b[line + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(b.get(..size).ok_or("short chunk")?);
        b = b.get(size + 2..).ok_or("short chunk")?;
    }
}

impl Client {
    /// A new session with these capabilities (`alwaysMatch`).
    pub async fn connect(port: u16, capabilities: Value) -> Result<Client, Error> {
        let v = call(
            port,
            "POST",
            "/session",
            Some(&json!({"capabilities": {"alwaysMatch": capabilities}})),
        )?;
        let session = v["sessionId"]
            .as_str()
            .ok_or_else(|| format!("no session id in {v}"))?
            .to_string();
        Ok(Client { port, session })
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, Error> {
        call(
            self.port,
            method,
            &format!("/session/{}{path}", self.session),
            body.as_ref(),
        )
    }

    fn element(&self, reference: Value) -> Result<Element<'_>, Error> {
        let id = reference
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .ok_or_else(|| format!("not an element: {reference}"))?
            .to_string();
        Ok(Element {
            client: self,
            reference,
            id,
        })
    }

    /// Navigate to `url` and wait for the page to load.
    pub async fn goto(&self, url: &str) -> Result<(), Error> {
        self.cmd("POST", "/url", Some(json!({ "url": url })))
            .map(drop)
    }

    /// Reload the page.
    pub async fn refresh(&self) -> Result<(), Error> {
        self.cmd("POST", "/refresh", Some(json!({}))).map(drop)
    }

    /// Where the page is now.
    pub async fn current_url(&self) -> Result<PageUrl, Error> {
        let v = self.cmd("GET", "/url", None)?;
        Ok(PageUrl(v.as_str().unwrap_or_default().to_string()))
    }

    /// The first element `locator` finds.
    pub async fn find(&self, locator: Locator<'_>) -> Result<Element<'_>, Error> {
        let v = self.cmd("POST", "/element", Some(locator.body()))?;
        self.element(v)
    }

    /// Run `script` as a function body with `args`; what it returns (promises awaited).
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Result<Value, Error> {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Result<Vec<u8>, Error> {
        let v = self.cmd("GET", "/screenshot", None)?;
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .map_err(|e| e.to_string())
    }

    /// Resize the window (CSS pixels).
    pub async fn set_window_size(&self, width: u32, height: u32) -> Result<(), Error> {
        self.cmd(
            "POST",
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        )
        .map(drop)
    }

    /// End the session (the browser exits).
    pub async fn close(self) -> Result<(), Error> {
        self.cmd("DELETE", "", None).map(drop)
    }
}

impl Element<'_> {
    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, Error> {
        self.client
            .cmd(method, &format!("/element/{}{path}", self.id), body)
    }

    /// Its rendered text.
    pub async fn text(&self) -> Result<String, Error> {
        Ok(self
            .cmd("GET", "/text", None)?
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    /// Click it.
    pub async fn click(&self) -> Result<(), Error> {
        self.cmd("POST", "/click", Some(json!({}))).map(drop)
    }

    /// Type `text` into it.
    pub async fn send_keys(&self, text: &str) -> Result<(), Error> {
        self.cmd("POST", "/value", Some(json!({ "text": text })))
            .map(drop)
    }

    /// The first element inside it that `locator` finds.
    pub async fn find(&self, locator: Locator<'_>) -> Result<Element<'_>, Error> {
        let v = self.cmd("POST", "/element", Some(locator.body()))?;
        self.client.element(v)
    }

    /// Choose the `<option>` of this `<select>` whose value is `value`, as a person would.
    pub async fn select_by_value(&self, value: &str) -> Result<(), Error> {
        let selector = format!("option[value=\"{value}\"]");
        self.find(Locator::Css(&selector)).await?.click().await
    }

    /// The W3C reference, to pass the element to a script.
    pub fn reference(&self) -> &Value {
        &self.reference
    }
}
