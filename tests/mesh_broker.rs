//! claude-meshd in broker mode: two daemons with separate state dirs and identities ("two
//! machines") on one real nats-server with JetStream. DM, broadcast, group, topic, presence,
//! end-to-end encryption, offline catch-up, a broker outage, forged payloads.

#[path = "support/meshd.rs"]
mod meshd;
#[path = "support/nats.rs"]
mod nats;

use meshd::{Meshd, Sse};
use nats::Nats;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

fn tmp() -> tempfile::TempDir {
    meshd::scratch::kept(
        tempfile::Builder::new()
            .prefix("cm")
            .tempdir_in("/tmp")
            .unwrap(),
    )
}

fn member(root: &Path, nats: &Nats, name: &str, secret: &str) -> Meshd {
    Meshd::member(root, &nats.url(), name, secret)
}

fn bodies(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["body"].as_str().unwrap().to_string())
        .collect()
}

fn wait_inbox(m: &Meshd, query: &str, n: usize) -> Vec<Value> {
    let mut items = Vec::new();
    m.wait_for(20, &format!("{n} items for {query}"), || {
        items = m.inbox(query);
        items.len() >= n
    });
    items
}

#[test]
fn two_members_dm_broadcast_group_topic_presence_and_encryption() {
    let dir = tmp();
    let nats = Nats::start(dir.path());
    let a = member(dir.path(), &nats, "hosta", "s3cret");
    let b = member(dir.path(), &nats, "hostb", "s3cret");
    let (ka, kb) = (a.key(), b.key());
    assert_ne!(ka, kb);
    let mut a_events = Sse::connect(&a.socket, "", None);
    a.register("a1", "alice", &[], &[]);
    b.register("b1", "bob", &["ops"], &["news"]);
    b.register("b2", "bea", &[], &[]);

    // Presence: A sees B's sessions through the KV bucket.
    let join = std::iter::from_fn(|| a_events.next_of("peer_join", Duration::from_secs(10)))
        .find(|e| e.data["key"] == kb.as_str())
        .expect("peer_join for B");
    assert_eq!(join.data["local"], false);
    a.wait_for(60, "bob in A's peers", || {
        a.get("/v1/peers")
            .1
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "bob" && p["local"] == false)
    });

    let send = |to: &str, body: &str| {
        let (s, v) = a.send(json!({"to": to, "body": body, "from_session": "a1"}));
        assert_eq!(s, 202, "{v}");
        v["client_message_id"].as_str().unwrap().to_string()
    };
    let dm = send("bob", "secret dm for bob");
    send(&kb[..12], "dm for the whole member");
    send("*", "broadcast words");
    send("@ops", "group words");
    send("#news", "topic words");

    let bob = wait_inbox(&b, "session=b1", 5);
    assert_eq!(
        bodies(&bob),
        [
            "secret dm for bob",
            "dm for the whole member",
            "broadcast words",
            "group words",
            "topic words"
        ]
    );
    assert_eq!(bob[0]["from"]["key"], ka.as_str());
    assert_eq!(bob[0]["from"]["name"], "alice");
    assert_eq!(bob[0]["from"]["session"], "a1");
    let bea = wait_inbox(&b, "session=b2", 2);
    assert_eq!(
        bodies(&bea),
        ["dm for the whole member", "broadcast words"],
        "no bob DM, group or topic"
    );

    // The sender's outbox: done, with the stream sequence as broker_message_id.
    let mut row = Value::Null;
    a.wait_for(60, "dm done", || {
        row = a
            .outbox("done")
            .into_iter()
            .find(|r| r["client_message_id"] == dm.as_str())
            .unwrap_or(Value::Null);
        !row.is_null()
    });
    assert_eq!(row["broker_message_id"], bob[0]["broker_message_id"]);
    // A repeat of the done send answers from the outbox, without the broker.
    let (s, v) = a.post_raw(
        "/v1/send",
        &[("Idempotency-Key", &dm)],
        json!({"to": "bob", "body": "secret dm for bob", "from_session": "a1"})
            .to_string()
            .as_bytes(),
    );
    assert_eq!((s, &v["duplicate"]), (200, &json!(true)), "{v}");

    // Nothing readable on the broker: not the DM, not the mesh-key messages.
    for plain in [
        "secret dm for bob",
        "broadcast words",
        "group words",
        "topic words",
    ] {
        assert!(
            !nats.store_contains(plain.as_bytes()),
            "{plain:?} stored in clear on the broker"
        );
    }
    assert!(
        nats.store_contains(b"\"ct\""),
        "the store holds the envelopes"
    );

    // B leaves: A sees peer_leave within a few heartbeats.
    let mut b = b;
    b.kill9();
    let leave = a_events
        .next_of("peer_leave", Duration::from_secs(10))
        .expect("peer_leave");
    assert_eq!(leave.data["key"], kb.as_str());
}

