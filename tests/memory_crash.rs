//! Crash safety of the durable intake: while clients fire thousands of PostToolUse events,
//! claude-memd is killed with SIGKILL at random moments and started again. Every event that
//! was acknowledged must be in the database afterwards exactly once, and processed into
//! exactly one observation once the daemon runs again.

#[path = "support/memd.rs"]
mod memd;

use claude_daemons::http::UnixClient;
use memd::Memd;
use serde_json::json;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const CLIENTS: usize = 4;
const PER_CLIENT: usize = 1250;

/// A small xorshift generator seeded from the clock (the seed is printed for replays).
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

#[test]
fn acknowledged_events_survive_kill_9_exactly_once() {
    let mut m = Memd::start();
    let repo = m.dir.path().join("repo");
    memd::git_init(&repo);
    let socket = m.socket();
    let acked: Arc<Mutex<HashSet<String>>> = Arc::default();
    let started = Instant::now();

    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (socket, acked, repo) = (socket.clone(), acked.clone(), repo.clone());
            std::thread::spawn(move || {
                let client = UnixClient::new(&socket).timeout(Duration::from_secs(5));
                for i in 0..PER_CLIENT {
                    let id = format!("toolu_c{c}_{i}");
                    let body = json!({
                        "session_id": format!("crash-{c}"), "hook_event_name": "PostToolUse",
                        "cwd": repo, "tool_name": "Read", "tool_use_id": id,
                        "tool_input": {"file_path": repo.join(format!("f{i}.rs"))},
                        "tool_response": {"type": "text", "file": {"content": "x", "numLines": 1, "startLine": 1, "totalLines": 1}},
                    })
                    .to_string();
                    // Retry until acknowledged: a retry of an event committed before the
                    // crash must come back as a duplicate, not a second row.
                    loop {
                        match client.post_json("/v1/hook", body.as_bytes()) {
                            Ok(r) if r.status == 200 => {
                                let ack: serde_json::Value = r.json().unwrap();
                                assert!(ack["intake"] == "stored" || ack["intake"] == "duplicate", "{ack}");
                                acked.lock().unwrap().insert(id);
                                break;
                            }
                            Ok(r) => panic!("HTTP {}: {}", r.status, String::from_utf8_lossy(&r.body)),
                            Err(_) => std::thread::sleep(Duration::from_millis(5)),
                        }
                    }
                }
            })
        })
        .collect();

    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("seed {seed}");
    let mut rng = Rng(seed);
    let mut kills = 0;
    // Each kill waits for an acknowledgement since the last start, so that the daemon always
    // gets to serve between kills: on a loaded machine a start can take longer than the
    // random pause, and killing on a clock alone then makes no progress at all.
    let acks = || acked.lock().unwrap().len();
    let mut at_spawn = acks();
    while !clients.iter().all(|c| c.is_finished()) {
        std::thread::sleep(Duration::from_millis(50 + rng.next(250)));
        while acks() == at_spawn && !clients.iter().all(|c| c.is_finished()) {
            assert!(
                started.elapsed() < Duration::from_secs(600),
                "no acknowledgement for minutes; seed {seed}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        if clients.iter().all(|c| c.is_finished()) {
            break;
        }
        m.kill9();
        kills += 1;
        std::thread::sleep(Duration::from_millis(rng.next(50)));
        at_spawn = acks();
        m.spawn();
    }
    for c in clients {
        c.join().expect("client thread");
    }
    assert!(
        kills >= 2,
        "the daemon was killed only {kills} time(s); make the load longer"
    );

    // One more crash with the queue possibly non-empty, then let it finish.
    m.kill9();
    m.spawn();
    m.wait_processed();
    let acked = acked.lock().unwrap();
    assert_eq!(acked.len(), CLIENTS * PER_CLIENT);
    let db = m.db();
    let mut per_event = db
        .prepare(
            "SELECT e.tool_use_id, e.state, count(o.id) FROM events e
             LEFT JOIN observations o ON o.event_id = e.id GROUP BY e.id",
        )
        .unwrap();
    let rows: Vec<(String, String, i64)> = per_event
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut seen = HashSet::new();
    for (id, state, observations) in &rows {
        assert!(seen.insert(id.clone()), "event {id} stored twice");
        assert_eq!(state, "done", "event {id}");
        assert_eq!(
            *observations, 1,
            "event {id} has {observations} observations"
        );
    }
    for id in acked.iter() {
        assert!(
            seen.contains(id),
            "acknowledged event {id} lost (seed {seed})"
        );
    }
    println!(
        "{} events, {kills} kills, {:.1} s",
        rows.len(),
        started.elapsed().as_secs_f64()
    );
}
