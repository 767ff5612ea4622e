//! claude-meshd against a hostile broker client (issue 21): a raw NATS client with no mesh
//! key material forges presence records, a member claims another's name and session, a key
//! outside `[mesh] members` tries to take part, and saved envelopes are published again. DMs
//! still reach only their addressee, and every forgery is logged. Real nats-server, real
//! daemons.

#[path = "support/meshd.rs"]
mod meshd;
#[path = "support/nats.rs"]
mod nats;
#[path = "support/raw_nats.rs"]
mod raw_nats;

// The daemon's own sealing code, to sign an envelope with a member's real key and an old
// time (a message saved long ago and published again).
use claude_daemons::mesh::envelope as crypto;
use claude_daemons::mesh::keys as identity;
use meshd::Meshd;
use nats::Nats;
use raw_nats::Raw;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SECRET: &str = "s3cret";

fn tmp() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("cm")
        .tempdir_in("/tmp")
        .unwrap()
}

fn member(root: &Path, nats: &Nats, name: &str) -> Meshd {
    Meshd::member(root, &nats.url(), name, SECRET)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn bodies(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["body"].as_str().unwrap().to_string())
        .collect()
}

fn peers(m: &Meshd) -> Vec<Value> {
    m.get("/v1/peers?all=true").1.as_array().unwrap().clone()
}

fn wait_peer(m: &Meshd, key: &str, name: &str) {
    m.wait_for(20, &format!("{name} ({key}) in the peers"), || {
        peers(m)
            .iter()
            .any(|p| p["key"] == key && p["name"] == name && p["local"] == false)
    });
}

/// An unsigned presence record of the old format.
fn unsigned(key: &str, session: &str, name: &str) -> Vec<u8> {
    json!({"peer": {"key": key, "session_id": session, "name": name, "profile": {},
        "local": false, "online": true, "last_seen_at": "2026-01-01T00:00:00.000Z"},
        "heartbeat_ms": now_ms()})
    .to_string()
    .into_bytes()
}