#[test]
fn offline_member_catches_up_and_an_outage_leaves_sends_pending() {
    let dir = tmp();
    let mut nats = Nats::start(dir.path());
    let mut a = member(dir.path(), &nats, "hosta", "s3cret");
    let mut b = member(dir.path(), &nats, "hostb", "s3cret");
    let kb = b.key();
    a.register("a1", "alice", &[], &[]);
    b.register("b1", "bob", &["ops"], &[]);
    // B's durable consumer exists; now B goes away.
    b.wait_for(60, "B consuming", || {
        b.log_text().contains("receiving from the broker")
    });
    a.wait_for(60, "A knows bob", || {
        a.get("/v1/peers")
            .1
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "bob")
    });
    b.stop();
    // A restarts while B is away: bob is still known by name (read from the bucket).
    a.stop();
    a.restart();
    a.register("a1", "alice", &[], &[]);
    a.wait_for(60, "bob known after A's restart", || {
        a.get("/v1/peers?all=true")
            .1
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "bob")
    });
    for (to, body) in [
        ("bob", "dm while away"),
        ("*", "broadcast while away"),
        ("@ops", "group while away"),
    ] {
        let (s, v) = a.send(json!({"to": to, "body": body, "from_session": "a1"}));
        assert_eq!(s, 202, "{v}");
    }
    a.wait_for(60, "3 sends done", || a.outbox("done").len() == 3);
    b.restart();
    let got = wait_inbox(&b, "session=b1", 3);
    assert_eq!(
        bodies(&got),
        ["dm while away", "broadcast while away", "group while away"]
    );

    // The broker goes down: sends are accepted and stay pending, never dead.
    let mut a_events = Sse::connect(&a.socket, "", None);
    nats.kill();
    let down = a_events
        .next_of("broker_status", Duration::from_secs(10))
        .expect("broker_status");
    assert_eq!(down.data["state"], "disconnected");
    for i in 0..5 {
        let (s, v) =
            a.send(json!({"to": kb, "body": format!("during outage {i}"), "from_session": "a1"}));
        assert_eq!(s, 202, "{v}");
    }
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(a.outbox("pending").len(), 5, "{:?}", a.outbox(""));
    assert!(a.outbox("dead").is_empty());
    assert!(
        a.outbox("pending").iter().all(|r| r["attempts"] == 0),
        "an outage costs no attempts"
    );
    let (_, h) = a.get("/v1/health");
    assert_eq!(h["broker"], "disconnected");
    // An operator requeues one of them under a new id: the old row is retired, never sent.
    let old = a.outbox("pending")[4]["client_message_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, v) = a.post(
        "/v1/outbox/requeue",
        &json!({"id": old, "new_client_message_id": "requeued-4"}),
    );
    assert_eq!(s, 200, "{v}");
    nats.restart();
    std::iter::from_fn(|| a_events.next_of("broker_status", Duration::from_secs(15)))
        .find(|e| e.data["state"] == "connected")
        .expect("broker_status connected after the restart");
    let got = wait_inbox(&b, "session=b1", 8);
    let tail: Vec<String> = bodies(&got)[3..].to_vec();
    assert_eq!(
        tail,
        (0..5)
            .map(|i| format!("during outage {i}"))
            .collect::<Vec<_>>()
    );
    assert_eq!(got[7]["client_message_id"], "requeued-4");
    assert!(
        !got.iter().any(|i| i["client_message_id"] == old.as_str()),
        "the aborted row never left"
    );
    a.wait_for(60, "requeued row done", || {
        a.outbox("done")
            .iter()
            .any(|r| r["client_message_id"] == "requeued-4")
    });
    assert_eq!(a.outbox("aborted")[0]["superseded_by"], "requeued-4");
}

