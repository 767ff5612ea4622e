//! Faults with counts: a burst of 2,000 sends from one member to another through a real
//! nats-server while (1) the sender is killed with SIGKILL, (2) nats-server is killed and
//! restarted, (3) the receiver is down. Afterwards every accepted message is in the
//! receiver's inbox exactly once, in the order it was sent.
//!
//! The sending client retries a request whose answer it never got (the daemon died under
//! it) with the same `client_message_id`, as a real client must: the idempotency table makes
//! that safe.

#[path = "support/meshd.rs"]
mod meshd;
#[path = "support/nats.rs"]
mod nats;

use claude_daemons::http::UnixClient;
use meshd::Meshd;
use nats::Nats;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BURST: usize = 2000;

fn tmp() -> tempfile::TempDir {
    meshd::scratch::kept(
        tempfile::Builder::new()
            .prefix("cm")
            .tempdir_in("/tmp")
            .unwrap(),
    )
}

fn member(root: &Path, nats: &Nats, name: &str) -> Meshd {
    let url = nats.url();
    Meshd::start(
        &root.join(name),
        &[
            ("CLAUDE_DAEMONS_MESH_BROKER_URL", url.as_str()),
            ("CLAUDE_DAEMONS_MESH_MESH", "faults"),
            ("CLAUDE_DAEMONS_MESH_MESH_SECRET", "s"),
            ("CLAUDE_DAEMONS_MESH_HEARTBEAT_SECS", "1"),
            ("RUST_LOG", "warn"),
        ],
    )
}

/// Send the burst on a thread; `accepted` counts 2xx answers. Returns the ids accepted.
fn burst(
    socket: PathBuf,
    to: String,
    accepted: Arc<AtomicUsize>,
) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        let client = UnixClient::new(&socket).timeout(Duration::from_secs(10));
        let mut ok = Vec::with_capacity(BURST);
        for i in 0..BURST {
            let id = format!("m{i:04}");
            let body =
                serde_json::json!({"to": to, "body": id, "client_message_id": id}).to_string();
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                match client.post_json("/v1/send", body.as_bytes()) {
                    Ok(r) if r.status == 202 || r.status == 200 => break,
                    Ok(r) => panic!(
                        "send {id}: {} {}",
                        r.status,
                        String::from_utf8_lossy(&r.body)
                    ),
                    // The daemon is down: retry the same id until it is back.
                    Err(_) => {
                        assert!(Instant::now() < deadline, "sender did not come back");
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
            }
            ok.push(id);
            accepted.fetch_add(1, Ordering::SeqCst);
        }
        ok
    })
}

