//! The drain: moves accepted sends out of the outbox — into the inbox in local mode, to the
//! broker in broker mode. Woken on every accept, and polls every 500 ms for rows whose
//! backoff has passed. In broker mode each publish waits for its ack before the next is
//! written ([`WINDOW`]), so a sender's messages reach the stream in the order they were
//! accepted; the first failed ack ends the batch, and it and every later row are published
//! again, in order, by the next batch (the stream's `Nats-Msg-Id` dedupe answers the ones
//! it already holds as duplicates, and the receiver's `seen` table drops any that still
//! arrive twice). Consecutive DMs to one member that takes grouped envelopes are published
//! as one envelope (one signature, one publish, one ack): under load the outbox holds runs
//! of them, so the envelopes grow with the load and a burst needs few round trips.

use crate::address::Resolved;
use crate::broker::{Broker, PendingAck, PublishFailure};
use crate::mesh::Mesh;
use crate::outbox;
use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

/// Rows claimed per broker batch.
const BATCH: usize = 1024;

/// Most publishes whose ack is outstanding: one. With more, a publish still queued in the
/// client when nats-server died is sent on the next connection while the ones written
/// before it were lost with the old one, and it lands ahead of their retry: out of order
/// (tests/mesh_faults.rs saw it with 256). Grouping keeps a burst fast without that.
pub const WINDOW: usize = 1;

