//! Grouped envelopes (many DMs under one signature) through a real nats-server between real
//! daemons: a tampered group or one with a single bad message stores nothing of it and is
//! counted; a message already received is dropped however it is grouped again; and a
//! member whose daemon does not announce groups (an older version) gets one message per
//! envelope while one that does gets them grouped.

#[path = "support/meshd.rs"]
mod meshd;
#[path = "support/nats.rs"]
mod nats;
#[path = "support/raw_nats.rs"]
mod raw_nats;

// The daemon's own sealing code, to sign groups with a member's real key.
use claude_daemons::mesh::envelope as crypto;
use claude_daemons::mesh::keys::Identity;
use claude_daemons::mesh::presence_record;
use meshd::Meshd;
use nats::Nats;
use raw_nats::Raw;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

const SECRET: &str = "s3cret";

fn tmp() -> tempfile::TempDir {
    meshd::scratch::kept(
        tempfile::Builder::new()
            .prefix("cm")
            .tempdir_in("/tmp")
            .unwrap(),
    )
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn member(root: &Path, nats: &Nats, name: &str) -> Meshd {
    Meshd::member(root, &nats.url(), name, SECRET)
}

/// Wait until `m` lists member `key` with `grouped` as given.
fn wait_member(m: &Meshd, key: &str, grouped: bool) {
    m.wait_for(20, &format!("member {key} (grouped: {grouped})"), || {
        let (_, v) = m.get("/v1/members");
        v.as_array().unwrap().iter().any(|x| {
            x["key"] == key && x.get("grouped").and_then(Value::as_bool).unwrap_or(false) == grouped
        })
    });
}

fn identity(m: &Meshd) -> Identity {
    let seed: [u8; 32] = std::fs::read(m.state.join("mesh-identity.key"))
        .unwrap()
        .try_into()
        .unwrap();
    Identity::from_seed(seed)
}

fn inner(id: &str, from_name: &str) -> crypto::Inner {
    crypto::Inner {
        client_message_id: id.into(),
        from_name: from_name.into(),
        from_session: None,
        body: id.into(),
        priority: Default::default(),
        reply_to: None,
        meta: None,
        created_at: "2026-01-01T00:00:00.000Z".into(),
    }
}

fn bodies(m: &Meshd) -> Vec<String> {
    m.inbox_all()
        .iter()
        .map(|i| i["body"].as_str().unwrap().to_string())
        .collect()
}

fn rejected(m: &Meshd) -> u64 {
    let (s, h) = m.get("/v1/health");
    assert_eq!(s, 200, "{h}");
    h["rejected"]
        .as_u64()
        .unwrap_or_else(|| panic!("no rejected count: {h}"))
}

/// Send `marker` from `from` to `to` and wait until it arrives: `to`'s consumer has then
/// processed everything published before.
fn barrier(from: &Meshd, to: &Meshd, marker: &str) {
    let (s, v) = from.send(json!({"to": to.key(), "body": marker}));
    assert_eq!(s, 202, "{v}");
    to.wait_for(20, marker, || bodies(to).iter().any(|b| b == marker));
}

/// nats-server and two members, alice and bob, alice seeing bob announce groups.
fn alice_and_bob() -> (tempfile::TempDir, Nats, Meshd, Meshd) {
    let dir = tmp();
    let nats = Nats::start(dir.path());
    let alice = member(dir.path(), &nats, "hosta");
    let bob = member(dir.path(), &nats, "hostb");
    wait_member(&alice, &bob.key(), true);
    (dir, nats, alice, bob)
}

#[test]
fn tampered_or_partly_bad_groups_store_nothing_and_are_counted() {
    let (_dir, nats, alice, bob) = alice_and_bob();
    let kb = bob.key();
    let raw = Raw::connect(&nats);
    let id = identity(&alice);
    let subject = format!("mesh.team.dm.{kb}");
    let group = |ids: &[&str]| {
        let inners: Vec<_> = ids.iter().map(|i| inner(i, "alice")).collect();
        crypto::seal_group(&id, &crypto::Boxes::default(), &kb, &inners, now_ms()).unwrap()
    };

    // A genuine group: its messages arrive, in order.
    raw.publish(
        subject.clone(),
        serde_json::to_vec(&group(&["g1", "g2", "g3"])).unwrap(),
    );
    bob.wait_for(20, "the group", || bodies(&bob).len() == 3);
    assert_eq!(bodies(&bob), ["g1", "g2", "g3"]);
    assert_eq!(rejected(&bob), 0);

    // Its count raised by one after signing: the signature fails.
    let mut more = group(&["t1", "t2"]);
    more.items = Some(3);
    raw.publish(subject.clone(), serde_json::to_vec(&more).unwrap());
    // The box of another group under this one's signature.
    let mut swapped = group(&["t3", "t4"]);
    swapped.ct = group(&["t5", "t6"]).ct;
    raw.publish(subject.clone(), serde_json::to_vec(&swapped).unwrap());
    // Signed as a group, passed off as a single message.
    let mut single = group(&["t7", "t8"]);
    single.items = None;
    raw.publish(subject.clone(), serde_json::to_vec(&single).unwrap());
    // Genuinely signed, but its second message's sender name would drive a terminal: none
    // of the group is stored, not even its first, good message.
    let mut bad = vec![inner("p1", "alice"), inner("p2", "\u{1b}]0;owned\u{7}")];
    bad.push(inner("p3", "alice"));
    let partly = crypto::seal_group(&id, &crypto::Boxes::default(), &kb, &bad, now_ms()).unwrap();
    raw.publish(subject.clone(), serde_json::to_vec(&partly).unwrap());
    // Regrouped with messages already received (as a retry may do): only the new one.
    raw.publish(
        subject.clone(),
        serde_json::to_vec(&group(&["g2", "g3", "g4"])).unwrap(),
    );

    barrier(&alice, &bob, "after the forgeries");
    assert_eq!(
        bodies(&bob),
        ["g1", "g2", "g3", "g4", "after the forgeries"],
        "nothing of a refused group is stored"
    );
    assert_eq!(rejected(&bob), 4, "{}", bob.log_text());
    let log = bob.log_text();
    assert!(log.contains("bad signature"), "{log}");
    assert!(log.contains("from_name: name must be"), "{log}");
    assert!(log.contains("already received"), "{log}");
}

#[test]
fn a_member_that_does_not_announce_groups_gets_one_message_per_envelope() {
    let (_dir, nats, alice, bob) = alice_and_bob();
    let kb = bob.key();

    // "carol" runs the previous version: her member record (signed by her key) has no
    // `grouped`. Her daemon is not running; the stream keeps her messages.
    let carol = Identity::from_seed([7; 32]);
    let kc = carol.public_hex().to_string();
    let record = claude_daemons::api::mesh::Member {
        key: kc.clone(),
        name: "carol".into(),
        hostname: Some("old".into()),
        local: false,
        online: true,
        last_seen_at: "2026-01-01T00:00:00.000Z".into(),
        sessions: vec![],
        grouped: false,
    };
    let signed = presence_record::sign_member(&carol, "team", &record, now_ms());
    assert!(!String::from_utf8_lossy(&signed).contains("grouped"));
    let raw = Raw::connect(&nats);
    raw.put(&presence_record::member_kv_key(&kc), signed);
    wait_member(&alice, &kc, false);

    // One batch to each: the outbox holds both runs at once.
    for (to, tag) in [(&kc, "c"), (&kb, "b")] {
        let items: Vec<Value> = (0..40)
            .map(|i| json!({"to": to, "body": format!("{tag}{i}"), "client_message_id": format!("{tag}{i}")}))
            .collect();
        let (s, v) = alice.post("/v1/send", &json!(items));
        assert_eq!(s, 200, "{v}");
    }
    alice.wait_for(30, "all published", || {
        alice.outbox("pending,inflight").is_empty()
    });
    assert!(alice.outbox("dead").is_empty());

    // Carol's: 40 envelopes of the form her daemon reads, in order.
    let to_carol = raw.payloads(&format!("mesh.team.dm.{kc}"));
    let opened: Vec<String> = to_carol
        .iter()
        .map(|p| {
            let v: Value = serde_json::from_slice(p).unwrap();
            assert!(v.get("items").is_none(), "a group for an older daemon: {v}");
            let (_, inners) = crypto::open(&carol, &crypto::Boxes::default(), &[0; 32], p).unwrap();
            assert_eq!(inners.len(), 1);
            inners[0].body.clone()
        })
        .collect();
    let want: Vec<String> = (0..40).map(|i| format!("c{i}")).collect();
    assert_eq!(opened, want);

    // Bob's, grouped: fewer envelopes than messages, and all 40 arrive once, in order.
    let to_bob = raw.payloads(&format!("mesh.team.dm.{kb}"));
    assert!(
        to_bob.len() < 40,
        "{} envelopes for 40 messages to a member that takes groups",
        to_bob.len()
    );
    bob.wait_for(20, "bob's 40", || bodies(&bob).len() == 40);
    let want: Vec<String> = (0..40).map(|i| format!("b{i}")).collect();
    assert_eq!(bodies(&bob), want);
}
