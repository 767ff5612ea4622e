//! Interactive versus headless children (`BENCH_PART=interactive cargo bench --bench
//! supervisor` runs only these), with the REAL Claude Code CLI against the mock Messages API
//! (same mock, same run, interleaved so machine load hits both alike):
//!
//! 1. Cold start to ready: `PUT` a new session, then `POST …/start` (prewarm) until the
//!    child is ready (headless: its handshake; interactive: its prompt box on screen).
//! 2. Warm turn: `elapsed_ms` of an ask on a warm session (interactive: typed into the PTY,
//!    ended by the Stop hook and the transcript).
//! 3. The supervisor's own RSS with 16 interactive children (the fake child's interactive
//!    mode; children are other processes, so they are not in it), next to 16 headless ones.

use crate::{claude_home, mock_anthropic, support};
use serde_json::json;
use std::ffi::OsString;
use std::time::Instant;
use support::Supervisor;

const KINDS: [&str; 2] = ["headless", "interactive"];

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

use crate::rss_kib;

/// Create `key` of `kind` and prewarm it; milliseconds until it is ready.
fn cold(s: &Supervisor, key: &str, kind: &str) -> f64 {
    let (st, v) = s.put(
        &format!("/v1/sessions/{key}"),
        &json!({"kind": kind, "cwd": s.work.display().to_string()}),
    );
    assert_eq!(st, 200, "{v}");
    let t = Instant::now();
    let (st, v) = s.post(&format!("/v1/sessions/{key}/start"), &json!({}));
    assert_eq!(st, 200, "{v}\n{}", s.log());
    t.elapsed().as_secs_f64() * 1000.0
}

fn warm(s: &Supervisor, key: &str, i: usize) -> f64 {
    let (st, r) = s.ask(key, json!({"prompt": format!("turn {i}")}));
    assert_eq!(st, 200, "{r}\n{}", s.log());
    assert_eq!(r["cold"], false);
    r["elapsed_ms"].as_f64().unwrap()
}

/// Run the figures with `n` warm turns per kind (cold starts: a fifth, at least 3).
pub fn run(n: usize) {
    let colds = (n / 5).max(3);

    let (api, _release) = mock_anthropic::echo_with_release();
    let env: Vec<(&str, OsString)> = vec![
        ("ANTHROPIC_BASE_URL", api.base_url().into()),
        ("ANTHROPIC_API_KEY", claude_home::MOCK_KEY.into()),
        ("DISABLE_TELEMETRY", "1".into()),
        ("DISABLE_AUTOUPDATER", "1".into()),
        ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".into()),
        ("RUST_LOG", "warn".into()),
    ];
    let s = Supervisor::start(
        &format!(
            "claude_bin = \"{}\"\nspawn_timeout_secs = 180\nmax_processes = {}\n",
            mock_anthropic::claude_bin().display(),
            2 * colds + 2
        ),
        &env,
        &[],
    );
    claude_home::seed(&s.home, &s.work, true);

    let mut cold_ms = [Vec::new(), Vec::new()];
    for i in 0..colds {
        for (k, kind) in KINDS.iter().enumerate() {
            cold_ms[k].push(cold(&s, &format!("cold-{kind}-{i}"), kind));
        }
    }
    for kind in KINDS {
        cold(&s, &format!("warm-{kind}"), kind);
        warm(&s, &format!("warm-{kind}"), 0);
    }
    let mut warm_ms = [Vec::new(), Vec::new()];
    for i in 1..=n {
        for (k, kind) in KINDS.iter().enumerate() {
            warm_ms[k].push(warm(&s, &format!("warm-{kind}"), i));
        }
    }
    let (ch, ci) = (median(&mut cold_ms[0]), median(&mut cold_ms[1]));
    let (wh, wi) = (median(&mut warm_ms[0]), median(&mut warm_ms[1]));
    println!("cold start to ready, median of {colds}: headless {ch:.0} ms, interactive {ci:.0} ms (x{:.2})", ci / ch);
    println!(
        "warm turn, median of {n}: headless {wh:.0} ms, interactive {wi:.0} ms (x{:.2}, +{:.0} ms)",
        wi / wh,
        wi - wh
    );
    drop(s);

    // The supervisor's own memory with 16 children of each kind (fake child: the figure is
    // the supervisor's, and a fake keeps 16 real CLIs off a small machine).
    for kind in KINDS {
        let s = Supervisor::start(
            &format!(
                "claude_bin = \"{}\"\nmax_processes = 16\n",
                support::fake_claude().display()
            ),
            &[
                ("RUST_LOG", OsString::from("warn")),
                ("FAKE_CLAUDE_TRUSTED", OsString::from("1")),
            ],
            &[],
        );
        let before = rss_kib(s.proc.id());
        for i in 0..16 {
            let key = format!("rss-{i}");
            cold(&s, &key, kind);
            let (st, r) = s.ask(&key, json!({"prompt": "hello"}));
            assert_eq!(st, 200, "{r}");
        }
        let after = rss_kib(s.proc.id());
        println!(
            "supervisor RSS with 16 {kind} children (fake child): {} KiB (idle: {before} KiB)",
            after
        );
    }
}
