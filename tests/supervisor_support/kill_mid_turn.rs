//! One crash scenario for every kind of child of the real Claude Code (headless and
//! interactive): `kill -9` of the child while its turn waits for a mock that answers after a
//! minute. Included by the test files that start a supervisor against the mock API.

use crate::mock_anthropic::MockApi;
use crate::support::{alive, Supervisor};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A warm session `k`, its child killed mid-turn (`prompt` must start with `SLOW60000`): the
/// turn fails within 20 s with `child_exited` (so the kill ended it, not the mock), and the
/// next ask starts a new child that answers. `ask` is the caller's way to ask.
pub fn kill_9_mid_turn_then_ask(
    s: &Supervisor,
    api: &MockApi,
    release: &AtomicBool,
    ask: fn(&Supervisor, &str, &str) -> (u16, Value),
    prompt: &str,
) {
    assert_eq!(ask(s, "k", "hello").0, 200, "{}", s.log());
    let pid = s.session("k")["pid"].as_u64().unwrap() as u32;
    std::thread::scope(|sc| {
        let turn = sc.spawn(|| ask(s, "k", prompt));
        s.wait_for(
            "the request to reach the mock",
            Duration::from_secs(60),
            |_| !api.requests_containing(prompt).is_empty(),
        );
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        let t = Instant::now();
        let (st, r) = turn.join().unwrap();
        assert_eq!(st, 502, "{r}");
        assert_eq!(r["error"], "child_exited");
        assert!(r["message"].as_str().unwrap().contains("signal 9"), "{r}");
        assert!(t.elapsed() < Duration::from_secs(20), "failed promptly");
    });
    release.store(true, Ordering::SeqCst);
    assert!(!alive(pid));
    let (st, r) = ask(s, "k", "after the crash");
    assert_eq!(st, 200, "{r}\n{}", s.log());
    assert_eq!(r["result"], "answer: after the crash");
}
