//! claude-meshd in local mode (no broker): sessions of one daemon message each other. Every
//! row of the idempotency table, validation that consumes nothing, inbox filters, SSE with
//! per-session filtering and Last-Event-ID replay, the hook endpoints.

#[path = "support/meshd.rs"]
mod meshd;

use meshd::{Meshd, Sse};
use serde_json::{json, Value};
use std::time::Duration;

fn tmp() -> tempfile::TempDir {
    meshd::scratch::kept(
        tempfile::Builder::new()
            .prefix("cm")
            .tempdir_in("/tmp")
            .unwrap(),
    )
}

fn three_sessions(m: &Meshd) {
    m.register("sess-a", "alice", &["ops"], &[]);
    m.register("sess-b", "bob", &["ops"], &["news"]);
    m.register("sess-c", "carol", &[], &[]);
}

fn done(m: &Meshd, cmid: &str) -> Value {
    let mut row = Value::Null;
    m.wait_for(10, &format!("{cmid} done"), || {
        row = m
            .outbox("done")
            .into_iter()
            .find(|r| r["client_message_id"] == cmid)
            .unwrap_or(Value::Null);
        !row.is_null()
    });
    row
}

#[test]
fn identity_peers_profile_and_status() {
    let dir = tmp();
    let m = Meshd::start(dir.path(), &[("CLAUDE_DAEMONS_MESH_DISPLAY_NAME", "box1")]);
    use std::os::unix::fs::PermissionsExt;
    let key = std::fs::metadata(m.state.join("mesh-identity.key")).unwrap();
    assert_eq!(key.permissions().mode() & 0o777, 0o600);
    assert_eq!(key.len(), 32);
    assert!(m.state.join("host-fingerprint.json").exists());
    let me = m.key();
    assert_eq!(me.len(), 64);

    let p = m.register("sess-a", "alice", &["@ops"], &["#news"]);
    assert_eq!(p["key"], me.as_str());
    assert_eq!(p["groups"], json!(["ops"]));
    assert_eq!(p["topics"], json!(["news"]));
    let (s, v) = m.post("/v1/peers", &json!({"session_id": "sess-d"}));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["name"], "box1-sess-d", "default name from display name");
    let (s, v) = m.post("/v1/peers", &json!({"session_id": "bad id"}));
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_peer")), "{v}");
    // Terminal escapes never get in: not in a name, a host name or a profile field.
    for bad in [
        json!({"session_id": "sess-e", "name": "\u{1b}]0;owned\u{7}\u{1b}[2J"}),
        json!({"session_id": "sess-e", "hostname": "h\u{1b}[31m"}),
        json!({"session_id": "sess-e", "name": "x".repeat(65)}),
    ] {
        let (s, v) = m.post("/v1/peers", &bad);
        assert_eq!(
            (s, v["error"].as_str()),
            (400, Some("invalid_peer")),
            "{bad} {v}"
        );
    }
    let (s, v) = m.post(
        "/v1/profile",
        &json!({"session_id": "sess-a", "title": "\u{1b}[2Jowned"}),
    );
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("invalid_profile")),
        "{v}"
    );
    let (s, peers) = m.get("/v1/peers");
    assert_eq!(s, 200);
    assert_eq!(peers.as_array().unwrap().len(), 2, "{peers}");

    let (s, v) = m.post(
        "/v1/profile",
        &json!({"session_id": "sess-a", "summary": "refactoring", "capabilities": ["rust"]}),
    );
    assert_eq!(s, 200, "{v}");
    let (_, prof) = m.get("/v1/profile?session=sess-a");
    assert_eq!(prof["summary"], "refactoring");
    assert_eq!(prof["status"], "idle");
    let (s, v) = m.post("/v1/sessions/sess-a/status", &json!({"status": "working"}));
    assert_eq!((s, &v["status"]), (200, &json!("working")), "{v}");
    let (s, _) = m.post("/v1/sessions/nope/status", &json!({"status": "idle"}));
    assert_eq!(s, 404);

    let mut sse = Sse::connect(&m.socket, "", None);
    let (s, _) = m.delete("/v1/peers/sess-d");
    assert_eq!(s, 200);
    let e = sse
        .next_of("peer_leave", Duration::from_secs(5))
        .expect("peer_leave");
    assert_eq!(e.data["session_id"], "sess-d");
    assert!(
        sse.comments.iter().any(|c| c == "connected"),
        "{:?}",
        sse.comments
    );
    drop(sse);

    // Sessions not seen for 30 days are forgotten at the next start; the others stay.
    let sessions = |m: &Meshd| -> Vec<String> {
        let (_, all) = m.get("/v1/peers?all=true");
        let mut ids: Vec<String> = all
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["session_id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    };
    // A running session that has been quiet as long is kept (this test process stands in).
    let (s, v) = m.post(
        "/v1/peers",
        &json!({"session_id": "sess-quiet", "pid": std::process::id()}),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(sessions(&m), ["sess-a", "sess-d", "sess-quiet"]);
    let mut m = m;
    m.stop();
    m.sql("UPDATE sessions SET last_seen_at = '2000-01-01T00:00:00.000Z' WHERE session_id IN ('sess-d', 'sess-quiet')");
    m.restart();
    assert_eq!(sessions(&m), ["sess-a", "sess-quiet"]);
    assert!(
        m.log_text().contains("forgot sessions gone for 30 days"),
        "{}",
        m.log_text()
    );
}

#[test]
fn every_row_of_the_idempotency_table() {
    let dir = tmp();
    let m = Meshd::start(dir.path(), &[]);
    three_sessions(&m);
    let base = json!({"to": "bob", "body": "hello", "from_session": "sess-a", "meta": {"b": 1, "a": [1, 2]}});
    let with = |cmid: &str, patch: Value| {
        let mut b = base.clone();
        b["client_message_id"] = cmid.into();
        for (k, v) in patch.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };

    // none → insert pending, 202 queued.
    let (s, v) = m.send(with("k1", json!({})));
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["status"], "queued");
    assert_eq!(v["duplicate"], false);
    let row = done(&m, "k1");
    let history = v["history_id"].as_i64().unwrap();
    assert_eq!(row["id"].as_i64(), Some(history));

    // done + same (the same request written differently: `session:` form, meta reordered)
    // → 200 duplicate with broker_message_id and history_id, and no second message.
    let (s, v) = m.send(with(
        "k1",
        json!({"to": "session:sess-b", "meta": {"a": [1, 2], "b": 1.0}}),
    ));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["duplicate"], true);
    assert_eq!(v["history_id"].as_i64(), Some(history));
    assert_eq!(v["broker_message_id"], row["broker_message_id"]);
    assert!(v["broker_message_id"].as_i64().is_some(), "{v}");
    let fp = row["fingerprint"].as_str().unwrap().to_string();
    assert_eq!(fp.len(), 16, "first 8 bytes in hex");

    // done + different → 409 with broker_message_id.
    let (s, v) = m.send(with("k1", json!({"body": "changed"})));
    assert_eq!(
        (s, v["error"].as_str()),
        (409, Some("outbox_done_fingerprint_mismatch")),
        "{v}"
    );
    assert_eq!(v["fingerprint"], fp.as_str());
    assert_eq!(v["broker_message_id"], row["broker_message_id"]);
    // Priority and the resolved destination are part of the fingerprint too.
    let (s, _) = m.send(with("k1", json!({"priority": "now"})));
    assert_eq!(s, 409);
    let (s, _) = m.send(with("k1", json!({"to": "carol"})));
    assert_eq!(s, 409);
    assert_eq!(m.inbox("session=sess-b").len(), 1, "exactly one message");

    // pending (parked in the future so the drain leaves it) + same / different.
    let (s, _) = m.send(with("k2", json!({})));
    assert_eq!(s, 202);
    done(&m, "k2");
    m.sql("UPDATE outbox SET state = 'pending', body = 'hello', next_attempt_ms = 9000000000000 WHERE client_message_id = 'k2'");
    let (s, v) = m.send(with("k2", json!({})));
    assert_eq!(
        (s, &v["status"], &v["duplicate"]),
        (202, &json!("queued"), &json!(true)),
        "{v}"
    );
    let (s, v) = m.send(with("k2", json!({"body": "other"})));
    assert_eq!(
        (s, v["error"].as_str()),
        (409, Some("outbox_pending_fingerprint_mismatch")),
        "{v}"
    );
    assert_eq!(v["fingerprint"].as_str().unwrap().len(), 16);

    // inflight + same / different.
    m.sql("UPDATE outbox SET state = 'inflight' WHERE client_message_id = 'k2'");
    let (s, v) = m.send(with("k2", json!({})));
    assert_eq!((s, &v["status"]), (202, &json!("inflight")), "{v}");
    let (s, v) = m.send(with("k2", json!({"body": "other"})));
    assert_eq!(
        (s, v["error"].as_str()),
        (409, Some("outbox_inflight_fingerprint_mismatch")),
        "{v}"
    );

    // dead + same (with the reason) / different.
    m.sql("UPDATE outbox SET state = 'dead', last_error = 'too large: 2 MB' WHERE client_message_id = 'k2'");
    let (s, v) = m.send(with("k2", json!({})));
    assert_eq!(
        (s, v["error"].as_str()),
        (409, Some("outbox_dead_fingerprint_match")),
        "{v}"
    );
    assert_eq!(v["dead_reason"], "too large: 2 MB");
    assert!(v["reason"].as_str().unwrap().contains("too large: 2 MB"));
    let (s, v) = m.send(with("k2", json!({"body": "other"})));
    assert_eq!(
        (s, v["error"].as_str()),
        (409, Some("outbox_dead_fingerprint_mismatch")),
        "{v}"
    );

    // Requeue the dead row: aborted + a new pending row with a new id, delivered.
    let (s, v) = m.post(
        "/v1/outbox/requeue",
        &json!({"id": "k2", "new_client_message_id": "k2-again"}),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["aborted"], "k2");
    done(&m, "k2-again");
    let aborted = m.outbox("aborted");
    assert_eq!(aborted.len(), 1);
    assert_eq!(aborted[0]["superseded_by"], "k2-again");
    assert_eq!(aborted[0]["aborted_by"], "api");
    assert!(aborted[0]["aborted_at"].is_string());
    assert!(m
        .inbox("session=sess-b")
        .iter()
        .any(|i| i["client_message_id"] == "k2-again" && i["body"] == "hello"));

    // aborted + same / different.
    let (s, v) = m.send(with("k2", json!({})));
    assert_eq!(
        (s, v["error"].as_str()),
        (409, Some("outbox_aborted_fingerprint_match")),
        "{v}"
    );
    let (s, v) = m.send(with("k2", json!({"body": "other"})));
    assert_eq!(
        (s, v["error"].as_str()),
        (409, Some("outbox_aborted_fingerprint_mismatch")),
        "{v}"
    );

    // Requeue refusals: done rows, taken ids, unknown rows.
    let (s, v) = m.post("/v1/outbox/requeue", &json!({"id": "k1"}));
    assert_eq!(
        (s, v["error"].as_str()),
        (409, Some("outbox_requeue_not_allowed")),
        "{v}"
    );
    m.sql("UPDATE outbox SET state = 'dead', body = 'x' WHERE client_message_id = 'k1'");
    let (s, v) = m.post(
        "/v1/outbox/requeue",
        &json!({"id": "k1", "new_client_message_id": "k2"}),
    );
    assert_eq!(
        (s, v["error"].as_str()),
        (409, Some("client_message_id_in_use")),
        "{v}"
    );
    let (s, _) = m.post("/v1/outbox/requeue", &json!({"id": "nope"}));
    assert_eq!(s, 404);

    // The header wins over the body field.
    let (s, v) = m.post_raw(
        "/v1/send",
        &[("Idempotency-Key", "from-header")],
        with("from-body", json!({})).to_string().as_bytes(),
    );
    assert_eq!(
        (s, v["client_message_id"].as_str()),
        (202, Some("from-header")),
        "{v}"
    );
    // No id at all: a fresh ULID.
    let (s, v) = m.send(json!({"to": "bob", "body": "x"}));
    assert_eq!(s, 202);
    assert_eq!(v["client_message_id"].as_str().unwrap().len(), 26);

    // Outbox listing filters.
    let (s, v) = m.get("/v1/outbox?state=bogus");
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_query")));
    assert!(m.outbox("dead,aborted").len() >= 2);
}

