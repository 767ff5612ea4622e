//! A fleet of claude-supervisord processes on one real nats-server (each its own HOME,
//! state and socket), children are the fake (examples/fake_claude.rs): placement by room,
//! asks returning to the owner, a full fleet refusing or waiting, SSE and interrupt through
//! another host, and the broker going away.

#[path = "supervisor_support/fake.rs"]
mod fake;
#[path = "support/nats.rs"]
mod nats;
#[path = "supervisor_support/mod.rs"]
mod support;

use fake::{ask, start};
use nats::Nats;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use support::Supervisor;

fn host(nats: &Nats, name: &str, extra: &str) -> Supervisor {
    start(
        &format!(
            "broker_url = \"{}\"\nfleet = \"t\"\nhost = \"{name}\"\nmax_processes = 1\n{extra}",
            nats.url()
        ),
        "normal",
    )
}

/// Wait until `s` sees `n` hosts of the fleet.
fn wait_hosts(s: &Supervisor, n: usize) {
    s.wait_for(
        &format!("{n} hosts in the fleet"),
        Duration::from_secs(60),
        |s| {
            let (st, f) = s.get("/v1/fleet");
            st == 200
                && f["connected"] == true
                && f["hosts"].as_array().is_some_and(|h| h.len() == n)
        },
    );
}

fn three(extra: &str) -> (tempfile::TempDir, Nats, Vec<Supervisor>) {
    let dir = tempfile::tempdir().unwrap();
    let nats = Nats::start(dir.path());
    let hosts: Vec<Supervisor> = ["a", "b", "c"]
        .iter()
        .map(|n| host(&nats, n, extra))
        .collect();
    for h in &hosts {
        wait_hosts(h, 3);
    }
    (dir, nats, hosts)
}

fn host_of(r: &Value) -> String {
    r["host"]
        .as_str()
        .unwrap_or_else(|| panic!("no host in {r}"))
        .to_string()
}

