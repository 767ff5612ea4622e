//! Push into a session through its channel: `claudectl mcp` started as Claude Code starts
//! it under `claudectl launch` (stdio, `CLAUDE_DAEMONS_CHANNEL=1`), against a real
//! claude-meshd. It declares the channel capabilities, waits out the first seconds after
//! `initialized`, then writes one `notifications/claude/channel` per readable message
//! (fenced body, string meta), holds `next` messages while the session works, marks what it
//! pushed seen (the hook's context does not repeat it), survives a meshd restart, and meshd
//! reports the session's channel. Prints the push latency (send → notification written).

#[path = "support/meshd.rs"]
mod meshd;

use meshd::Meshd;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

const S: &str = "a0a0a0a0-0000-4000-8000-00000000000a";
const PEER: &str = "b0b0b0b0-0000-4000-8000-00000000000b";

struct Mcp {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<(Instant, Value)>,
}

impl Drop for Mcp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Mcp {
    fn start(m: &Meshd) -> Mcp {
        let mut child = Command::new(env!("CARGO_BIN_EXE_claudectl"))
            .arg("mcp")
            .envs(m.env.iter().map(|(k, v)| (k, v)))
            .env("CLAUDE_SESSION_ID", S)
            .env("CLAUDE_DAEMONS_CHANNEL", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                let v: Value = serde_json::from_str(&line).expect("one JSON object per line");
                if tx.send((Instant::now(), v)).is_err() {
                    return;
                }
            }
        });
        Mcp {
            child,
            stdin,
            lines,
        }
    }

    fn send(&mut self, v: Value) {
        writeln!(self.stdin, "{v}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// The next line within `secs`.
    fn next(&self, secs: u64) -> Option<(Instant, Value)> {
        match self.lines.recv_timeout(Duration::from_secs(secs)) {
            Ok(x) => Some(x),
            Err(RecvTimeoutError::Timeout) => None,
            Err(e) => panic!("claudectl mcp ended: {e}"),
        }
    }

    /// The next channel notification within `secs`.
    fn pushed(&self, secs: u64) -> Option<(Instant, Value)> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (t, v) = self.next(left.as_secs().max(1))?;
            if v["method"] == "notifications/claude/channel" {
                return Some((t, v["params"].clone()));
            }
            assert!(Instant::now() < deadline, "no channel notification");
        }
    }
}

fn send(m: &Meshd, body: &str, priority: &str) -> Instant {
    let t = Instant::now();
    let (code, v) = m.send(json!({"to": format!("session:{S}"), "body": body,
        "priority": priority, "from_session": PEER}));
    assert_eq!(code, 202, "{v}");
    t
}

fn status(m: &Meshd, s: &str) {
    let (code, v) = m.post(&format!("/v1/sessions/{S}/status"), &json!({ "status": s }));
    assert_eq!(code, 200, "{v}");
}

#[test]
fn the_channel_pushes_each_readable_message_once() {
    let dir = tempfile::Builder::new()
        .prefix("cmp")
        .tempdir_in("/tmp")
        .unwrap();
    let mut m = Meshd::start(dir.path(), &[]);
    m.register(S, "idle-one", &[], &[]);
    m.register(PEER, "sender", &[], &[]);
    status(&m, "idle");

    let mut mcp = Mcp::start(&m);
    mcp.send(json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "t", "version": "0"}}}));
    let (_, init) = mcp.next(20).expect("initialize answered");
    let exp = &init["result"]["capabilities"]["experimental"];
    assert!(exp["claude/channel"].is_object(), "{init}");
    assert!(exp["claude/channel/permission"].is_object(), "{init}");
    // server/discover must fail so the connection keeps the notification path.
    mcp.send(json!({"jsonrpc": "2.0", "id": 2, "method": "server/discover"}));
    let (_, disc) = mcp.next(20).unwrap();
    assert!(disc["error"].is_object(), "{disc}");
    let initialized = Instant::now();
    mcp.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));

    m.wait_for(20, "meshd sees the session's channel", || {
        m.get("/v1/peers")
            .1
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["session_id"] == S && p["channel"] == true)
    });

    // Sent during the quiet window: pushed, but not before it ends.
    send(&m, "early <b>bird</b>", "next");
    let (t, p) = mcp.pushed(30).expect("the early message");
    assert!(
        t - initialized >= Duration::from_millis(2900),
        "pushed {:?} after initialized",
        t - initialized
    );
    let content = p["content"].as_str().unwrap();
    assert!(content.contains("early <b>bird</b>"), "{content}");
    assert!(
        content.contains("UNTRUSTED"),
        "fenced as the hook fences: {content}"
    );
    let meta = p["meta"].as_object().unwrap();
    for k in ["from", "from_name", "priority", "id"] {
        assert!(meta[k].is_string(), "meta {k}: {p}");
    }
    assert_eq!(meta["from_name"], "sender");
    assert!(meta.values().all(Value::is_string), "{p}");

    // Pushed, and the hook (here without a transcript to check) does not repeat it.
    let (_, ctx) = m.post(&format!("/v1/sessions/{S}/context"), &json!({}));
    assert_eq!(ctx["items"].as_array().unwrap().len(), 0, "{ctx}");

    // Working: `next` waits, `now` goes through; idle releases the held one.
    status(&m, "working");
    send(&m, "later please", "next");
    send(&m, "urgent", "now");
    let (_, p) = mcp.pushed(30).expect("the now message");
    assert!(p["content"].as_str().unwrap().contains("urgent"), "{p}");
    assert!(
        mcp.pushed(2).is_none(),
        "a `next` message was pushed into a working session"
    );
    status(&m, "idle");
    let (_, p) = mcp.pushed(30).expect("the held message once idle");
    assert!(
        p["content"].as_str().unwrap().contains("later please"),
        "{p}"
    );

    // A hook without a transcript takes those pushes as arrived (nothing repeated).
    let (_, ctx) = m.post(&format!("/v1/sessions/{S}/context"), &json!({}));
    assert_eq!(ctx["items"].as_array().unwrap().len(), 0, "{ctx}");

    // A message the hook already showed is not pushed afterwards.
    status(&m, "working");
    send(&m, "via the hook", "next");
    m.wait_for(10, "stored", || {
        m.inbox(&format!("session={S}&unread_only=true")).len() == 1
    });
    status(&m, "idle");
    let (_, ctx) = m.post(&format!("/v1/sessions/{S}/context"), &json!({}));
    let shown = ctx["items"].as_array().unwrap().len();
    // Either the hook or the channel got it, never both.
    let pushed = mcp.pushed(3).is_some();
    assert_eq!(shown + usize::from(pushed), 1, "{ctx}");

    // meshd restarts under the channel: it reconnects (Last-Event-ID) and goes on.
    m.stop();
    m.restart();
    m.register(S, "idle-one", &[], &[]);
    m.register(PEER, "sender", &[], &[]);
    send(&m, "after the restart", "now");
    let (_, p) = mcp.pushed(30).expect("a push after meshd restarted");
    assert!(
        p["content"].as_str().unwrap().contains("after the restart"),
        "{p}"
    );

    // Push latency: send → notification read (written, plus a pipe).
    let mut lat: Vec<f64> = (0..50)
        .map(|i| {
            let t = send(&m, &format!("latency {i}"), "now");
            let (at, p) = mcp.pushed(30).expect("latency push");
            assert!(p["content"]
                .as_str()
                .unwrap()
                .contains(&format!("latency {i}")));
            (at - t).as_secs_f64() * 1e3
        })
        .collect();
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "push latency send -> notification: p50 {:.2} ms, p90 {:.2} ms (debug build, n = 50)",
        lat[25], lat[45]
    );
    assert!(mcp.pushed(1).is_none(), "each message pushed once");
}