#[test]
fn bad_input_consumes_nothing() {
    let dir = tmp();
    let m = Meshd::start(dir.path(), &[]);
    three_sessions(&m);
    let big = "x".repeat(64 * 1024 + 1);
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (
            json!({"to": "bob", "body": big, "client_message_id": "b1"})
                .to_string()
                .into_bytes(),
            413,
            "body_too_large",
        ),
        (
            b"{\"to\": \"bob\", \"body\": \"\xff\xfe\", \"client_message_id\": \"b1\"}".to_vec(),
            400,
            "invalid_utf8",
        ),
        (b"{not json".to_vec(), 400, "invalid_body"),
        (
            json!({"body": "no to"}).to_string().into_bytes(),
            400,
            "invalid_body",
        ),
        (
            json!({"to": "nobody", "body": "x", "client_message_id": "b1"})
                .to_string()
                .into_bytes(),
            404,
            "unknown_destination",
        ),
        (
            json!({"to": "deadbeefdeadbeef", "body": "x", "client_message_id": "b1"})
                .to_string()
                .into_bytes(),
            404,
            "unknown_destination",
        ),
        (
            json!({"to": "@bad.name", "body": "x", "client_message_id": "b1"})
                .to_string()
                .into_bytes(),
            400,
            "invalid_destination",
        ),
        (
            json!({"to": "bob", "body": "x", "client_message_id": "has space"})
                .to_string()
                .into_bytes(),
            400,
            "invalid_client_message_id",
        ),
        (
            json!({"to": "bob", "body": "x", "priority": "urgent"})
                .to_string()
                .into_bytes(),
            400,
            "invalid_body",
        ),
        (
            json!({"to": "bob", "body": "x", "from_session": "ghost", "client_message_id": "b1"})
                .to_string()
                .into_bytes(),
            400,
            "unknown_session",
        ),
        (
            json!({"to": "bob", "body": "", "client_message_id": "b1"})
                .to_string()
                .into_bytes(),
            400,
            "empty_body",
        ),
        (vec![b' '; 300 * 1024], 413, "request_too_large"),
    ];
    for (body, status, error) in cases {
        let (s, v) = m.post_raw("/v1/send", &[], &body);
        assert_eq!((s, v["error"].as_str()), (status, Some(error)), "{v}");
        assert!(v["reason"].as_str().is_some_and(|r| !r.is_empty()), "{v}");
    }
    let (s, _) = m.get("/v1/inbox?limit=1001");
    assert_eq!(s, 400);
    assert!(m.outbox("").is_empty(), "nothing stored");
    assert!(m.inbox_all().is_empty());
    // The refused id is still free, and the daemon still serves.
    let (s, v) = m.send(json!({"to": "bob", "body": "fine", "client_message_id": "b1"}));
    assert_eq!((s, &v["duplicate"]), (202, &json!(false)), "{v}");
    // Ambiguous names are refused with the candidates.
    m.register("sess-e", "bob", &[], &[]);
    let (s, v) = m.send(json!({"to": "bob", "body": "x"}));
    assert_eq!(
        (s, v["error"].as_str()),
        (409, Some("ambiguous_destination")),
        "{v}"
    );
    assert_eq!(v["candidates"].as_array().unwrap().len(), 2);
}