fn wait_count(accepted: &AtomicUsize, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while accepted.load(Ordering::SeqCst) < n {
        assert!(
            Instant::now() < deadline,
            "burst stalled at {}",
            accepted.load(Ordering::SeqCst)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Every accepted id exactly once, in order, and nothing else.
fn check_inbox(receiver: &Meshd, sent: &[String]) {
    let mut items = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    while items.len() < sent.len() {
        assert!(
            Instant::now() < deadline,
            "receiver has {} of {}:\n{}",
            items.len(),
            sent.len(),
            receiver.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
        items = receiver.inbox_all();
    }
    let got: Vec<String> = items
        .iter()
        .map(|i| i["client_message_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got.len(), sent.len(), "duplicates in the inbox");
    if let Some(i) = (0..sent.len()).find(|&i| got[i] != sent[i]) {
        let w = i.saturating_sub(3)..(i + 5).min(sent.len());
        panic!(
            "not in per-sender order at {i}: got {:?}, sent {:?}",
            &got[w.clone()],
            &sent[w]
        );
    }
    assert!(items.iter().all(|i| i["body"] == i["client_message_id"]));
}

#[test]
fn sender_killed_mid_burst() {
    let dir = tmp();
    let nats = Nats::start(dir.path());
    let mut a = member(dir.path(), &nats, "a");
    let b = member(dir.path(), &nats, "b");
    let accepted = Arc::new(AtomicUsize::new(0));
    let t = burst(a.socket.clone(), b.key(), accepted.clone());
    wait_count(&accepted, 700);
    a.kill9();
    std::thread::sleep(Duration::from_millis(300));
    a.restart();
    let sent = t.join().unwrap();
    check_inbox(&b, &sent);
    a.wait_for(30, "sender outbox all done", || {
        a.outbox("done").len() == BURST
    });
    assert!(a.outbox("dead").is_empty());
}

#[test]
fn broker_killed_and_restarted_mid_burst() {
    let dir = tmp();
    let mut nats = Nats::start(dir.path());
    let a = member(dir.path(), &nats, "a");
    let b = member(dir.path(), &nats, "b");
    let accepted = Arc::new(AtomicUsize::new(0));
    let t = burst(a.socket.clone(), b.key(), accepted.clone());
    wait_count(&accepted, 700);
    nats.kill();
    // Sends are still accepted while the broker is away.
    let before = accepted.load(Ordering::SeqCst);
    wait_count(&accepted, before + 200);
    std::thread::sleep(Duration::from_millis(500));
    nats.restart();
    let sent = t.join().unwrap();
    check_inbox(&b, &sent);
    assert!(a.outbox("dead").is_empty());
}

#[test]
fn receiver_down_during_the_burst() {
    let dir = tmp();
    let nats = Nats::start(dir.path());
    let a = member(dir.path(), &nats, "a");
    let mut b = member(dir.path(), &nats, "b");
    let kb = b.key();
    b.wait_for(60, "B consuming", || {
        b.log_text().contains("receiving") || b.outbox("").is_empty()
    });
    let accepted = Arc::new(AtomicUsize::new(0));
    let t = burst(a.socket.clone(), kb, accepted.clone());
    wait_count(&accepted, 300);
    b.kill9();
    let sent = t.join().unwrap();
    a.wait_for(60, "all published", || {
        a.outbox("pending,inflight").is_empty()
    });
    b.restart();
    check_inbox(&b, &sent);
}

/// Four clients send at once, nats-server is killed twice mid-burst. Every accepted message
/// arrives exactly once and in the order the sender accepted it (its outbox order),
/// although publishes that were written but never acked are published again.
#[test]
fn broker_killed_twice_with_the_pipeline_full() {
    let dir = tmp();
    let mut nats = Nats::start(dir.path());
    let a = member(dir.path(), &nats, "a");
    let b = member(dir.path(), &nats, "b");
    let kb = b.key();
    let accepted = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..4)
        .map(|k| {
            let (socket, to, accepted) = (a.socket.clone(), kb.clone(), accepted.clone());
            std::thread::spawn(move || {
                let client = UnixClient::new(&socket).timeout(Duration::from_secs(10));
                for i in 0..BURST / 2 {
                    let id = format!("c{k}-{i:04}");
                    let body = serde_json::json!({"to": to, "body": id, "client_message_id": id})
                        .to_string();
                    let r = client.post_json("/v1/send", body.as_bytes()).unwrap();
                    assert!(
                        r.status == 202 || r.status == 200,
                        "send {id}: {}",
                        r.status
                    );
                    accepted.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    kill_twice_and_check(&mut nats, &accepted, clients, &a, &b);
}

/// Four clients post batches of 50 (each committed at once, so the drain finds runs of
/// rows) to the destinations `to` in turn, and nats-server is killed twice mid-burst. Returns the sender's accepted
/// order once everything is published, after checking that `b` has it exactly once and in
/// that order (a retry may group the same messages otherwise).
fn batches_through_two_broker_kills(
    nats: &mut Nats,
    a: &Meshd,
    b: &Meshd,
    to: &[&str],
) -> Vec<String> {
    let to: Vec<String> = to.iter().map(|t| t.to_string()).collect();
    let accepted = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..4)
        .map(|k| {
            let (socket, to, accepted) = (a.socket.clone(), to.clone(), accepted.clone());
            std::thread::spawn(move || {
                let client = UnixClient::new(&socket).timeout(Duration::from_secs(10));
                for first in (0..BURST / 2).step_by(50) {
                    let items: Vec<_> = (first..first + 50)
                        .map(|i| {
                            let id = format!("g{k}-{i:04}");
                            let to = &to[i % to.len()];
                            serde_json::json!({"to": to, "body": id, "client_message_id": id})
                        })
                        .collect();
                    let body = serde_json::to_vec(&items).unwrap();
                    let r = client.post_json("/v1/send", &body).unwrap();
                    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
                    accepted.fetch_add(items.len(), Ordering::SeqCst);
                }
            })
        })
        .collect();
    kill_twice_and_check(nats, &accepted, clients, a, b)
}

/// Kill nats-server when `accepted` reaches 1,000 and again at 2,500, wait for the
/// `clients` and for every send to be published; the sender's acceptance order (its outbox
/// ids), once `b` is checked to have it exactly once and in that order.
fn kill_twice_and_check(
    nats: &mut Nats,
    accepted: &AtomicUsize,
    clients: Vec<std::thread::JoinHandle<()>>,
    a: &Meshd,
    b: &Meshd,
) -> Vec<String> {
    for at in [1000, 2500] {
        wait_count(accepted, at);
        nats.kill();
        std::thread::sleep(Duration::from_millis(300));
        nats.restart();
    }
    for c in clients {
        c.join().unwrap();
    }
    a.wait_for(90, "every send published", || {
        a.outbox("pending,inflight").is_empty()
    });
    assert!(a.outbox("dead").is_empty());
    let sent: Vec<String> = a
        .outbox("done")
        .iter()
        .map(|r| r["client_message_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(sent.len(), 2 * BURST);
    check_inbox(b, &sent);
    sent
}

/// Stream messages `m`'s inbox came in.
fn stream_messages(m: &Meshd) -> usize {
    let mut seqs: Vec<i64> = m
        .inbox_all()
        .iter()
        .map(|i| i["broker_message_id"].as_i64().unwrap())
        .collect();
    seqs.dedup();
    seqs.len()
}

/// Grouped envelopes under faults: runs of DMs to a member that takes groups go as one
/// envelope each, with nats-server killed twice while they are in flight.
#[test]
fn grouped_sends_survive_the_broker_killed_twice() {
    let dir = tmp();
    let mut nats = Nats::start(dir.path());
    let a = member(dir.path(), &nats, "a");
    let b = member(dir.path(), &nats, "b");
    let kb = b.key();
    // A groups only for a member whose record says it takes groups.
    a.wait_for(20, "b's member record", || {
        let (_, v) = a.get("/v1/members");
        v.as_array()
            .unwrap()
            .iter()
            .any(|m| m["key"] == kb.as_str() && m["grouped"] == true)
    });
    batches_through_two_broker_kills(&mut nats, &a, &b, &[&kb]);
    let envelopes = stream_messages(&b);
    assert!(
        envelopes * 4 <= 2 * BURST,
        "{envelopes} stream messages for {} messages",
        2 * BURST
    );
}

/// The same one message per envelope: DMs to two sessions of b in turn, so no two
/// consecutive rows share a destination. With several publishes outstanding, one still
/// queued in the client when nats-server died was sent on the next connection ahead of
/// the retry of those lost before it.
#[test]
fn single_sends_in_batches_survive_the_broker_killed_twice() {
    let dir = tmp();
    let mut nats = Nats::start(dir.path());
    let a = member(dir.path(), &nats, "a");
    let b = member(dir.path(), &nats, "b");
    b.register("s1", "one", &[], &[]);
    b.register("s2", "two", &[], &[]);
    a.wait_for(20, "b's sessions", || {
        let (_, v) = a.get("/v1/peers");
        v.as_array()
            .unwrap()
            .iter()
            .filter(|p| p["key"] == b.key().as_str())
            .count()
            == 2
    });
    batches_through_two_broker_kills(&mut nats, &a, &b, &["session:s1", "session:s2"]);
    assert_eq!(stream_messages(&b), 2 * BURST, "one message per envelope");
}
