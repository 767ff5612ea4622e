//! Batch sends (`POST /v1/send` with a JSON array), local mode: each item answers as its own
//! send would, in order, the rows leave in the array's order, and a batch with one bad item
//! stores nothing.

#[path = "support/meshd.rs"]
mod meshd;

use meshd::Meshd;
use serde_json::{json, Value};

fn tmp() -> tempfile::TempDir {
    meshd::scratch::kept(
        tempfile::Builder::new()
            .prefix("cm")
            .tempdir_in("/tmp")
            .unwrap(),
    )
}

fn start() -> (tempfile::TempDir, Meshd) {
    let dir = tmp();
    let m = Meshd::start(dir.path(), &[]);
    m.register("sess-a", "alice", &[], &[]);
    m.register("sess-b", "bob", &[], &[]);
    (dir, m)
}

/// Every outbox row, whatever its state.
fn outbox_rows(m: &Meshd) -> usize {
    let (s, v) = m.get("/v1/outbox?limit=1000");
    assert_eq!(s, 200, "{v}");
    v.as_array().unwrap().len()
}

fn item(cmid: &str, body: &str) -> Value {
    json!({"to": "bob", "body": body, "client_message_id": cmid, "from_session": "sess-a"})
}

#[test]
fn a_batch_answers_per_item_and_keeps_its_order() {
    let (_dir, m) = start();
    // An earlier single send, done, so the batch can repeat it.
    let (s, v) = m.send(item("early", "first"));
    assert_eq!(s, 202, "{v}");
    m.wait_for(10, "early delivered", || {
        m.inbox("session=sess-b").len() == 1
    });

    let mut batch: Vec<Value> = (0..50)
        .map(|i| item(&format!("b{i}"), &format!("m{i}")))
        .collect();
    batch.push(item("early", "first")); // done + same → 200 duplicate
    batch.push(item("early", "changed")); // done + different → 409
    batch.push(item("b3", "m3")); // repeated inside the batch: pending + same → 202 duplicate
    batch.push(item("b4", "other")); // pending + different → 409
    let (s, v) = m.post("/v1/send", &json!(batch));
    assert_eq!(s, 200, "{v}");
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 54, "{v}");
    let mut history = Vec::new();
    for (i, r) in results[..50].iter().enumerate() {
        assert_eq!(r["code"], 202, "{r}");
        assert_eq!(r["sent"]["status"], "queued", "{r}");
        assert_eq!(r["sent"]["client_message_id"], format!("b{i}"), "{r}");
        assert_eq!(r["sent"]["duplicate"], false, "{r}");
        history.push(r["sent"]["history_id"].as_i64().unwrap());
    }
    assert!(
        history.windows(2).all(|w| w[0] < w[1]),
        "rows numbered in the array's order: {history:?}"
    );
    assert_eq!(results[50]["code"], 200, "{v}");
    assert_eq!(results[50]["sent"]["duplicate"], true, "{v}");
    assert_eq!(results[51]["code"], 409, "{v}");
    assert_eq!(
        results[51]["error"]["error"], "outbox_done_fingerprint_mismatch",
        "{v}"
    );
    assert_eq!(results[52]["code"], 202, "{v}");
    assert_eq!(results[52]["sent"]["duplicate"], true, "{v}");
    assert_eq!(results[52]["sent"]["history_id"].as_i64(), Some(history[3]));
    assert_eq!(results[53]["code"], 409, "{v}");
    assert!(
        results[53]["error"]["error"]
            .as_str()
            .unwrap()
            .ends_with("_fingerprint_mismatch"),
        "{v}"
    );

    // Delivered once each, in the array's order.
    m.wait_for(10, "batch delivered", || {
        m.inbox("session=sess-b&limit=1000").len() == 51
    });
    let bodies: Vec<String> = m
        .inbox("session=sess-b&limit=1000")
        .iter()
        .map(|i| i["body"].as_str().unwrap().to_string())
        .collect();
    let want: Vec<String> = std::iter::once("first".to_string())
        .chain((0..50).map(|i| format!("m{i}")))
        .collect();
    assert_eq!(bodies, want);
    assert_eq!(outbox_rows(&m), 51);
}

#[test]
fn a_bad_batch_stores_nothing() {
    let (_dir, m) = start();
    let good = |i: usize| item(&format!("g{i}"), "x");
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (b"[]".to_vec(), 400, "empty_batch"),
        (b"[{\"to\": \"bob\"".to_vec(), 400, "invalid_body"),
        (b"[1, 2]".to_vec(), 400, "invalid_body"),
        (
            json!([good(0), {"to": "bob"}]).to_string().into_bytes(),
            400,
            "invalid_body",
        ),
        (
            json!([good(0), {"to": "nobody", "body": "x"}])
                .to_string()
                .into_bytes(),
            404,
            "unknown_destination",
        ),
        (
            json!([good(0), good(1), {"to": "bob", "body": ""}])
                .to_string()
                .into_bytes(),
            400,
            "empty_body",
        ),
        (
            json!([good(0), {"to": "bob", "body": "x", "client_message_id": "bad id"}])
                .to_string()
                .into_bytes(),
            400,
            "invalid_client_message_id",
        ),
        (
            json!([good(0), {"to": "bob", "body": "x".repeat(64 * 1024 + 1)}])
                .to_string()
                .into_bytes(),
            413,
            "body_too_large",
        ),
        (
            json!((0..1001).map(good).collect::<Vec<_>>())
                .to_string()
                .into_bytes(),
            413,
            "batch_too_large",
        ),
        (
            json!((0..40)
                .map(|i| item(&format!("big{i}"), &"y".repeat(60_000)))
                .collect::<Vec<_>>())
            .to_string()
            .into_bytes(),
            413,
            "request_too_large",
        ),
        (
            b"[{\"to\": \"bob\", \"body\": \"\xff\"}]".to_vec(),
            400,
            "invalid_utf8",
        ),
    ];
    for (raw, status, error) in cases {
        let (s, v) = m.post_raw("/v1/send", &[], &raw);
        let shown = String::from_utf8_lossy(&raw[..raw.len().min(120)]).into_owned();
        assert_eq!(
            (s, v["error"].as_str()),
            (status, Some(error)),
            "{shown}: {v}"
        );
        assert_eq!(outbox_rows(&m), 0, "nothing stored for {shown}");
    }
    // The failing item is named.
    let (s, v) = m.post(
        "/v1/send",
        &json!([good(0), good(1), {"to": "nobody", "body": "x"}]),
    );
    assert_eq!((s, v["index"].as_u64()), (404, Some(2)), "{v}");
    assert!(v["reason"].as_str().unwrap().starts_with("item 2:"), "{v}");
    // Idempotency-Key names one send, not a batch.
    let (s, v) = m.post_raw(
        "/v1/send",
        &[("Idempotency-Key", "k")],
        json!([good(0)]).to_string().as_bytes(),
    );
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("invalid_client_message_id")),
        "{v}"
    );
    assert_eq!(outbox_rows(&m), 0);
    // Still serving, and a good batch after all that goes through.
    let (s, v) = m.post("/v1/send", &json!([good(0), good(1)]));
    assert_eq!(s, 200, "{v}");
    assert_eq!(outbox_rows(&m), 2);
}