#[test]
fn inbox_sse_filtering_replay_and_hook_context() {
    let dir = tmp();
    let m = Meshd::start(dir.path(), &[]);
    three_sessions(&m);
    let mut bob = Sse::connect(&m.socket, "session=sess-b", None);
    let send = |to: &str, body: &str, prio: &str| {
        let (s, v) =
            m.send(json!({"to": to, "body": body, "from_session": "sess-a", "priority": prio}));
        assert_eq!(s, 202, "{v}");
    };
    send("bob", "dm to bob", "next");
    send("carol", "dm to carol", "now");
    send("*", "everyone", "low");
    send("@ops", "ops group", "next");
    send("#news", "news topic", "now");
    send("#sports", "no subscriber", "now");

    let mut got = Vec::new();
    while let Some(e) = bob.next_of("message", Duration::from_secs(3)) {
        got.push(e);
        if got.len() == 4 {
            break;
        }
    }
    let bodies: Vec<&str> = got
        .iter()
        .map(|e| e.data["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["dm to bob", "everyone", "ops group", "news topic"]);
    assert!(
        bob.next_of("message", Duration::from_millis(300)).is_none(),
        "carol's DM never reaches bob"
    );
    let ids: Vec<i64> = got.iter().map(|e| e.id.unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    assert!(got[0].data["ts"].is_string());
    assert_eq!(got[0].data["from"]["name"], "alice");

    // Replay from an id: the same events again, in order, still filtered.
    let mut replay = Sse::connect(&m.socket, "session=sess-b", Some(ids[0]));
    let again: Vec<String> = (0..3)
        .map(|_| {
            replay
                .next_of("message", Duration::from_secs(3))
                .unwrap()
                .data["body"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(again, ["everyone", "ops group", "news topic"]);
    // Carol's view: her DM and the broadcast; not bob's DM, not the group or topic.
    let carol: Vec<String> = m
        .inbox("session=sess-c")
        .iter()
        .map(|i| i["body"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(carol, ["dm to carol", "everyone"]);
    // Alice sent everything and sees none of it as incoming.
    assert!(m.inbox("session=sess-a").is_empty());
    // The operator view holds every message once.
    assert_eq!(m.inbox_all().len(), 6);

    // Filters: topic, from, unread_only + mark_seen, cursor.
    let t = m.inbox("session=sess-b&topic=news");
    assert_eq!(t.len(), 1);
    assert_eq!(m.inbox("session=sess-b&from=alice").len(), 4);
    assert!(m.inbox("session=sess-b&from=zed").is_empty());
    let page = m.inbox("session=sess-b&limit=2&mark_seen=true");
    assert_eq!(page.len(), 2);
    let unread = m.inbox("session=sess-b&unread_only=true");
    assert_eq!(unread.len(), 2);
    let (_, v) = m.get("/v1/inbox?session=sess-b&limit=1");
    let cursor = v["next_cursor"].as_i64().unwrap();
    let rest = m.inbox(&format!("session=sess-b&since={cursor}"));
    assert_eq!(rest.len(), 3);
    // Seen by bob is not seen by carol.
    assert_eq!(m.inbox("session=sess-c&unread_only=true").len(), 2);

    // Hook context: a working session gets only `now` messages; the rest wait for idle.
    let (s, _) = m.post("/v1/sessions/sess-c/status", &json!({"status": "working"}));
    assert_eq!(s, 200);
    let (s, v) = m.post("/v1/sessions/sess-c/context", &json!({}));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["items"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["items"][0]["body"], "dm to carol");
    assert_eq!(v["held"], 1);
    let text = v["additional_context"].as_str().unwrap();
    assert!(
        text.contains("UNTRUSTED") && text.contains("dm to carol"),
        "{text}"
    );
    m.post("/v1/sessions/sess-c/status", &json!({"status": "idle"}));
    let (_, v) = m.post("/v1/sessions/sess-c/context", &json!({}));
    assert_eq!(v["items"][0]["body"], "everyone");
    let (_, v) = m.post("/v1/sessions/sess-c/context", &json!({}));
    assert_eq!(v["additional_context"], "", "nothing unread twice");
}

#[test]
fn sse_ends_on_shutdown() {
    let dir = tmp();
    let mut m = Meshd::start(dir.path(), &[]);
    m.register("sess-a", "alice", &[], &[]);
    let mut sse = Sse::connect(&m.socket, "session=sess-a", None);
    let started = std::time::Instant::now();
    m.stop();
    assert!(sse.next(Duration::from_secs(10)).is_none());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the stream held shutdown up"
    );
}

#[test]
fn a_busy_session_sees_only_now_until_idle() {
    let dir = tmp();
    let m = Meshd::start(dir.path(), &[]);
    three_sessions(&m);
    let (s, _) = m.post("/v1/sessions/sess-b/status", &json!({"status": "working"}));
    assert_eq!(s, 200);
    let mut bob = Sse::connect(&m.socket, "session=sess-b", None);
    for (body, prio) in [("later 1", "next"), ("urgent", "now"), ("later 2", "low")] {
        let (s, _) =
            m.send(json!({"to": "bob", "body": body, "from_session": "sess-a", "priority": prio}));
        assert_eq!(s, 202);
    }
    let e = bob.next_of("message", Duration::from_secs(5)).unwrap();
    assert_eq!(e.data["body"], "urgent");
    assert!(
        bob.next_of("message", Duration::from_millis(300)).is_none(),
        "held while working"
    );
    m.post("/v1/sessions/sess-b/status", &json!({"status": "idle"}));
    let status = bob.next_of("system", Duration::from_secs(5)).unwrap();
    assert_eq!(status.data["status"], "idle");
    let released: Vec<_> = (0..2)
        .map(|_| bob.next_of("message", Duration::from_secs(5)).unwrap())
        .collect();
    assert_eq!(released[0].data["body"], "later 1");
    assert_eq!(released[1].data["body"], "later 2");
    assert!(
        released.iter().all(|e| e.id.is_none()),
        "released messages carry no id"
    );
}
