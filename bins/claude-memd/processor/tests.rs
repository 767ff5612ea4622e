//! The processor's states: bounded attempts, interruptions, isolation, panics.

use super::*;
use crate::provider::{NewObservation, NewSummary, ProviderError};

/// Fails (or panics) on tools named `Bad`; one observation otherwise.
struct Picky;

impl Provider for Picky {
    fn name(&self) -> &'static str {
        "picky"
    }
    fn observe(&mut self, ev: &EventRow) -> Result<Vec<NewObservation>, ProviderError> {
        match ev.input.tool_name.as_deref() {
            Some("Bad") => Err(ProviderError("cannot read this".into())),
            Some("Panic") => panic!("provider bug"),
            _ => Ok(vec![NewObservation {
                kind: "discovery",
                title: "ok".into(),
                ..Default::default()
            }]),
        }
    }
    fn summarize(
        &mut self,
        _: &EventRow,
        _: &TurnFacts,
    ) -> Result<Option<NewSummary>, ProviderError> {
        Ok(None)
    }
}

fn db() -> Connection {
    // The directory must outlive the connection, which the tests keep to the end.
    let (dir, c) = crate::schema::test_db();
    std::mem::forget(dir);
    c
}

fn event(c: &Connection, tool: &str) -> i64 {
    let payload = serde_json::json!({"session_id": "s", "cwd": "/w", "hook_event_name": "PostToolUse", "tool_name": tool});
    c.query_row(
        "INSERT INTO events (session_id, event, project, project_name, payload)
         VALUES ('s', 'PostToolUse', '/w', 'w', ?1) RETURNING id",
        [payload.to_string()],
        |r| r.get(0),
    )
    .unwrap()
}

fn state(c: &Connection, id: i64) -> (String, i64, i64, Option<String>) {
    c.query_row(
        "SELECT state, attempts, interrupted, last_error FROM events WHERE id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )
    .unwrap()
}

fn drain(c: &mut Connection) {
    let (a, s) = (Announcer::new(), Stats::default());
    while pass(c, &mut Picky, 3, &a, &s).unwrap() > 0 {}
}

#[test]
fn failing_events_fail_after_bounded_attempts_and_others_proceed() {
    let mut c = db();
    let good = event(&c, "Read");
    let bad = event(&c, "Bad");
    let boom = event(&c, "Panic");
    drain(&mut c);
    assert_eq!(state(&c, good).0, "done");
    let (s, attempts, _, err) = state(&c, bad);
    assert_eq!((s.as_str(), attempts), ("failed", 3));
    assert_eq!(err.as_deref(), Some("cannot read this"));
    let (s, _, _, err) = state(&c, boom);
    assert_eq!(s, "failed");
    assert!(err.unwrap().contains("provider bug"));
    let n: i64 = c
        .query_row("SELECT count(*) FROM observations", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn interrupted_events_resume_without_losing_attempts_and_fail_after_five() {
    let mut c = db();
    let id = event(&c, "Read");
    // A crash after the claim: `processing` with one attempt used.
    claim(&mut c).unwrap();
    assert_eq!(state(&c, id).0, "processing");
    assert_eq!(recover(&c).unwrap(), 1);
    assert_eq!(
        state(&c, id),
        (
            "pending".into(),
            0,
            1,
            Some("interrupted: the daemon stopped while processing".into())
        )
    );
    drain(&mut c);
    assert_eq!(state(&c, id).0, "done");
    let n: i64 = c
        .query_row(
            "SELECT count(*) FROM observations WHERE event_id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1);

    // An event that is always interrupted (it kills the daemon) is failed after five.
    let poison = event(&c, "Read");
    for _ in 0..MAX_INTERRUPTIONS {
        claim(&mut c).unwrap();
        recover(&c).unwrap();
    }
    assert_eq!(state(&c, poison).0, "failed");
}

#[test]
fn twice_interrupted_events_are_claimed_alone() {
    let mut c = db();
    let ids: Vec<i64> = (0..5).map(|_| event(&c, "Read")).collect();
    for _ in 0..2 {
        assert_eq!(claim(&mut c).unwrap().len(), 5);
        recover(&c).unwrap();
    }
    assert_eq!(claim(&mut c).unwrap().len(), 1, "isolated");
    assert_eq!(state(&c, ids[0]).0, "processing");
}