/// The daemon's exit status; it must exit on its own within 20 s.
fn exit_status(m: &mut Meshd) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(s) = m.child.as_mut().unwrap().try_wait().unwrap() {
            return s;
        }
        if std::time::Instant::now() > deadline {
            m.kill9();
            panic!("claude-meshd did not refuse to start:\n{}", m.log_text());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Send `marker` to member `to` and wait until it arrives: its consumer has then processed
/// everything published before.
fn barrier(from: &Meshd, to: &Meshd, marker: &str) {
    let (s, v) = from.send(json!({"to": to.key(), "body": marker}));
    assert_eq!(s, 202, "{v}");
    to.wait_for(20, marker, || {
        to.inbox_all().iter().any(|i| i["body"] == marker)
    });
}

#[test]
fn forged_presence_is_dropped_and_dms_reach_only_their_addressee() {
    let dir = tmp();
    let nats = Nats::start(dir.path());
    let alice = member(dir.path(), &nats, "hosta");
    let attacker = member(dir.path(), &nats, "hostx");
    let carol = member(dir.path(), &nats, "hostc");
    let (ka, kx) = (alice.key(), attacker.key());
    alice.register("a1", "alice", &[], &[]);
    attacker.register("x1", "xavier", &[], &[]);
    carol.register("c1", "carol", &[], &[]);
    wait_peer(&carol, &ka, "alice");
    wait_peer(&carol, &kx, "xavier");

    // The attacker re-writes its forgeries faster than the heartbeat, all through the sends.
    let raw = Raw::connect(&nats);
    let victim_slot = format!("{ka}.{}", hex("a1"));
    let forgeries = vec![
        // The victim's session renamed, in its own slot.
        (victim_slot.clone(), unsigned(&ka, "a1", "renamed")),
        // A record named "alice" pointing at the attacker's member key.
        (
            format!("{kx}.{}", hex("evil")),
            unsigned(&kx, "evil", "alice"),
        ),
        // An empty peer.key, which every bucket key used to start with.
        (format!("{ka}.{}", hex("zz")), unsigned("", "zz", "alice")),
        // The signed format with a signature that is not the key's.
        (
            format!("{kx}.{}", hex("evil2")),
            json!({"v": 2, "sig": "A".repeat(86) + "==", "data": String::from_utf8(
                unsigned(&kx, "evil2", "alice")).unwrap()})
            .to_string()
            .into_bytes(),
        ),
    ];
    let stop = Arc::new(AtomicBool::new(false));
    let rewriter = {
        let stop = stop.clone();
        let url = nats.url();
        let forgeries = forgeries.clone();
        std::thread::spawn(move || {
            let nats_url = url;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let js = async_nats::jetstream::new(async_nats::connect(nats_url).await.unwrap());
                let kv = js.get_key_value("mesh_team_presence").await.unwrap();
                while !stop.load(Ordering::Relaxed) {
                    for (k, v) in &forgeries {
                        kv.put(k, v.clone().into()).await.unwrap();
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            });
        })
    };
    for (k, v) in &forgeries {
        raw.put(k, v.clone());
    }
    carol.wait_for(20, "every forgery logged", || {
        let log = carol.log_text();
        forgeries.iter().all(|(k, _)| {
            log.lines()
                .any(|l| l.contains("dropped a presence record") && l.contains(k.as_str()))
        })
    });

    // Carol's view: one alice, the real one; nothing of the forgeries.
    let listed = peers(&carol);
    let alices: Vec<&Value> = listed.iter().filter(|p| p["name"] == "alice").collect();
    assert_eq!(alices.len(), 1, "{listed:?}");
    assert_eq!(
        (&alices[0]["key"], &alices[0]["session_id"]),
        (&json!(ka), &json!("a1"))
    );
    assert!(
        !listed
            .iter()
            .any(|p| p["key"] == "" || p["name"] == "renamed" || p["session_id"] == "evil"),
        "{listed:?}"
    );

    for i in 0..3 {
        let (s, v) = carol.send(json!({"to": "alice", "from_session": "c1",
            "body": format!("the prod db password is hunter2 ({i})")}));
        assert_eq!(s, 202, "{v}");
    }
    let (s, v) = carol.send(json!({"to": "session:a1", "from_session": "c1",
        "body": "the prod db password is hunter2 (session)"}));
    assert_eq!(s, 202, "{v}");
    alice.wait_for(20, "the four DMs at alice", || {
        alice.inbox("session=a1").len() == 4
    });
    stop.store(true, Ordering::Relaxed);
    rewriter.join().unwrap();

    barrier(&carol, &attacker, "marker for the attacker");
    assert_eq!(
        bodies(&attacker.inbox_all()),
        ["marker for the attacker"],
        "the attacker's daemon read nothing of carol's DMs"
    );
    assert!(
        !nats.store_contains(b"hunter2"),
        "no plaintext on the broker"
    );
}

#[test]
fn a_name_and_a_session_stay_with_their_first_key() {
    let dir = tmp();
    let nats = Nats::start(dir.path());
    let mut alice = member(dir.path(), &nats, "hosta");
    let attacker = member(dir.path(), &nats, "hostx");
    let mut carol = member(dir.path(), &nats, "hostc");
    let (ka, kx) = (alice.key(), attacker.key());
    alice.register("a1", "alice", &[], &[]);
    wait_peer(&carol, &ka, "alice");
    alice.wait_for(20, "alice consuming", || {
        alice.log_text().contains("receiving from the broker")
    });

    // Alice is away, the attacker deletes her record, carol restarts: her record is gone
    // from the bucket and from carol's memory.
    alice.stop();
    Raw::connect(&nats).delete(&format!("{ka}.{}", hex("a1")));
    carol.stop();
    carol.restart();
    // A genuine member (with a key, signing its records) claims both her name and session.
    attacker.register("a1", "alice", &[], &[]);
    wait_peer(&carol, &kx, "alice");

    let (s, v) = carol.send(json!({"to": "alice", "body": "for alice by name"}));
    assert_eq!(
        (s, v["error"].as_str()),
        (409, Some("ambiguous_destination")),
        "{v}"
    );
    let c: Vec<&str> = v["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(
        c.contains(&format!("{kx}/a1").as_str()) && c.contains(&ka.as_str()),
        "both candidates: {v}"
    );
    let log = carol.log_text();
    assert!(
        log.contains("claimed by another") && log.contains(&kx),
        "the claim is logged:\n{log}"
    );

    // session:a1 still means alice's session: sealed to her key, read by her alone.
    let (s, v) = carol.send(json!({"to": "session:a1", "body": "for alice's session"}));
    assert_eq!(s, 202, "{v}");
    barrier(&carol, &attacker, "marker for the attacker");
    assert_eq!(
        bodies(&attacker.inbox_all()),
        ["marker for the attacker"],
        "nothing for alice reached the attacker"
    );
    alice.restart();
    alice.wait_for(20, "alice's DM after her return", || {
        bodies(&alice.inbox_all()).contains(&"for alice's session".to_string())
    });
}

#[test]
fn members_outside_the_allow_list_are_neither_peers_nor_heard() {
    let dir = tmp();
    let nats = Nats::start(dir.path());
    let alice = member(dir.path(), &nats, "hosta");
    let outsider = member(dir.path(), &nats, "hostx");
    let mut carol = member(dir.path(), &nats, "hostc");
    let (ka, kx, kc) = (alice.key(), outsider.key(), carol.key());
    carol.stop();
    carol
        .env
        .push(("CLAUDE_DAEMONS_MESH_MEMBERS".into(), format!("{ka}, {kc}")));
    carol.restart();
    carol.register("c1", "carol", &[], &[]);
    outsider.register("x1", "xavier", &[], &[]);
    alice.register("a1", "alice", &[], &[]);
    wait_peer(&carol, &ka, "alice");
    carol.wait_for(20, "the outsider's record refused", || {
        carol.log_text().contains("outside [mesh] members")
    });
    assert!(
        !peers(&carol).iter().any(|p| p["key"] == kx.as_str()),
        "{:?}",
        peers(&carol)
    );

    // The outsider's DM is refused; a member's, published after it, arrives.
    let (s, v) = outsider.send(json!({"to": kc, "body": "from the outsider"}));
    assert_eq!(s, 202, "{v}");
    outsider.wait_for(20, "the outsider's send published", || {
        outsider.outbox("done").len() == 1
    });
    barrier(&alice, &carol, "from a member");
    assert_eq!(bodies(&carol.inbox_all()), ["from a member"]);
    assert!(
        carol.log_text().contains("is not a member of this mesh"),
        "{}",
        carol.log_text()
    );

    // Nor can carol send to it.
    let (s, v) = carol.send(json!({"to": kx, "body": "to the outsider"}));
    assert_eq!((s, v["error"].as_str()), (403, Some("not_a_member")), "{v}");
    let (s, v) = carol.send(json!({"to": "xavier", "body": "to the outsider"}));
    assert_eq!(s, 404, "{v}");

    // A malformed key on the list is a configuration error naming the key.
    carol.stop();
    carol
        .env
        .push(("CLAUDE_DAEMONS_MESH_MEMBERS".into(), "not-a-key".into()));
    carol.spawn();
    let status = exit_status(&mut carol);
    assert_eq!(status.code(), Some(78), "{}", carol.log_text());
    assert!(carol.log_text().contains("[mesh] members"));
}

#[test]
fn replayed_old_and_escaping_envelopes_are_refused_after_the_inbox_is_pruned() {
    let dir = tmp();
    let nats = Nats::start(dir.path());
    let alice = member(dir.path(), &nats, "hosta");
    let mut bob = member(dir.path(), &nats, "hostb");
    let kb = bob.key();
    bob.register("b1", "bob", &[], &[]);
    wait_peer(&alice, &kb, "bob");
    let (s, v) = alice.send(json!({"to": "bob", "body": "pay 100", "client_message_id": "pay-1"}));
    assert_eq!(s, 202, "{v}");
    bob.wait_for(20, "the payment", || bob.inbox("session=b1").len() == 1);
    let seq = bob.inbox("session=b1")[0]["broker_message_id"]
        .as_u64()
        .unwrap();

    // The broker operator saved the envelope; bob's inbox is pruned (the 30 days passed).
    let raw = Raw::connect(&nats);
    let saved = raw.stream_payload(seq);
    bob.stop();
    bob.sql("DELETE FROM inbox");
    bob.restart();
    raw.publish(format!("mesh.team.dm.{kb}"), saved);

    // An envelope genuinely signed by alice, but 9 days ago: past the replay window.
    let seed: [u8; 32] = std::fs::read(alice.state.join("mesh-identity.key"))
        .unwrap()
        .try_into()
        .unwrap();
    let id = identity::Identity::from_seed(seed);
    let inner = crypto::Inner {
        client_message_id: "pay-old".into(),
        from_name: "alice".into(),
        from_session: None,
        body: "pay 100 again".into(),
        priority: Default::default(),
        reply_to: None,
        meta: None,
        created_at: "2026-01-01T00:00:00.000Z".into(),
    };
    let old = crypto::seal(
        &id,
        &crypto::Boxes::default(),
        &crypto::mesh_key("team", SECRET),
        "dm",
        &format!("{kb}/b1"),
        &inner,
        now_ms() - 9 * 86_400_000,
    )
    .unwrap();
    raw.publish(
        format!("mesh.team.dm.{kb}"),
        serde_json::to_vec(&old).unwrap(),
    );

    // Fresh and signed, but with a sender name that would drive the operator's terminal.
    let escapes = crypto::Inner {
        client_message_id: "esc-1".into(),
        from_name: "\u{1b}]0;owned\u{7}\u{1b}[2J".into(),
        body: "escapes".into(),
        ..inner
    };
    let esc = crypto::seal(
        &id,
        &crypto::Boxes::default(),
        &crypto::mesh_key("team", SECRET),
        "dm",
        &format!("{kb}/b1"),
        &escapes,
        now_ms(),
    )
    .unwrap();
    raw.publish(
        format!("mesh.team.dm.{kb}"),
        serde_json::to_vec(&esc).unwrap(),
    );

    barrier(&alice, &bob, "after the replays");
    assert_eq!(bodies(&bob.inbox_all()), ["after the replays"]);
    let log = bob.log_text();
    assert!(log.contains("already received"), "{log}");
    assert!(log.contains("too old"), "{log}");
    assert!(log.contains("from_name: name must be"), "{log}");
}

#[test]
fn broker_mode_without_a_mesh_secret_refuses_to_start() {
    let dir = tmp();
    let nats = Nats::start(dir.path());
    let url = nats.url();
    let mut m = Meshd::configure(
        &dir.path().join("m"),
        &[("CLAUDE_DAEMONS_MESH_BROKER_URL", url.as_str())],
    );
    m.spawn();
    let status = exit_status(&mut m);
    assert_eq!(status.code(), Some(78), "{}", m.log_text());
    assert!(
        m.log_text().contains("[mesh] mesh_secret is required"),
        "{}",
        m.log_text()
    );
}