#[test]
fn new_keys_go_where_there_is_room_and_placed_keys_return_to_their_owner() {
    let (_dir, _nats, hosts) = three("");
    let a = &hosts[0];
    let mut owners = Vec::new();
    for k in ["k1", "k2", "k3"] {
        let (st, r) = ask(a, k, &format!("hello {k}"));
        assert_eq!(st, 200, "{r}\n{}", a.log());
        assert_eq!(r["result"], format!("echo: hello {k}"));
        owners.push(host_of(&r));
    }
    assert_eq!(
        owners[0], "a",
        "the asking host prefers itself while it has room"
    );
    let set: BTreeSet<&str> = owners.iter().map(String::as_str).collect();
    assert_eq!(set.len(), 3, "one key per host: {owners:?}");

    // Every slot of the fleet is taken: refused, with the fleet's own reason.
    let (st, r) = ask(a, "k4", "no room");
    assert_eq!(st, 429, "{r}");
    assert_eq!(r["error"], "fleet_full", "{r}");

    // A placed key runs on its owner whichever host is asked, as a warm process.
    for (k, owner) in ["k1", "k2", "k3"].iter().zip(&owners) {
        for h in &hosts {
            let (st, r) = h.ask(
                k,
                json!({"prompt": "again", "cwd": a.work.display().to_string()}),
            );
            assert_eq!(st, 200, "{r}");
            assert_eq!(host_of(&r), *owner, "{k} asked on another host");
            assert_eq!(r["cold"], false, "{r}");
        }
    }
    // The owner's own session list holds the key; the others' do not. A key's record is
    // answered by its owner whichever host is asked (the request is forwarded).
    for (k, owner) in ["k1", "k2", "k3"].iter().zip(&owners) {
        for (h, name) in hosts.iter().zip(["a", "b", "c"]) {
            let (st, list) = h.get("/v1/sessions");
            assert_eq!(st, 200, "{list}");
            let listed = list["sessions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["key"] == *k);
            assert_eq!(listed, name == owner, "{k} in {name}'s list: {list}");
            let (st, r) = h.get(&format!("/v1/sessions/{k}"));
            assert_eq!(st, 200, "{k} asked on {name}: {r}");
            assert_eq!(r["key"], *k, "{r}");
        }
    }

    // The fleet view: three hosts, each full, and where each key lives.
    let (st, f) = hosts[1].get("/v1/fleet");
    assert_eq!(st, 200);
    assert_eq!(f["fleet"], "t");
    assert_eq!(f["host"], "b");
    assert_eq!(f["connected"], true);
    let hs = f["hosts"].as_array().unwrap();
    assert_eq!(hs.len(), 3, "{f}");
    for h in hs {
        assert_eq!(h["max_processes"], 1, "{h}");
        assert_eq!(h["children"], 1, "{h}");
        assert_eq!(h["free"], 0, "{h}");
    }
    let sessions = f["sessions"].as_array().unwrap();
    let placed: Vec<(String, String)> = sessions
        .iter()
        .map(|s| (s["key"].as_str().unwrap().into(), host_of(s)))
        .collect();
    let want: Vec<(String, String)> = ["k1", "k2", "k3"]
        .iter()
        .map(|k| k.to_string())
        .zip(owners.iter().cloned())
        .collect();
    assert_eq!(placed, want);
    assert!(sessions.iter().all(|s| s["live"] == true));

    // Forgetting a session drops its placement; its slot is free again for a new key.
    let owner1 = &hosts[0];
    assert_eq!(owner1.delete("/v1/sessions/k1?forget=true").0, 200);
    let (st, r) = ask(&hosts[2], "k4", "room now");
    assert_eq!(st, 200, "{r}");
    assert_eq!(host_of(&r), "a");
}

#[test]
fn a_full_fleet_makes_a_new_key_wait_when_configured() {
    let (_dir, _nats, hosts) = three("when_full = \"wait\"\n");
    let mut owners = Vec::new();
    for k in ["k1", "k2", "k3"] {
        let (st, r) = ask(&hosts[0], k, "x");
        assert_eq!(st, 200, "{r}");
        owners.push(host_of(&r));
    }
    std::thread::scope(|sc| {
        let waiting = sc.spawn(|| {
            hosts[1].ask(
                "k4",
                json!({"prompt": "waited", "cwd": hosts[1].work.display().to_string(), "timeout_ms": 120000}),
            )
        });
        // Whatever the load, the ask is still waiting after this: nothing frees a slot yet.
        std::thread::sleep(Duration::from_secs(1));
        assert!(!waiting.is_finished(), "the fourth key waits for room");
        // Stopping k2's process frees its host's slot.
        let i = owners.iter().position(|o| o == "b").unwrap_or(1);
        let owner = &hosts[["a", "b", "c"]
            .iter()
            .position(|n| *n == owners[i])
            .unwrap()];
        let key = ["k1", "k2", "k3"][i];
        assert_eq!(
            owner.delete(&format!("/v1/sessions/{key}")).1["stopped"],
            true
        );
        let (st, r) = waiting.join().unwrap();
        assert_eq!(st, 200, "{r}");
        assert_eq!(r["result"], "echo: waited");
        assert_eq!(host_of(&r), owners[i]);
    });
}

#[test]
fn sse_and_interrupt_work_through_another_host() {
    let (_dir, _nats, hosts) = three("");
    let a = &hosts[0];
    assert_eq!(host_of(&ask(a, "mine", "x").1), "a");
    // a is full now: the next key lives elsewhere.
    let (st, r) = ask(a, "far", "x");
    assert_eq!(st, 200, "{r}");
    let far = host_of(&r);
    assert_ne!(far, "a");
    let owner = &hosts[if far == "b" { 1 } else { 2 }];

    // SSE through a: the child's lines in order, then the result naming the owner.
    let (st, events) = a.ask_sse(
        "far",
        json!({"prompt": "sleep:300", "cwd": a.work.display().to_string()}),
    );
    assert_eq!(st, 200);
    assert_eq!(events[0].event, "message", "{events:?}");
    let first: Value = serde_json::from_str(&events[0].data).unwrap();
    assert!(first["type"].is_string(), "{first}");
    assert!(events.iter().any(|e| e.data.contains("stream_event")));
    let last = events.last().unwrap();
    assert_eq!(last.event, "result", "{events:?}");
    let r: Value = serde_json::from_str(&last.data).unwrap();
    assert_eq!(r["result"], "echo: sleep:300");
    assert_eq!(host_of(&r), far);

    // Interrupt through a of a long turn running on the owner.
    std::thread::scope(|sc| {
        let long = sc.spawn(|| ask(a, "far", "sleep:60000"));
        owner.wait_for("the turn in flight", Duration::from_secs(30), |o| {
            o.get("/v1/sessions/far").1["state"] == "busy"
        });
        let t = Instant::now();
        let (st, r) = a.post("/v1/sessions/far/interrupt", &json!({}));
        assert_eq!((st, &r["interrupted"]), (200, &json!(true)), "{r}");
        let (st, r) = long.join().unwrap();
        assert!(
            t.elapsed() < Duration::from_secs(50),
            "ended by the interrupt"
        );
        assert_eq!(st, 200, "{r}");
        assert_eq!(r["is_error"], true);
        assert_eq!(r["subtype"], "error_during_execution");
    });
    let (_, r) = a.post("/v1/sessions/far/interrupt", &json!({}));
    assert_eq!(r["interrupted"], false, "nothing in flight");

    // The session's record and its permission prompts are the owner's, asked through a.
    let (st, info) = a.get("/v1/sessions/far");
    assert_eq!(st, 200, "{info}");
    assert_eq!(info["key"], "far");
    assert_eq!(info["session_id"], owner.session("far")["session_id"]);
    let (st, list) = a.get("/v1/sessions/far/permissions?all=true");
    assert_eq!(st, 200, "{list}");
    let (st, r) = a.post(
        "/v1/sessions/far/permissions/01JNOSUCHPROMPT",
        &json!({"behavior": "allow"}),
    );
    assert_eq!((st, r["error"].as_str()), (404, Some("not_found")), "{r}");

    // Errors keep their code and status across hosts.
    let (st, r) = a.ask("far", json!({"prompt": "x", "model": "has space"}));
    assert_eq!(st, 400, "{r}");
    assert_eq!(r["error"], "bad_request");
    let (st, r) = ask(a, "far", "die");
    assert_eq!(st, 502, "{r}");
    assert_eq!(r["error"], "child_exited");

    // Stopped and forgotten through a: the owner forgets it, and so does the fleet.
    let (st, r) = a.delete("/v1/sessions/far?forget=true");
    assert_eq!((st, &r["forgotten"]), (200, &json!(true)), "{r}");
    assert_eq!(owner.get("/v1/sessions/far").0, 404);
    let (_, f) = a.get("/v1/fleet");
    assert!(
        f["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["key"] != "far"),
        "{f}"
    );
}

#[test]
fn without_the_broker_held_keys_work_and_the_rest_fail_fast_until_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut nats = Nats::start(dir.path());
    let a = host(&nats, "a", "lease_secs = 600\n");
    wait_hosts(&a, 1);
    let (st, r) = ask(&a, "held", "x");
    assert_eq!((st, host_of(&r)), (200, "a".to_string()), "{r}");

    nats.kill();
    a.wait_for("the broker gone", Duration::from_secs(30), |a| {
        a.get("/v1/health").1["broker_connected"] == false
    });
    let (st, r) = ask(&a, "held", "still here");
    assert_eq!(st, 200, "{r}\n{}", a.log());
    assert_eq!(r["result"], "echo: still here");
    let t = Instant::now();
    let (st, r) = ask(&a, "new", "x");
    assert_eq!(st, 503, "{r}");
    assert_eq!(r["error"], "fleet_unavailable");
    assert!(
        r["message"].as_str().unwrap().contains("unreachable"),
        "{r}"
    );
    assert!(t.elapsed() < Duration::from_secs(5), "failed fast");

    // Its one slot is for the new key once the broker is back.
    assert_eq!(a.delete("/v1/sessions/held").1["stopped"], true);
    nats.restart();
    a.wait_for("a new key placed again", Duration::from_secs(60), |a| {
        ask(a, "new", "x").0 == 200
    });
}

#[test]
fn a_host_that_stops_hands_its_sessions_over_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let nats = Nats::start(dir.path());
    // Leases far longer than the test: only their release lets b take the key.
    let mut a = host(&nats, "a", "lease_secs = 600\n");
    let b = host(&nats, "b", "lease_secs = 600\n");
    wait_hosts(&a, 2);
    wait_hosts(&b, 2);
    let (st, r) = ask(&a, "k", "x");
    assert_eq!((st, host_of(&r)), (200, "a".to_string()), "{r}");
    assert_eq!(a.terminate(), 0);
    let cwd = a.work.display().to_string();
    b.wait_for("b to take k", Duration::from_secs(60), |b| {
        let (st, r) = b.ask("k", json!({"prompt": "moved", "cwd": cwd}));
        st == 200 && r["host"] == "b"
    });
}
