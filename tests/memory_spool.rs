//! The hook spool: nothing a hook was given is lost. When claude-memd is stopped (SIGSTOP: a
//! slow disk, a long fsync) or not running at all, claude-hook still returns at once and
//! writes the event to `$STATE/spool/`; claude-memd stores it later, exactly once — also when
//! the hook gave up on an event the daemon then committed, and when the daemon is killed in
//! the middle of draining.

#[path = "support/hook.rs"]
mod hook;
#[path = "support/memd.rs"]
mod memd;

use claude_daemons::spool::{Limits, Spool};
use memd::{hook_bin, Memd};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

/// claude-hook's deadline for tool and prompt events (the default `hook_timeout_ms`).
const DEADLINE: Duration = Duration::from_millis(300);
/// What a loaded machine may add to starting a process and writing a file; the point is that
/// a hook does not wait for the daemon, which here would be forever.
const SLACK: Duration = Duration::from_secs(2);
const CLIENTS: usize = 4;

/// Event `i` of a client: tool uses (deduplicated by `tool_use_id`) and events that only the
/// idempotency key tells apart. `test_marker` identifies it in the database.
fn event(m: &Memd, client: usize, i: usize) -> Value {
    let cwd = m.dir.path().join("work");
    let marker = format!("m-{client}-{i}");
    let session = format!("spool-{client}");
    match i % 3 {
        0 => json!({
            "session_id": session, "cwd": cwd, "hook_event_name": "PostToolUse",
            "tool_name": "Read", "tool_use_id": format!("toolu_{marker}"),
            "tool_input": {"file_path": cwd.join(format!("f{i}.rs"))},
            "tool_response": {"type": "text"}, "test_marker": marker,
        }),
        1 => json!({
            "session_id": session, "cwd": cwd, "hook_event_name": "UserPromptSubmit",
            "prompt": format!("please look at file number {i}"), "test_marker": marker,
        }),
        _ => json!({
            "session_id": session, "cwd": cwd, "hook_event_name": "Stop",
            "last_assistant_message": format!("done with {i}"), "test_marker": marker,
        }),
    }
}

/// Run claude-hook once; how long it took. It must exit 0 and print nothing.
fn hook(m: &Memd, payload: &[u8]) -> Duration {
    let started = Instant::now();
    let mut cmd = Command::new(hook_bin());
    cmd.envs(m.env());
    hook::run_silent(cmd, payload);
    started.elapsed()
}

/// `per_client` hooks from each of [`CLIENTS`] threads at once; every hook's duration.
fn fire(m: &Memd, per_client: usize) -> Vec<Duration> {
    let payloads: Vec<Vec<Vec<u8>>> = (0..CLIENTS)
        .map(|c| {
            (0..per_client)
                .map(|i| event(m, c, i).to_string().into_bytes())
                .collect()
        })
        .collect();
    let mut all: Vec<Duration> = std::thread::scope(|s| {
        let threads: Vec<_> = payloads
            .iter()
            .map(|mine| s.spawn(|| mine.iter().map(|p| hook(m, p)).collect::<Vec<_>>()))
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().expect("client thread"))
            .collect()
    });
    all.sort();
    all
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn report(what: &str, sorted: &[Duration]) {
    println!(
        "{what}: {} hooks, p50 {:?}, p99 {:?}, max {:?} (deadline {DEADLINE:?})",
        sorted.len(),
        percentile(sorted, 0.5),
        percentile(sorted, 0.99),
        sorted.last().unwrap()
    );
    let slow = sorted.last().unwrap();
    assert!(
        *slow < DEADLINE + SLACK,
        "{what}: a hook took {slow:?}; it must not wait for the daemon"
    );
}

fn spool(m: &Memd) -> Spool {
    Spool::new(&m.dir.path().join("state"))
}

