//! Runs of events through the provider: a session's queued tool events together (the
//! provider may batch them), and the retry pass over events a stand-in observed.

use super::*;

/// Observe again events a stand-in observed while the observer was unavailable; what the
/// observer writes replaces the stand-in's records in the same transaction.
pub(super) fn retry_pass(
    conn: &mut Connection,
    provider: &mut dyn Provider,
    announce: &Announcer,
    stats: &Stats,
) -> rusqlite::Result<usize> {
    let rows: Vec<ClaimedRow> = conn
        .prepare_cached(
            "SELECT id, event, session_id, project, project_name, prompt_number, payload, attempts
             FROM events WHERE observer_retry = 1 AND state = 'done' ORDER BY id LIMIT ?1",
        )?
        .query_map([BATCH], row)?
        .collect::<rusqlite::Result<_>>()?;
    let n = rows.len();
    if n > 0 {
        tracing::info!(
            events = n,
            "observing again events the local builder stood in for"
        );
    }
    let claimed = rows.into_iter().map(parse_row).collect();
    // A failure here keeps the stand-in's records and the event as it is.
    process(conn, provider, claimed, u32::MAX, true, announce, stats)?;
    Ok(n)
}

/// Run a session's queued tool events through the provider together (it may batch them).
pub(super) fn observe_run(
    provider: &mut dyn Provider,
    run: &mut Vec<EventRow>,
    done: &mut Vec<(EventRow, Outcome)>,
) {
    if run.is_empty() {
        return;
    }
    let results = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        provider.observe_batch(run)
    })) {
        Ok(r) => r,
        // A panic in a batch: each event alone, so the culprit pays and the others do not.
        Err(_) => run
            .iter()
            .map(|ev| {
                guarded(|| provider.observe(ev))
                    .map(Observed::from)
                    .map_err(crate::provider::ProviderError)
            })
            .collect(),
    };
    let mut results = results.into_iter();
    for ev in run.drain(..) {
        let outcome = match results.next() {
            Some(Ok(o)) => Outcome::Observations(o),
            Some(Err(e)) => Outcome::Failed(e.to_string()),
            None => Outcome::Failed("the provider gave no result for this event".into()),
        };
        done.push((ev, outcome));
    }
}
