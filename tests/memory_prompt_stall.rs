//! Issue 21, item 3: one hostile prompt must not stall intake. The nested-fragment prompt
//! (`"<priv"×k + "<private></private>" + "ate></private>"×k`, quadratic for the old
//! pass-until-stable stripping, ≈ 25 minutes at this size, all of it inside the single
//! writer's transaction) and an over-long plain prompt, both at the 8 MB body limit, go
//! through `POST /v1/hook` while another session keeps sending hooks. Margins are minutes
//! against seconds so machine load cannot eat them; the figures are printed.

#[path = "support/memd.rs"]
mod memd;

use claude_daemons::api::memory::MAX_HOOK_BYTES;
use memd::{git_init, Memd};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Far above what the work takes (well under a second in release), far below what the old
/// code took (minutes).
const LIMIT: Duration = Duration::from_secs(10);

#[test]
fn a_huge_nested_prompt_neither_stalls_other_sessions_nor_itself() {
    let m = Memd::start();
    let repo = m.dir.path().join("repo");
    git_init(&repo);
    let envelope = 200;
    let k = (MAX_HOOK_BYTES - envelope) / ("<priv".len() + "ate></private>".len());
    let nested = format!(
        "{}<private></private>{}nested tail",
        "<priv".repeat(k),
        "ate></private>".repeat(k)
    );
    let plain = "a long pasted log line; ".repeat((MAX_HOOK_BYTES - envelope) / 24);
    let prompt = |sid: &str, text: &str| {
        json!({"session_id": sid, "cwd": repo, "hook_event_name": "UserPromptSubmit",
               "prompt": text})
        .to_string()
    };
    let bodies = [prompt("sess-big-1", &nested), prompt("sess-big-2", &plain)];
    for b in &bodies {
        assert!(
            b.len() <= MAX_HOOK_BYTES && b.len() > MAX_HOOK_BYTES - 4096,
            "{}",
            b.len()
        );
    }

    let done = AtomicBool::new(false);
    let (big, small) = std::thread::scope(|s| {
        let big = s.spawn(|| {
            let took: Vec<Duration> = bodies
                .iter()
                .map(|b| {
                    let t = Instant::now();
                    let (status, ack) = m.post("/v1/hook", b.as_bytes());
                    assert_eq!(status, 200, "{ack}");
                    t.elapsed()
                })
                .collect();
            done.store(true, Ordering::SeqCst);
            took
        });
        // Another session's hooks, for as long as the big ones are in flight (and a few
        // more): each must keep its latency.
        let small = s.spawn(|| {
            let mut took = Vec::new();
            let mut i = 0;
            while !done.load(Ordering::SeqCst) || i < 5 {
                let v = json!({"session_id": "sess-small", "cwd": repo,
                    "hook_event_name": "PostToolUse", "tool_name": "Bash",
                    "tool_use_id": format!("t{i}"),
                    "tool_input": {"command": "ls"}, "tool_response": {"stdout": "a"}});
                let t = Instant::now();
                let (status, ack) = m.post("/v1/hook", v.to_string().as_bytes());
                assert_eq!(status, 200, "{ack}");
                took.push(t.elapsed());
                i += 1;
            }
            took
        });
        (big.join().unwrap(), small.join().unwrap())
    });
    let worst = small.iter().max().unwrap();
    eprintln!(
        "8 MB nested prompt: {:?}; 8 MB plain prompt: {:?}; other session: {} hooks, worst {:?}",
        big[0],
        big[1],
        small.len(),
        worst
    );
    assert!(big.iter().all(|t| *t < LIMIT), "big prompts took {big:?}");
    assert!(*worst < LIMIT, "another session's hook waited {worst:?}");

    // What was stored: the nested fragments are gone (they re-form private tags), the
    // plain prompt is clipped with a marker, the other session's events all arrived.
    let db = m.db();
    let text = |sid: &str| -> String {
        db.query_row(
            "SELECT prompt_text FROM user_prompts WHERE session_id = ?1",
            [sid],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(text("sess-big-1"), "nested tail");
    let clipped = text("sess-big-2");
    assert!(
        clipped.contains("characters elided]"),
        "{}",
        &clipped[..100]
    );
    assert!(clipped.chars().count() <= 64_000, "{}", clipped.len());
    assert!(clipped.starts_with("a long pasted log line; "));
    assert_eq!(
        m.count("SELECT count(*) FROM events WHERE session_id = 'sess-small'"),
        small.len() as i64
    );
    assert!(m.log().contains("prompt clipped"), "{}", m.log());
}