/// How many times each marker is stored.
fn stored(m: &Memd) -> HashMap<String, i64> {
    let db = m.db();
    let mut q = db
        .prepare(
            "SELECT json_extract(payload, '$.test_marker'), count(*) FROM events
             WHERE json_extract(payload, '$.test_marker') IS NOT NULL GROUP BY 1",
        )
        .unwrap();
    q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Wait until the spool is empty and `expected` markers are stored, then check each once.
fn all_stored_once(m: &Memd, expected: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let left = spool(m).list().unwrap().len();
        let got = stored(m);
        if left == 0 && got.len() >= expected {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{left} events still spooled, {} of {expected} stored: {}",
            got.len(),
            m.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let got = stored(m);
    assert_eq!(got.len(), expected, "events stored");
    let twice: Vec<_> = got.iter().filter(|(_, &n)| n != 1).collect();
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
    assert_eq!(spool(m).usage().unwrap().lost, 0, "nothing lost");
}

/// `POST /v1/hook` with `key` as its idempotency key, the way a hook sends it; (status, body).
fn post_keyed(m: &Memd, key: &str, body: &str) -> (u16, String) {
    let r = m
        .client(Duration::from_secs(20))
        .request(
            "POST",
            "/v1/hook",
            &[
                ("content-type", "application/json"),
                ("idempotency-key", key),
            ],
            Some(body.as_bytes()),
        )
        .unwrap();
    (r.status, String::from_utf8_lossy(&r.body).into_owned())
}

fn signal(m: &Memd, sig: i32) {
    let pid = m.child.as_ref().unwrap().id() as i32;
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
}

#[test]
fn hooks_return_at_once_while_memd_is_stopped_and_are_stored_once_after() {
    let m = Memd::start();
    std::fs::create_dir_all(m.dir.path().join("work")).unwrap();
    signal(&m, libc::SIGSTOP);
    let times = fire(&m, 50);
    let spooled = spool(&m).list().unwrap().len();
    signal(&m, libc::SIGCONT);
    report("memd stopped by SIGSTOP", &times);
    assert_eq!(spooled, 200, "every event waited in the spool");
    // The daemon, running again, also takes the requests the hooks gave up on: those events
    // come back from the spool as duplicates (the idempotency key), not as second rows.
    all_stored_once(&m, 200);
    let (_, health) = m.get("/v1/health");
    println!("spool after drain: {}", health["spool"]);
    assert_eq!(health["spool"]["events"], 0);
}

/// Spooling's slow part (the fsync) is done while the hook still waits for a stalled daemon,
/// not after the wait, past the deadline; and when the daemon answers after all, the file is
/// thrown away and the event stored once.
#[test]
fn the_spool_file_is_written_while_the_hook_waits_and_dropped_when_the_daemon_answers() {
    // A long deadline: "while it waits" then has a margin no machine load eats (the file
    // comes 50 ms in; before, it came 29.96 s in).
    let m = Memd::start_with_config("[memory]\nhook_timeout_ms = 30000\n");
    std::fs::create_dir_all(m.dir.path().join("work")).unwrap();
    let dir = spool(&m).dir().to_path_buf();
    let temps = || {
        std::fs::read_dir(&dir).map_or(0, |rd| {
            rd.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
                .count()
        })
    };
    signal(&m, libc::SIGSTOP);
    let payload = event(&m, 0, 0).to_string();
    std::thread::scope(|s| {
        let hooked = s.spawn(|| hook(&m, payload.as_bytes()));
        let waited = Instant::now();
        while temps() == 0 {
            assert!(!hooked.is_finished(), "the hook returned without spooling");
            assert!(
                waited.elapsed() < Duration::from_secs(15),
                "no spool file written while the hook waited for the daemon"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(spool(&m).list().unwrap().is_empty(), "not spooled yet");
        signal(&m, libc::SIGCONT);
        hooked.join().unwrap();
    });
    assert_eq!(temps(), 0, "the spool file was thrown away");
    assert!(spool(&m).list().unwrap().is_empty(), "nothing spooled");
    all_stored_once(&m, 1);
}

#[test]
fn events_hooked_while_memd_is_down_are_stored_once_it_starts() {
    let mut m = Memd::start();
    std::fs::create_dir_all(m.dir.path().join("work")).unwrap();
    m.stop();
    let times = fire(&m, 125);
    report("memd not running", &times);
    let usage = spool(&m).usage().unwrap();
    assert_eq!(usage.events, 500, "{usage:?}");
    let started = Instant::now();
    m.spawn();
    all_stored_once(&m, 500);
    let secs = started.elapsed().as_secs_f64();
    println!(
        "drained 500 events in {secs:.2} s ({:.0} events/s, start included)",
        500.0 / secs
    );
}

#[test]
fn kill_9_while_draining_stores_everything_once() {
    const SPOOLED: usize = 4000;
    const COMMITTED: usize = 100;
    let mut m = Memd::start();
    std::fs::create_dir_all(m.dir.path().join("work")).unwrap();
    let s = spool(&m);
    let limits = Limits {
        max_events: 100_000,
        max_bytes: 1 << 30,
    };
    // Hooks that gave up although the daemon then committed their event: stored live with a
    // key and spooled with the same key.
    for i in 0..COMMITTED {
        let key = format!("01COMMITTED{i:05}");
        let body = event(&m, 9, i).to_string();
        let (status, answer) = post_keyed(&m, &key, &body);
        assert_eq!(status, 200, "{answer}");
        s.write(&key, body.as_bytes(), limits).unwrap();
    }
    m.stop();
    for i in 0..SPOOLED {
        let key = format!("01SPOOLED{i:06}");
        s.write(&key, event(&m, 8, i).to_string().as_bytes(), limits)
            .unwrap();
    }
    m.spawn();
    let deadline = Instant::now() + Duration::from_secs(60);
    while stored(&m).len() <= COMMITTED {
        assert!(Instant::now() < deadline, "nothing drained: {}", m.log());
        std::thread::sleep(Duration::from_millis(2));
    }
    m.kill9();
    let left = s.list().unwrap().len();
    println!(
        "killed with {left} of {} events still spooled",
        SPOOLED + COMMITTED
    );
    assert!(
        left > 0,
        "the drain finished before the kill; spool more events"
    );
    m.spawn();
    all_stored_once(&m, SPOOLED + COMMITTED);
}

#[test]
fn invalid_idempotency_keys_are_refused() {
    let m = Memd::start();
    let body = event(&m, 0, 1).to_string();
    for key in ["", "../x", "a b", &"k".repeat(129)] {
        assert_eq!(post_keyed(&m, key, &body).0, 400, "{key:?}");
    }
    assert_eq!(m.count("SELECT count(*) FROM events"), 0);
}

fn claudectl(m: &Memd, args: &[&str]) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_claudectl"));
    cmd.args(args);
    for (k, v) in m.env() {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn status_shows_the_spool_and_doctor_warns_when_it_is_stuck_or_lost_events() {
    let mut m = Memd::start();
    m.stop();
    let s = spool(&m);
    let limits = Limits {
        max_events: 2,
        max_bytes: 1 << 20,
    };
    let body = event(&m, 0, 0).to_string();
    for key in ["01OLD", "01NEW"] {
        s.write(key, body.as_bytes(), limits).unwrap();
    }
    let (_, text) = claudectl(&m, &["status"]);
    assert!(text.contains("spool: 2 event(s) waiting"), "{text}");
    let (_, json) = claudectl(&m, &["status", "--json"]);
    let status: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(status[0]["spool"]["events"], 2, "{status}");

    let spool_check = |m: &Memd| -> Value {
        let (_, json) = claudectl(m, &["doctor", "--json"]);
        let checks: Value = serde_json::from_str(&json).unwrap();
        checks
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "hook spool")
            .expect("a hook spool check")
            .clone()
    };
    let fresh = spool_check(&m);
    assert_eq!(fresh["ok"], true, "just spooled: being drained: {fresh}");
    let oldest = &s.list().unwrap()[0].path;
    std::fs::File::options()
        .write(true)
        .open(oldest)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - Duration::from_secs(600))
        .unwrap();
    let stuck = spool_check(&m);
    assert_eq!(stuck["ok"], false, "{stuck}");
    assert!(
        stuck["detail"].as_str().unwrap().contains("not storing"),
        "{stuck}"
    );

    // A third event does not fit: it is lost, and both commands say so.
    assert!(s.write("01THIRD", body.as_bytes(), limits).is_err());
    s.record_lost().unwrap();
    let lost = spool_check(&m);
    assert!(
        lost["detail"]
            .as_str()
            .unwrap()
            .contains("1 hook event(s) were lost"),
        "{lost}"
    );
    let (_, text) = claudectl(&m, &["status"]);
    assert!(text.contains("1 event(s) LOST"), "{text}");
}

#[test]
fn a_full_spool_loses_the_event_counts_it_and_the_hook_still_exits_0() {
    let mut m = Memd::start_with_config("[memory]\nspool_max_events = 3\n");
    std::fs::create_dir_all(m.dir.path().join("work")).unwrap();
    m.stop();
    for i in 0..5 {
        hook(&m, event(&m, 0, i).to_string().as_bytes());
    }
    let u = spool(&m).usage().unwrap();
    assert_eq!((u.events, u.lost), (3, 2), "{u:?}");
    m.spawn();
    let deadline = Instant::now() + Duration::from_secs(60);
    while stored(&m).len() < 3 {
        assert!(Instant::now() < deadline, "{}", m.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(spool(&m).usage().unwrap().lost, 2, "still counted");
}
