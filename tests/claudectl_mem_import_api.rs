//! `POST /v1/import` refusals: a batch with one bad record, no origin, unknown fields, too
//! many records or too many bytes is a 4xx with a reason and stores nothing; the daemon
//! keeps serving, and an origin is stored once even within one batch.

#[path = "claudectl_support/mod.rs"]
mod ctl;
#[path = "support/http.rs"]
mod http;
#[path = "support/memd.rs"]
mod memd;

use serde_json::{json, Value};

#[test]
fn bad_import_batches_store_nothing() {
    let m = memd::Memd::start();
    let before = ctl::counts(&m.db());
    let rec = |origin: &str, title: &str| {
        json!({"origin": origin, "session_id": "s", "project": "shop", "created_at": "2026-01-05T10:00:00Z",
               "created_at_epoch": 1_767_607_200, "record": "observation", "type": "change", "title": title})
    };
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"records": [rec("a:1", "fine"), rec("a:2", " ")]}),
            "title",
        ),
        (
            json!({"records": [rec("a:1", "fine"), rec("", "no origin")]}),
            "origin",
        ),
        (
            json!({"records": [rec("a:1", "fine"), {"origin": "a:3", "record": "prompt"}]}),
            "",
        ),
        (json!({"records": [rec("a:1", "fine")], "extra": 1}), ""),
        (
            json!({"records": (0..2001).map(|i| rec(&format!("a:{i}"), "t")).collect::<Vec<_>>()}),
            "at most 2000",
        ),
    ];
    for (body, why) in cases {
        let (s, r) = m.post("/v1/import", body.to_string().as_bytes());
        assert!((400..500).contains(&s), "{s} {r}");
        assert!(r.to_string().contains(why), "{why}: {r}");
        assert_eq!(ctl::counts(&m.db()), before);
    }
    assert_eq!(
        http::post_unread(&m.socket(), "/v1/import", vec![b' '; 17 << 20]).0,
        413
    );
    assert_eq!(ctl::counts(&m.db()), before);
    // The daemon keeps serving: a good batch goes in, once.
    let good = json!({"records": [rec("a:1", "fine"), rec("a:1", "fine")]});
    let (s, r) = m.post("/v1/import", good.to_string().as_bytes());
    assert_eq!(s, 200, "{r}");
    assert_eq!(
        (r["imported"].as_i64(), r["duplicates"].as_i64()),
        (Some(1), Some(1)),
        "{r}"
    );
}
