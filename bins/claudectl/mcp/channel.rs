//! Push into an idle session: when `claudectl launch` started Claude Code (it sets
//! [`CHANNEL_ENV`] and loads this server as a development channel), this server follows
//! claude-meshd's events for its session and turns each message the session may read into
//! a `notifications/claude/channel`, which starts a turn in an idle session.
//!
//! Each message is claimed first (`POST /v1/sessions/{id}/push`): the claim marks it seen,
//! so the hook never repeats it, and a message the hook already showed is not pushed. The
//! session's status is honoured by the event stream (a busy session gets only `now`; the
//! rest come when it turns idle). Nothing is pushed in the first seconds after
//! `initialized`: Claude Code drops notifications that arrive before it listens (seen on
//! 2.1.329: ones sent in the first ~1.5 s were lost); a message that comes then waits.

use super::permission::Relay;
use super::session::{self, Session};
use claude_daemons::api::mesh::{InboxItem, Peer, PushClaim, PushRequest};
use claude_daemons::claude::ChannelNotification;
use claude_daemons::http::UnixClient;
use claude_daemons::paths::{Daemon, Paths};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Set (to `1`) by `claudectl launch` in Claude Code's environment, which its MCP servers
/// inherit: only then is the channel loaded, so only then may a push mark a message seen.
pub const CHANNEL_ENV: &str = "CLAUDE_DAEMONS_CHANNEL";

/// No push before this long after `initialized`.
pub const QUIET_AFTER_CONNECT: Duration = Duration::from_secs(3);

/// The server's stdout, shared by answers and pushed notifications (one line each).
pub type Out = Arc<Mutex<std::io::Stdout>>;

/// Whether this server was started as a channel.
pub fn enabled() -> bool {
    std::env::var(CHANNEL_ENV).is_ok_and(|v| v == "1")
}

/// Write one JSON-RPC line.
pub fn write_line(out: &Out, line: &str) -> std::io::Result<()> {
    let mut o = out.lock().unwrap_or_else(|p| p.into_inner());
    o.write_all(line.as_bytes())?;
    o.write_all(b"\n")?;
    o.flush()
}

/// Start pushing, on a thread of its own, until stdout closes.
pub fn start(paths: Paths, out: Out, relay: Relay) {
    let since = Instant::now();
    std::thread::spawn(move || run(&paths, &out, since, &relay));
}

fn run(paths: &Paths, out: &Out, since: Instant, relay: &Relay) {
    let socket = paths.socket(Daemon::Meshd);
    let client = UnixClient::new(&socket).timeout(Duration::from_secs(10));
    let mut last: Option<String> = None;
    loop {
        let Some(session) = find_session(&client) else {
            std::thread::sleep(Duration::from_millis(500));
            continue;
        };
        match follow(&client, &session, &mut last, out, since, relay) {
            Ok(()) => {}
            Err(Stop::Closed) => return,
            Err(Stop::Retry) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

/// Our session: from the environment, else the peer claude-hook registered for the
/// `claude` process that started us.
fn find_session(client: &UnixClient) -> Option<String> {
    if let Some(Session::Known { id, .. }) = session::from_env() {
        return Some(id);
    }
    let r = client.get("/v1/peers?all=true").ok()?;
    let peers: Vec<Peer> = r.json().ok()?;
    session::match_peer(&peers, session::parent_pid())
        .id()
        .map(str::to_string)
}

enum Stop {
    /// stdout is gone: Claude Code ended.
    Closed,
    /// The stream ended or failed: connect again (with `Last-Event-ID`).
    Retry,
}

fn follow(
    client: &UnixClient,
    session: &str,
    last: &mut Option<String>,
    out: &Out,
    since: Instant,
    relay: &Relay,
) -> Result<(), Stop> {
    let path = format!(
        "/v1/events?session={}&channel=true",
        super::daemon_client::encode(session)
    );
    let headers: Vec<(&str, &str)> = last
        .as_deref()
        .map(|id| vec![("last-event-id", id)])
        .unwrap_or_default();
    // meshd sends a keepalive every 15 s: three missed mean the connection is dead.
    let mut stream = client
        .stream("GET", &path, &headers, None, Some(Duration::from_secs(45)))
        .map_err(|_| Stop::Retry)?;
    if stream.status != 200 {
        return Err(Stop::Retry);
    }
    loop {
        let ev = match stream.next_event() {
            Ok(Some(ev)) => ev,
            Ok(None) | Err(_) => return Err(Stop::Retry),
        };
        if let Some(id) = &ev.id {
            *last = Some(id.clone());
        }
        if ev.event != "message" {
            continue;
        }
        let Ok(item) = serde_json::from_str::<InboxItem>(&ev.data) else {
            continue;
        };
        if let Some(answer) = relay.answer(client, &item) {
            // An approver's answer goes to Claude Code as the permission verdict, not as a
            // turn; it is marked seen so no hook shows it either.
            write_line(out, &answer.to_line()).map_err(|_| Stop::Closed)?;
            let _ = client.get(&format!(
                "/v1/inbox?session={}&since={}&limit=1&mark_seen=true",
                super::daemon_client::encode(session),
                item.id - 1
            ));
            continue;
        }
        std::thread::sleep(QUIET_AFTER_CONNECT.saturating_sub(since.elapsed()));
        push(client, session, item.id, out)?;
    }
}

/// Claim one message and, if ours, write its notification.
fn push(client: &UnixClient, session: &str, id: i64, out: &Out) -> Result<(), Stop> {
    let path = format!(
        "/v1/sessions/{}/push",
        super::daemon_client::encode(session)
    );
    let body = serde_json::to_vec(&PushRequest { id }).unwrap_or_default();
    let claim: PushClaim = client
        .post_json(&path, &body)
        .ok()
        .filter(|r| r.status == 200)
        .and_then(|r| r.json().ok())
        .ok_or(Stop::Retry)?;
    if !claim.claimed {
        return Ok(());
    }
    let note = ChannelNotification::new(claim.content, claim.meta);
    write_line(out, &note.to_line()).map_err(|_| Stop::Closed)
}