/// A push is provisional: Claude Code may skip a channel notification without a word. The
/// hook (which sends the session's transcript) leaves a push alone while it is recent, marks
/// it seen once the transcript shows the pushed fence, and delivers it itself when the
/// transcript still does not show it after `push_confirm_secs`.
#[test]
fn a_push_the_transcript_never_shows_is_delivered_by_the_hook_once() {
    let dir = tempfile::Builder::new()
        .prefix("cmq")
        .tempdir_in("/tmp")
        .unwrap();
    let m = Meshd::start(
        dir.path(),
        &[("CLAUDE_DAEMONS_MESH_PUSH_CONFIRM_SECS", "3")],
    );
    m.register(S, "idle-one", &[], &[]);
    m.register(PEER, "sender", &[], &[]);
    status(&m, "idle");
    let transcript = dir.path().join("session.jsonl");
    std::fs::write(&transcript, "{\"type\":\"user\",\"message\":\"hello\"}\n").unwrap();
    let context = || -> Vec<Value> {
        let (code, ctx) = m.post(
            &format!("/v1/sessions/{S}/context"),
            &json!({"transcript_path": transcript}),
        );
        assert_eq!(code, 200, "{ctx}");
        ctx["items"].as_array().unwrap().clone()
    };

    let mut mcp = Mcp::start(&m);
    mcp.send(json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "t", "version": "0"}}}));
    mcp.next(20).expect("initialize answered");
    mcp.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    m.wait_for(20, "meshd sees the session's channel", || {
        m.get("/v1/peers")
            .1
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["session_id"] == S && p["channel"] == true)
    });

    // Pushed, but Claude Code "skipped" it: the transcript never shows it.
    send(&m, "lost in the channel", "next");
    let (pushed_at, p) = mcp.pushed(30).expect("the push");
    assert!(p["content"]
        .as_str()
        .unwrap()
        .contains("lost in the channel"));
    // Right after the push: neither shown by the hook nor taken as seen.
    let items = context();
    if pushed_at.elapsed() < Duration::from_secs(2) {
        assert!(items.is_empty(), "a fresh push was repeated: {items:?}");
    }
    assert_eq!(
        m.inbox(&format!("session={S}&unread_only=true")).len(),
        usize::from(items.is_empty()),
        "a push the transcript does not show is not seen"
    );
    // After push_confirm_secs, the hook delivers it, once.
    std::thread::sleep(Duration::from_secs(3).saturating_sub(pushed_at.elapsed()));
    let mut shown = items;
    if shown.is_empty() {
        shown = context();
    }
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert_eq!(shown[0]["body"], "lost in the channel");
    assert!(context().is_empty(), "delivered twice");

    // Pushed and shown: the transcript holds the pushed text (as Claude Code writes the
    // channel turn's user message), so the hook marks it seen and never repeats it.
    send(&m, "arrived fine", "next");
    let (_, p) = mcp.pushed(30).expect("the second push");
    let content = p["content"].as_str().unwrap();
    let line = json!({"type": "user", "message": {"role": "user",
        "content": format!("<channel source=\"claude-daemons\">{content}</channel>")}});
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&transcript)
        .unwrap();
    writeln!(f, "{line}").unwrap();
    assert!(context().is_empty(), "the hook repeated an arrived push");
    assert!(
        m.inbox(&format!("session={S}&unread_only=true")).is_empty(),
        "an arrived push is seen"
    );
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        context().is_empty(),
        "the hook repeated an arrived push later"
    );
}
