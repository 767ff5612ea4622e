//! claude-memd with `provider = "claude"` under faults: batching under load, memd killed
//! mid-ask, the observer child or the supervisor killed mid-ask, the process cap and idle
//! reaping, and a USD cap. The REAL Claude Code CLI via a REAL claude-supervisord.

#[path = "support/memd.rs"]
mod memd;
#[path = "support/mock_anthropic.rs"]
mod mock_anthropic;
#[path = "support/observer.rs"]
mod observer;
#[path = "support/repo.rs"]
mod repo;

use mock_anthropic::newest_prompt;
use observer::*;
use serde_json::{json, Value};
use std::time::Duration;

#[test]
fn batching_kill_mid_ask_room_and_idle_reap() {
    let mut s = Setup::new("max_observers = 1\nobserver_idle_reap_secs = 3\n");
    s.start_supervisor();
    let sid = "sess-batch";
    s.hook(sid, "UserPromptSubmit", json!({"prompt": "Build it"}));
    // The first ask is slow: the events behind it queue up and go as one message.
    let slow = s.tool(sid, "b0", "Bash", json!({"command": "SLOW build"}));
    std::thread::sleep(Duration::from_millis(500));
    let ids: Vec<i64> = (1..=10)
        .map(|i| {
            s.tool(
                sid,
                &format!("b{i}"),
                "Bash",
                json!({"command": format!("BATCH step {i}")}),
            )
        })
        .collect();
    s.wait_done();
    assert_eq!(s.observations(slow).len(), 1);
    let batch_requests = s
        .api
        .requests()
        .iter()
        .filter(|r| newest_prompt(r).contains("BATCH step"))
        .count();
    let total: usize = ids.iter().map(|e| s.observations(*e).len()).sum();
    assert_eq!(
        total,
        10,
        "one scripted observation per batched event\n{}",
        s.logs()
    );
    assert!(
        batch_requests < 10,
        "{batch_requests} requests for 10 queued events"
    );

    // Kill claude-memd while the observer is answering: after a restart the event is
    // observed again and stored once.
    let k = s.tool(sid, "k1", "Bash", json!({"command": "SLOW kill"}));
    wait_for("the slow ask", &s, || {
        !s.api.requests_containing("SLOW kill").is_empty()
    });
    s.memd.kill9();
    s.memd.spawn();
    s.wait_done();
    let o = s.observations(k);
    assert_eq!(o.len(), 1, "{o:?}");
    let dup: i64 = s.memd.count(
        "SELECT count(*) FROM (SELECT event_id, seq FROM observations GROUP BY 1, 2 HAVING count(*) > 1)",
    );
    assert_eq!(dup, 0);

    // Room: with max_observers = 1, a second session's observer stops the first one's.
    let live = |s: &Setup| -> Vec<String> {
        let r =
            claude_daemons::http::UnixClient::new(s.memd.dir.path().join("run/supervisord.sock"))
                .get("/v1/sessions")
                .unwrap();
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        v["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| !x["pid"].is_null())
            .map(|x| x["key"].as_str().unwrap().to_string())
            .collect()
    };
    s.tool("sess-other", "o1", "Bash", json!({"command": "make"}));
    s.wait_done();
    assert_eq!(live(&s), vec!["memd-observer:sess-other".to_string()]);
    // Idle reap: the observer process is stopped after 3 s without events.
    wait_for("the idle observer to be stopped", &s, || {
        live(&s).is_empty()
    });

    // And when claude-memd exits, it stops the observers it leaves behind.
    s.tool("sess-last", "l1", "Bash", json!({"command": "make"}));
    s.wait_done();
    assert_eq!(live(&s), vec!["memd-observer:sess-last".to_string()]);
    assert!(s.memd.stop().success());
    assert_eq!(live(&s), Vec::<String>::new(), "{}", s.memd.log());
}

#[test]
fn observer_child_or_supervisor_killed_mid_ask_loses_and_duplicates_nothing() {
    let mut s = Setup::new("");
    s.start_supervisor();
    let sid = "sess-kill";
    s.hook(sid, "UserPromptSubmit", json!({"prompt": "Build it"}));
    let sock = s.memd.dir.path().join("run/supervisord.sock");

    // kill -9 the observer child while it answers.
    let a = s.tool(sid, "c1", "Bash", json!({"command": "SLOW child"}));
    wait_for("the child's request", &s, || {
        !s.api.requests_containing("SLOW child").is_empty()
    });
    let r = claude_daemons::http::UnixClient::new(&sock)
        .get(&format!("/v1/sessions/memd-observer:{sid}"))
        .unwrap();
    let info: Value = serde_json::from_slice(&r.body).unwrap();
    let pid = info["pid"].as_i64().expect("the observer runs") as i32;
    unsafe { libc::kill(pid, libc::SIGKILL) };
    wait_for("the event observed by Claude after all", &s, || {
        let o = s.observations(a);
        s.event_state(a).2 == 0 && o.len() == 1 && o[0][6] == "claude"
    });

    // kill -9 the supervisor while the observer answers: the local builder stands in, and
    // the event is observed again once a supervisor is back.
    let b = s.tool(sid, "c2", "Bash", json!({"command": "SLOW supervisor"}));
    wait_for("the request", &s, || {
        !s.api.requests_containing("SLOW supervisor").is_empty()
    });
    let mut sup = s.sup.take().unwrap();
    sup.kill().unwrap();
    sup.wait().unwrap();
    s.wait_done();
    let (state, _, retry) = s.event_state(b);
    assert_eq!((state.as_str(), retry), ("done", 1));
    assert_eq!(s.observations(b)[0][6], "local-fallback");
    s.start_supervisor();
    wait_for("the retry", &s, || s.event_state(b).2 == 0);
    let o = s.observations(b);
    assert_eq!(o.len(), 1, "{o:?}");
    assert_eq!(o[0][6], "claude");
    let dup: i64 = s.memd.count(
        "SELECT count(*) FROM (SELECT event_id, seq FROM observations GROUP BY 1, 2 HAVING count(*) > 1)",
    );
    assert_eq!(dup, 0);
}

#[test]
fn a_usd_cap_from_total_cost_usd_switches_to_the_local_builder() {
    let mut s = Setup::new("observer_session_tokens = 0\nobserver_session_usd = 0.000001\n");
    s.start_supervisor();
    let sid = "sess-usd";
    let e1 = s.tool(sid, "u1", "Bash", json!({"command": "make"}));
    s.wait_done();
    assert_eq!(s.observations(e1)[0][6], "claude");
    let usd: f64 = s
        .memd
        .db()
        .query_row(
            "SELECT usd FROM observer_spend WHERE session_id = ?1",
            [sid],
            |r| r.get(0),
        )
        .unwrap();
    assert!(usd > 0.0, "the result's total_cost_usd was counted");
    let e2 = s.tool(sid, "u2", "Bash", json!({"command": "make again"}));
    s.wait_done();
    assert_eq!(s.observations(e2)[0][6], "local-budget");
    assert!(s.memd.log().contains("session's observer cost cap"));
}
