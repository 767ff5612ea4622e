//! Interactive versus headless children (`BENCH_PART=interactive cargo bench --bench
//! supervisor` runs only these), with the REAL Claude Code CLI against the mock Messages API
//! (same mock, same run, interleaved so machine load hits both alike):
//!
//! 1. Cold start to ready: `PUT` a new session, then `POST …/start` (prewarm) until the
//!    child is ready (headless: its handshake; interactive: its prompt box on screen).
//! 2. Warm turn: `elapsed_ms` of an ask on a warm session; interactive both ways prompts go
//!    in (`[supervisor] interactive_input`): through the supervisor's channel (the channel
//!    feature flags on, as tests/supervisor_interactive.rs turns them on) and typed into the
//!    PTY (a second supervisor with `interactive_input = "typing"`, same mock); both ended by
//!    the Stop hook and the transcript.
//! 3. The supervisor's own RSS with 16 interactive children (the fake child's interactive
//!    mode; children are other processes, so they are not in it), next to 16 headless ones.

use crate::{claude_home, mock_anthropic, support};
use serde_json::json;
use std::ffi::OsString;
use std::time::Instant;
use support::Supervisor;

/// The lanes measured: a label, which supervisor (0: channel flags on, 1: typing only),
/// the session kind.
const LANES: [(&str, usize, &str); 3] = [
    ("headless", 0, "headless"),
    ("interactive, channel", 0, "interactive"),
    ("interactive, typing", 1, "interactive"),
];
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
    let start = |config: &str, flags: bool| {
        let mut env: Vec<(&str, OsString)> = vec![
            ("ANTHROPIC_BASE_URL", api.base_url().into()),
            ("ANTHROPIC_API_KEY", claude_home::MOCK_KEY.into()),
            ("DISABLE_TELEMETRY", "1".into()),
            ("DISABLE_AUTOUPDATER", "1".into()),
            ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".into()),
            ("RUST_LOG", "warn".into()),
        ];
        if flags {
            env.push(("CLAUDE_CODE_GB_DISK_CACHE_WHEN_TELEMETRY_OFF", "1".into()));
        }
        let s = Supervisor::start(
            &format!(
                "claude_bin = \"{}\"\nspawn_timeout_secs = 180\nmax_processes = {}\n{config}",
                mock_anthropic::claude_bin().display(),
                2 * colds + 2
            ),
            &env,
            &[],
        );
        claude_home::seed(&s.home, &s.work, true);
        s
    };
    let sups = [
        start("interactive_input = \"channel\"\n", true),
        start("interactive_input = \"typing\"\n", false),
    ];

    let mut cold_ms = [Vec::new(), Vec::new(), Vec::new()];
    for i in 0..colds {
        for (l, (label, sup, kind)) in LANES.iter().enumerate() {
            let key = format!("cold-{}-{i}", label.replace([',', ' '], ""));
            cold_ms[l].push(cold(&sups[*sup], &key, kind));
        }
    }
    for (label, sup, kind) in LANES {
        let key = format!("warm-{}", label.replace([',', ' '], ""));
        cold(&sups[sup], &key, kind);
        warm(&sups[sup], &key, 0);
        // The figure is for the way the label says.
        let info = sups[sup].session(&key);
        assert_eq!(info["input"].as_str(), label.split(", ").nth(1), "{info}");
    }
    let mut warm_ms = [Vec::new(), Vec::new(), Vec::new()];
    for i in 1..=n {
        for (l, (label, sup, _)) in LANES.iter().enumerate() {
            let key = format!("warm-{}", label.replace([',', ' '], ""));
            warm_ms[l].push(warm(&sups[*sup], &key, i));
        }
    }
    let ch = median(&mut cold_ms[0]);
    let wh = median(&mut warm_ms[0]);
    for l in 1..LANES.len() {
        let (ci, wi) = (median(&mut cold_ms[l]), median(&mut warm_ms[l]));
        let label = LANES[l].0;
        println!("cold start to ready, median of {colds}: headless {ch:.0} ms, {label} {ci:.0} ms (x{:.2})", ci / ch);
        println!(
            "warm turn, median of {n}: headless {wh:.0} ms, {label} {wi:.0} ms (x{:.2}, +{:.0} ms)",
            wi / wh,
            wi - wh
        );
    }
    drop(sups);

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