#[test]
fn forged_and_undecryptable_payloads_are_rejected() {
    let dir = tmp();
    let nats = Nats::start(dir.path());
    let a = member(dir.path(), &nats, "hosta", "s3cret");
    let b = member(dir.path(), &nats, "hostb", "s3cret");
    // A third member that does not know the mesh secret: its group messages cannot be opened.
    let c = member(dir.path(), &nats, "hostc", "wrong-secret");
    b.register("b1", "bob", &["ops"], &[]);
    c.register("c1", "carl", &[], &[]);
    let kb = b.key();
    b.wait_for(60, "B consuming", || {
        b.log_text().contains("receiving from the broker")
    });

    let (s, _) = c.send(json!({"to": "@ops", "body": "from a stranger"}));
    assert_eq!(s, 202);

    // Forged envelopes straight onto the stream: garbage, a bad signature, a claimed sender
    // whose key did not sign.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = async_nats::connect(nats.url()).await.unwrap();
        let js = async_nats::jetstream::new(client);
        let subject = format!("mesh.team.dm.{kb}");
        let forged_sig = json!({"v": 2, "ts": 1, "from": a.key(), "kind": "dm", "to": kb, "nonce": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "ct": "AAAA", "sig": "A".repeat(86) + "=="});
        for payload in [b"{not json".to_vec(), forged_sig.to_string().into_bytes()] {
            js.publish(subject.clone(), payload.into()).await.unwrap().await.unwrap();
        }
    });
    // A genuine message afterwards proves the consumer kept going.
    let (s, _) = a.send(json!({"to": kb, "body": "genuine"}));
    assert_eq!(s, 202);
    let got = wait_inbox(&b, "", 1);
    std::thread::sleep(Duration::from_millis(500));
    let all = b.inbox_all();
    assert_eq!(bodies(&all), ["genuine"], "nothing forged stored: {all:?}");
    assert_eq!(got[0]["body"], "genuine");
    let log = b.log_text();
    assert!(
        log.matches("rejected a broker message").count() >= 3,
        "{log}"
    );
    assert!(
        log.contains("cannot decrypt")
            && log.contains("bad signature")
            && log.contains("malformed"),
        "{log}"
    );
}

#[test]
fn too_large_for_the_broker_is_dead_at_once_and_blocks_nothing() {
    let dir = tmp();
    let nats = Nats::start_with(dir.path(), Some("max_payload: 8192\n"));
    let a = member(dir.path(), &nats, "hosta", "s3cret");
    let b = member(dir.path(), &nats, "hostb", "s3cret");
    let kb = b.key();
    b.register("b1", "bob", &[], &[]);
    // Within the daemon's 64 KiB limit, beyond this broker's max_payload.
    let (s, v) = a.send(json!({"to": kb, "body": "x".repeat(20_000), "client_message_id": "big"}));
    assert_eq!(s, 202, "{v}");
    let (s, _) = a.send(json!({"to": kb, "body": "small", "client_message_id": "small"}));
    assert_eq!(s, 202);
    let got = wait_inbox(&b, "session=b1", 1);
    assert_eq!(bodies(&got), ["small"]);
    let dead = a.outbox("dead");
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["client_message_id"], "big");
    assert_eq!(dead[0]["attempts"], 1, "permanent: no retries");
    assert!(
        dead[0]["last_error"]
            .as_str()
            .unwrap()
            .starts_with("too large"),
        "{dead:?}"
    );
    // The table's dead row answers with the reason.
    let (s, v) = a.send(json!({"to": kb, "body": "x".repeat(20_000), "client_message_id": "big"}));
    assert_eq!(
        (s, v["error"].as_str()),
        (409, Some("outbox_dead_fingerprint_match")),
        "{v}"
    );
    assert!(v["dead_reason"].as_str().unwrap().starts_with("too large"));
}
