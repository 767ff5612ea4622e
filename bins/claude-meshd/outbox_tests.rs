//! Unit tests of the outbox state machine (kept apart so outbox.rs stays readable).
use super::*;

use crate::schema::test_db as db;

fn send(id: &str) -> NewSend {
    NewSend {
        client_message_id: id.into(),
        fingerprint: [7; 32],
        from_session: None,
        to_text: "*".into(),
        resolved: Resolved::Broadcast,
        priority: Priority::Next,
        reply_to: None,
        meta: None,
        body: "b".into(),
    }
}

fn state(c: &Connection, id: &str) -> (String, i64) {
    c.query_row(
        "SELECT state, attempts FROM outbox WHERE client_message_id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

#[test]
fn backoff_grows_and_caps() {
    assert_eq!(backoff_ms(1), 500);
    assert_eq!(backoff_ms(2), 1000);
    assert_eq!(backoff_ms(6), 16_000);
    assert_eq!(backoff_ms(7), 30_000);
    assert_eq!(backoff_ms(25), 30_000);
}

#[test]
fn attempts_run_out_into_dead_and_outages_cost_nothing() {
    let (_d, mut c) = db();
    assert!(matches!(
        accept(&mut c, &send("a")).unwrap(),
        Accepted::Queued { .. }
    ));
    let rows = claim(&mut c, 10).unwrap();
    assert_eq!(rows.len(), 1);
    release(&c, &[rows[0].id]).unwrap();
    assert_eq!(state(&c, "a"), ("pending".into(), 0), "an outage is free");
    for n in 1..MAX_ATTEMPTS {
        c.execute("UPDATE outbox SET next_attempt_ms = 0", [])
            .unwrap();
        let rows = claim(&mut c, 10).unwrap();
        assert!(!mark_failed(&c, rows[0].id, "flaky", false).unwrap());
        assert_eq!(state(&c, "a"), ("pending".into(), n));
        assert!(due(&c, 10).unwrap().is_empty(), "backing off");
    }
    c.execute("UPDATE outbox SET next_attempt_ms = 0", [])
        .unwrap();
    let rows = claim(&mut c, 10).unwrap();
    assert!(mark_failed(&c, rows[0].id, "flaky", false).unwrap());
    assert_eq!(state(&c, "a"), ("dead".into(), MAX_ATTEMPTS));
}

#[test]
fn a_backing_off_row_holds_back_later_rows_and_a_restart_resets_inflight() {
    let (_d, mut c) = db();
    accept(&mut c, &send("first")).unwrap();
    accept(&mut c, &send("second")).unwrap();
    let rows = claim(&mut c, 1).unwrap();
    mark_failed(&c, rows[0].id, "flaky", false).unwrap();
    assert!(due(&c, 10).unwrap().is_empty(), "second waits behind first");
    let rows = {
        c.execute("UPDATE outbox SET next_attempt_ms = 0", [])
            .unwrap();
        claim(&mut c, 10).unwrap()
    };
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].client_message_id, "first");
    assert_eq!(reset_inflight(&c).unwrap(), 2);
    assert_eq!(state(&c, "second").0, "pending");
    mark_done(&c, rows[0].id, Some(9)).unwrap();
    let body: Option<String> = c
        .query_row(
            "SELECT body FROM outbox WHERE client_message_id = 'first'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(body, None, "no plaintext kept once done");
}

#[test]
fn a_claim_takes_exactly_the_due_rows_and_nothing_between_them() {
    let (_d, mut c) = db();
    let all = ["r1", "r2", "r3", "r4", "r5", "r6", "r7"];
    let sends: Vec<NewSend> = all.iter().map(|id| send(id)).collect();
    accept_all(&mut c, &sends).unwrap();
    // Between the claimed rows: one done, one dead, one aborted; after them, one backing
    // off that holds back the last.
    c.execute_batch(
        "UPDATE outbox SET state = 'done' WHERE client_message_id = 'r2';
         UPDATE outbox SET state = 'dead' WHERE client_message_id = 'r3';
         UPDATE outbox SET state = 'aborted' WHERE client_message_id = 'r4';
         UPDATE outbox SET next_attempt_ms = 9000000000000000 WHERE client_message_id = 'r6';",
    )
    .unwrap();
    let rows = claim(&mut c, 10).unwrap();
    let ids: Vec<&str> = rows.iter().map(|r| r.client_message_id.as_str()).collect();
    assert_eq!(ids, ["r1", "r5"]);
    assert!(rows.iter().all(|r| r.attempts == 1));
    let states: Vec<(String, i64)> = all.iter().map(|id| state(&c, id)).collect();
    let want = [
        ("inflight", 1),
        ("done", 0),
        ("dead", 0),
        ("aborted", 0),
        ("inflight", 1),
        ("pending", 0),
        ("pending", 0),
    ];
    let want: Vec<(String, i64)> = want.iter().map(|(s, n)| (s.to_string(), *n)).collect();
    assert_eq!(states, want);
}