/// Run until shutdown.
pub async fn run(mesh: Arc<Mesh>) {
    let mut outage = 0u32;
    let mut grouping = true;
    loop {
        // Held while polling so idle exit never cuts a delivery short; a poll that found
        // nothing does not count as activity (pending sends during an outage do).
        let busy = mesh.ctx.activity.enter();
        let (pause, found_nothing) = match mesh.broker.get().cloned() {
            // Broker mode, still connecting: never deliver locally by mistake.
            None if mesh.broker_mode() => (Duration::from_millis(100), false),
            None => match mesh.deliver_local().await {
                Ok(n) if n > 0 => (Duration::ZERO, false),
                Ok(_) => (Duration::from_millis(500), true),
                Err(e) => {
                    tracing::error!(error = %e, "local delivery failed");
                    (Duration::from_secs(1), false)
                }
            },
            Some(b) => match publish_batch(&mesh, &b, &mut grouping).await {
                Ok(n) => {
                    outage = 0;
                    if n > 0 {
                        (Duration::ZERO, false)
                    } else {
                        (Duration::from_millis(500), true)
                    }
                }
                Err(why) => {
                    outage += 1;
                    if outage == 1 || outage % 20 == 0 {
                        tracing::warn!(reason = %why, "broker unavailable; sends stay pending");
                    }
                    (
                        Duration::from_millis((250u64 << outage.min(5)).min(5_000)),
                        false,
                    )
                }
            },
        };
        if found_nothing {
            busy.found_nothing();
        } else {
            drop(busy);
        }
        if pause.is_zero() {
            if mesh.ctx.shutdown.is_cancelled() {
                return;
            }
            continue;
        }
        tokio::select! {
            _ = mesh.ctx.shutdown.cancelled() => return,
            _ = mesh.wake.notified() => {}
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

/// Why a batch ended early.
struct Stop {
    /// Claimed rows not attempted: back to pending, no attempt counted.
    release: Vec<i64>,
    /// The row that failed transiently, and why (counts an attempt).
    failed: Option<(i64, String)>,
    /// For the log.
    why: String,
}

/// Publish due rows in order, reading the acks in order. Consecutive DMs to one
/// destination that takes grouped envelopes go as one (see [`units`]). Successes are
/// written to the outbox together (a crash before that write republishes them, and the
/// broker answers with duplicates). `Err` means the broker is out: the rest went back to
/// pending without counting an attempt. `grouping` turns off for good if the broker ever
/// refuses a group outright.
async fn publish_batch(
    mesh: &Arc<Mesh>,
    broker: &Arc<Broker>,
    grouping: &mut bool,
) -> Result<usize, String> {
    if !broker.connected() {
        return Err("not connected".into());
    }
    broker.ensure_ready().await.map_err(|e| e.to_string())?;
    let rows = mesh
        .db
        .call(|c| outbox::claim(c, BATCH))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let records = mesh.peers.records();
    let units = units(&rows, group_budget(broker.max_payload()), |key| {
        *grouping && records.takes_groups(key)
    });
    let mut done: Vec<(i64, i64)> = Vec::with_capacity(rows.len());
    let mut dead: Vec<(i64, String)> = Vec::new();
    let mut stop: Option<Stop> = None;
    // (unit, its pending ack), oldest first.
    let mut pending: VecDeque<(Range<usize>, PendingAck)> = VecDeque::with_capacity(WINDOW);
    let mut next = 0;
    // Each turn: read the oldest ack when the window is full or every unit was written,
    // otherwise write the next unit.
    while stop.is_none() && (next < units.len() || !pending.is_empty()) {
        if pending.len() >= WINDOW || next == units.len() {
            let Some((u, ack)) = pending.pop_front() else {
                break;
            };
            match ack.ack().await {
                Ok(seq) => done.extend(rows[u].iter().map(|r| (r.id, seq))),
                Err(f) => stop = failure(&rows[u], f, &mut dead, grouping),
            }
            continue;
        }
        let u = units[next].clone();
        let name = |s: Option<&str>| mesh.sender_name(s);
        match broker
            .start_publish(&mesh.identity, &rows[u.clone()], name)
            .await
        {
            Ok(ack) => pending.push_back((u, ack)),
            Err(f) => stop = failure(&rows[u], f, &mut dead, grouping),
        }
        next += 1;
    }
    if let Some(s) = &mut stop {
        // Rows still in the window are retried in order after the failed one: whatever of
        // them the stream already holds comes back as a duplicate with its sequence (or,
        // grouped otherwise, is dropped by the receiver's `seen` table).
        s.release.extend(
            pending
                .drain(..)
                .flat_map(|(u, _)| rows[u].iter().map(|r| r.id)),
        );
        let rest = units.get(next).map_or(rows.len(), |u| u.start);
        s.release.extend(rows[rest..].iter().map(|r| r.id));
        s.release.sort_unstable();
        s.release.dedup();
    }
    let n = done.len() + dead.len();
    let release = stop.as_ref().map(|s| (s.release.clone(), s.failed.clone()));
    mesh.db
        .call(move |c| -> rusqlite::Result<()> {
            let tx = c.transaction()?;
            for (id, seq) in done {
                outbox::mark_done(&tx, id, Some(seq))?;
            }
            for (id, e) in dead {
                outbox::mark_failed(&tx, id, &e, true)?;
            }
            if let Some((rest, failed)) = release {
                if let Some((id, e)) = failed {
                    outbox::mark_failed(&tx, id, &e, false)?;
                }
                outbox::release(&tx, &rest)?;
            }
            tx.commit()
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    match stop {
        Some(s) if n == 0 => Err(s.why),
        _ => Ok(n),
    }
}

/// Most messages in one grouped envelope.
const GROUP_MAX: usize = 256;

/// The most a group's rows may add up to by [`row_bytes`], for envelopes of at most
/// `max_payload` bytes: the box is base64 (4/3) plus a few hundred bytes of envelope.
fn group_budget(max_payload: usize) -> usize {
    max_payload.saturating_sub(4096) / 4 * 3
}

/// A bound on what `row` adds to a group's plaintext: JSON may escape a character of its
/// text fields to six, and the sender's name and the field names add less than 512.
fn row_bytes(row: &outbox::Claimed) -> usize {
    let text = row.client_message_id.len()
        + row.from_session.as_ref().map_or(0, String::len)
        + row.body.len()
        + row.reply_to.as_ref().map_or(0, String::len)
        + row.meta.as_ref().map_or(0, String::len)
        + row.created_at.len();
    6 * text + 512
}

/// Split claimed rows, in order, into publishes: a run of consecutive DMs to one
/// destination whose member `groups` (by key) is one publish of up to [`GROUP_MAX`] rows
/// within `budget` bytes; every other row is a publish of its own. Never reorders.
fn units(
    rows: &[outbox::Claimed],
    budget: usize,
    groups: impl Fn(&str) -> bool,
) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::new();
    let mut bytes = 0;
    for (i, row) in rows.iter().enumerate() {
        let size = row_bytes(row);
        if let Some(u) = out.last_mut() {
            let head = &rows[u.start];
            let same =
                matches!(row.resolved, Resolved::Direct { .. }) && row.resolved == head.resolved;
            if same && u.len() < GROUP_MAX && bytes + size <= budget {
                if let Resolved::Direct { key, .. } = &row.resolved {
                    if groups(key) {
                        u.end = i + 1;
                        bytes += size;
                        continue;
                    }
                }
            }
        }
        out.push(i..i + 1);
        bytes = size;
    }
    out
}

/// What a failed publish of `unit` (one row, or a group) does to the batch: a permanent
/// failure of one row makes it dead and the batch goes on; any other ends it (the unit
/// retried first, in order). A group the broker refuses outright turns grouping off: its
/// rows go again one by one, each with its own verdict.
fn failure(
    unit: &[outbox::Claimed],
    f: PublishFailure,
    dead: &mut Vec<(i64, String)>,
    grouping: &mut bool,
) -> Option<Stop> {
    let ids = || unit.iter().map(|r| r.id).collect::<Vec<_>>();
    let row = &unit[0];
    match f {
        PublishFailure::Permanent(e) if unit.len() > 1 => {
            tracing::warn!(error = %e, rows = unit.len(), "the broker refused a grouped envelope; sending one message per envelope from now on");
            *grouping = false;
            Some(Stop {
                release: ids(),
                failed: None,
                why: e,
            })
        }
        PublishFailure::Permanent(e) => {
            tracing::warn!(cmid = %row.client_message_id, error = %e, "send is dead");
            dead.push((row.id, e));
            None
        }
        PublishFailure::Transient(e) => {
            tracing::warn!(cmid = %row.client_message_id, rows = unit.len(), error = %e, "send failed; will retry");
            Some(Stop {
                release: ids()[1..].to_vec(),
                failed: Some((row.id, e.clone())),
                why: e,
            })
        }
        PublishFailure::Outage(e) => Some(Stop {
            release: ids(),
            failed: None,
            why: e,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, to: Resolved, body: &str) -> outbox::Claimed {
        outbox::Claimed {
            id,
            client_message_id: format!("c{id}"),
            from_session: None,
            resolved: to,
            priority: Default::default(),
            reply_to: None,
            meta: None,
            body: body.into(),
            created_at: "2026-01-01T00:00:00.000Z".into(),
            attempts: 1,
        }
    }

    fn dm(key: &str) -> Resolved {
        Resolved::Direct {
            key: key.into(),
            session: None,
        }
    }

    #[test]
    fn runs_to_one_member_that_groups_are_grouped_in_order() {
        let mut rows: Vec<_> = (0..5).map(|i| row(i, dm("kb"), "x")).collect();
        rows.push(row(5, Resolved::Broadcast, "x"));
        rows.push(row(6, Resolved::Broadcast, "x"));
        rows.extend((7..9).map(|i| row(i, dm("kc"), "x")));
        rows.extend((9..11).map(|i| row(i, dm("kb"), "x")));
        rows.push(row(
            11,
            Resolved::Direct {
                key: "kb".into(),
                session: Some("s".into()),
            },
            "x",
        ));
        let got = units(&rows, 1 << 20, |k| k == "kb");
        // kc does not announce groups; broadcasts are never grouped; another session of
        // kb is another destination.
        assert_eq!(
            got,
            vec![0..5, 5..6, 6..7, 7..8, 8..9, 9..11, 11..12],
            "never reordered, grouped only by destination"
        );
        assert!(units(&rows, 1 << 20, |_| false)
            .iter()
            .all(|u| u.len() == 1));
    }

    #[test]
    fn groups_stay_within_their_count_and_bytes() {
        let rows: Vec<_> = (0..600).map(|i| row(i, dm("kb"), "x")).collect();
        let got = units(&rows, 1 << 30, |_| true);
        assert_eq!(got, vec![0..256, 256..512, 512..600]);
        let big = "é".repeat(30_000);
        let rows: Vec<_> = (0..40).map(|i| row(i, dm("kb"), &big)).collect();
        let budget = group_budget(1 << 20);
        for u in units(&rows, budget, |_| true) {
            let bytes: usize = rows[u.clone()].iter().map(row_bytes).sum();
            assert!(u.len() == 1 || bytes <= budget, "{u:?}: {bytes}");
            // What would be sealed fits the stream's message limit.
            let plain = serde_json::to_vec(
                &rows[u]
                    .iter()
                    .map(|r| serde_json::json!({"client_message_id": r.client_message_id, "body": r.body, "from_name": "x".repeat(64), "created_at": r.created_at, "priority": "normal"}))
                    .collect::<Vec<_>>(),
            )
            .unwrap();
            assert!(plain.len() / 3 * 4 + 4096 <= 1 << 20);
        }
    }
}
