//! claude-supervisord figures, with the REAL Claude Code CLI against the mock Messages API:
//!
//! 1. Warm-turn overhead: the same kind of warm `claude` child driven directly over
//!    stdin/stdout (baseline) versus through `POST /v1/sessions/{key}/ask`, interleaved.
//! 2. Warm versus cold ask (spawn + handshake + turn).
//! 3. 16 sessions with turns in flight at once: the supervisor's own RSS (children are
//!    other processes, so they are not in it).
//! 4. Streamed `POST /v1/chat/completions` versus the streamed native ask (fake child).
//! 5. Warm ask after prewarm (`POST …/start`) versus cold.
//! 6. A permission round trip (can_use_tool → session rule → tool run) versus the same turn
//!    with the tool allowed inside Claude Code (`--allowedTools Bash`: no prompt).
//!
//! 7. Interactive versus headless children: cold start to ready, warm turn, and the
//!    supervisor's RSS with 16 interactive children (`supervisor_parts/interactive.rs`).
//!
//! Run: `cargo bench --bench supervisor` (env `BENCH_TURNS` changes the sample count;
//! `BENCH_PART=interactive` runs only figure 7). `cargo bench --bench supervisor -- fleet`
//! measures a fleet of supervisors instead (`supervisor_parts/fleet.rs`).

#[path = "../tests/support/claude_home.rs"]
mod claude_home;
#[path = "supervisor_parts/fleet.rs"]
mod fleet;
#[path = "supervisor_parts/interactive.rs"]
mod interactive;
#[path = "../tests/support/mock_anthropic.rs"]
mod mock_anthropic;
#[path = "../tests/support/nats.rs"]
mod nats;
#[path = "../tests/support/repo.rs"]
mod repo;
#[path = "../tests/supervisor_support/mod.rs"]
mod support;

use claude_daemons::http::UnixClient;
use mock_anthropic::{has_tool_result, newest_prompt, MockApi, Reply};
use serde_json::{json, Value};
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};
use support::Supervisor;

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

/// A claude child driven by hand, as the supervisor would drive it.
struct Direct {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Direct {
    fn start(mut cmd: std::process::Command, work: &std::path::Path) -> Direct {
        let mut child = cmd
            .current_dir(work)
            .args([
                "-p",
                "--input-format",
                "stream-json",
                "--output-format",
                "stream-json",
                "--verbose",
                "--include-partial-messages",
                "--session-id",
                "00000000-0000-4000-8000-00000000b001",
                "--allowedTools",
                "Read",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut d = Direct {
            child,
            stdin,
            stdout,
        };
        d.send(
            &json!({"type":"control_request","request_id":"i","request":{"subtype":"initialize"}}),
        );
        d.until("control_response");
        d
    }

    fn send(&mut self, v: &Value) {
        writeln!(self.stdin, "{v}").unwrap();
        self.stdin.flush().unwrap();
    }

    fn until(&mut self, kind: &str) -> Value {
        let mut line = String::new();
        loop {
            line.clear();
            assert!(self.stdout.read_line(&mut line).unwrap() > 0, "child ended");
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["type"] == kind {
                return v;
            }
        }
    }

    fn turn(&mut self, prompt: &str) -> Duration {
        let t = Instant::now();
        self.send(&json!({"type":"user","message":{"role":"user","content":prompt},"parent_tool_use_id":null,"session_id":null}));
        let r = self.until("result");
        assert_eq!(r["is_error"], false, "{r}");
        t.elapsed()
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Warm turns through the supervisor and directly, interleaved so drift and the load of a
/// shared machine hit both alike. Returns (direct p50, supervisor p50) in ms.
fn warm(
    label: &str,
    n: usize,
    direct: &mut Direct,
    ask: &dyn Fn(&str, &str) -> Value,
) -> (f64, f64) {
    ask("bench-warm", "warm up");
    direct.turn("warm up");
    let (mut base, mut sup, mut diff) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let b = direct.turn(&format!("turn {i}")).as_secs_f64() * 1e3;
        let t = Instant::now();
        let r = ask("bench-warm", &format!("turn {i}"));
        let v = t.elapsed().as_secs_f64() * 1e3;
        assert_eq!(r["cold"], false);
        base.push(b);
        sup.push(v);
        diff.push(v - b);
    }
    let (b50, b99) = (pct(&mut base, 0.5), pct(&mut base, 0.99));
    let (s50, s99) = (pct(&mut sup, 0.5), pct(&mut sup, 0.99));
    println!("warm turn, {label}, {n} samples each (ms):");
    println!("  direct stdin/stdout  p50 {b50:8.3}  p99 {b99:8.3}");
    println!("  via supervisor       p50 {s50:8.3}  p99 {s99:8.3}");
    println!(
        "  added at p50: {:.3} ms (ratio {:.3}); median of paired differences {:.3} ms",
        s50 - b50,
        s50 / b50,
        pct(&mut diff, 0.5)
    );
    (b50, s50)
}

/// Streamed chat completions against the streamed native ask on the same warm session,
/// interleaved (the fake child answers in microseconds: what is left is ours).
fn chat_versus_ask(s: &Supervisor, n: usize) {
    let work = s.work.display().to_string();
    let ask_body = json!({"prompt": "hello", "cwd": work}).to_string();
    let chat_body = json!({"model": "claude-code", "stream": true, "user": "bench-chat",
                           "messages": [{"role": "user", "content": "hello"}]})
    .to_string();
    let (st, _) = s.put("/v1/sessions/bench-chat", &json!({"cwd": work}));
    assert_eq!(st, 200);
    let (mut native, mut chat) = (Vec::new(), Vec::new());
    for i in 0..=n {
        let t = Instant::now();
        let (st, ev) = support::sse(
            &s.socket,
            "POST",
            "/v1/sessions/bench-chat/ask",
            Some(&ask_body),
            None,
        );
        let a = t.elapsed().as_secs_f64() * 1e3;
        assert!(
            st == 200 && ev.last().is_some_and(|e| e.event == "result"),
            "{ev:?}"
        );
        let t = Instant::now();
        let (st, ev) = support::sse(
            &s.socket,
            "POST",
            "/v1/chat/completions",
            Some(&chat_body),
            None,
        );
        let c = t.elapsed().as_secs_f64() * 1e3;
        assert!(
            st == 200 && ev.last().is_some_and(|e| e.data == "[DONE]"),
            "{ev:?}"
        );
        if i > 0 {
            native.push(a);
            chat.push(c);
        }
    }
    let (a50, c50) = (pct(&mut native, 0.5), pct(&mut chat, 0.5));
    println!(
        "streamed turn, fake child, {n} samples each: native ask p50 {a50:.3} ms; /v1/chat/completions p50 {c50:.3} ms; added {:.3} ms",
        c50 - a50
    );
}

fn asker(s: &Supervisor) -> impl Fn(&str, &str) -> Value + Sync + '_ {
    let client = UnixClient::new(&s.socket).timeout(Duration::from_secs(120));
    let work = s.work.display().to_string();
    move |key: &str, prompt: &str| -> Value {
        let body = json!({"prompt": prompt, "cwd": work, "allowed_tools": ["Read"]});
        let r = client
            .post_json(
                &format!("/v1/sessions/{key}/ask"),
                body.to_string().as_bytes(),
            )
            .unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.json().unwrap()
    }
}

fn main() {
    if std::env::args().skip(1).any(|a| a == "fleet") {
        fleet::main();
        return;
    }
    let n: usize = std::env::var("BENCH_TURNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    if std::env::var("BENCH_PART").as_deref() == Ok("interactive") {
        return interactive::run(n);
    }

    // 0. The supervisor's own cost, measured where the child costs nothing: the fake child
    // (examples/fake_claude.rs) answers in microseconds.
    let fake = support::fake_claude();
    // Logging as in production (no debug lines).
    let quiet = [("RUST_LOG", OsString::from("warn"))];
    let fs = Supervisor::start(
        &format!("claude_bin = \"{}\"\n", fake.display()),
        &quiet,
        &[],
    );
    let mut cmd = std::process::Command::new(&fake);
    cmd.env_remove("CLAUDECODE");
    let mut direct = Direct::start(cmd, &fs.work);
    warm("fake child", n * 5, &mut direct, &asker(&fs));
    let _ = direct.child.kill();
    let _ = direct.child.wait();
    chat_versus_ask(&fs, n * 5);
    drop(fs);

    let api = MockApi::start(|req| match newest_prompt(req).strip_prefix("TOUCH ") {
        Some(path) if !has_tool_result(req) => Reply::Tool {
            name: "Bash".into(),
            input: json!({"command": format!("touch {}", path.trim()), "description": "touch"}),
        },
        _ => Reply::Text("ok".into()),
    });
    let bin = mock_anthropic::claude_bin();
    let env: Vec<(&str, OsString)> = vec![
        ("ANTHROPIC_BASE_URL", api.base_url().into()),
        ("ANTHROPIC_API_KEY", "sk-ant-mock-key".into()),
        ("DISABLE_TELEMETRY", "1".into()),
        ("DISABLE_AUTOUPDATER", "1".into()),
        ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".into()),
        ("RUST_LOG", "warn".into()),
    ];
    let s = Supervisor::start(
        &format!("claude_bin = \"{}\"\nmax_processes = 32\n", bin.display()),
        &env,
        &[],
    );
    let client = UnixClient::new(&s.socket).timeout(Duration::from_secs(120));
    let ask = asker(&s);

    // 1. Warm turns with the real CLI.
    let mut direct = Direct::start(mock_anthropic::claude_command(&api, &s.home), &s.work);
    let (_, s50) = warm("real claude", n, &mut direct, &ask);
    let _ = direct.child.kill();
    let _ = direct.child.wait();

    // 2. Cold asks: a new session each time.
    let cold_n = (n / 8).max(5);
    let mut cold = Vec::new();
    for i in 0..cold_n {
        let t = Instant::now();
        let r = ask(&format!("bench-cold-{i}"), "hello");
        cold.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(r["cold"], true);
        let _ = client.request("DELETE", &format!("/v1/sessions/bench-cold-{i}"), &[], None);
    }
    let c50 = pct(&mut cold, 0.5);
    println!("cold ask (spawn + handshake + turn), {cold_n} samples: p50 {c50:.1} ms");
    println!("  cold / warm at p50: {:.1}x", c50 / s50);

    // 5. The first ask after a prewarm.
    let mut pre = Vec::new();
    for i in 0..cold_n {
        let key = format!("bench-pre-{i}");
        let (st, v) = s.put(
            &format!("/v1/sessions/{key}"),
            &json!({"cwd": s.work.display().to_string(), "allowed_tools": ["Read"]}),
        );
        assert_eq!(st, 200, "{v}");
        let (st, v) = s.post(&format!("/v1/sessions/{key}/start"), &json!({}));
        assert_eq!(st, 200, "{v}");
        let t = Instant::now();
        let r = ask(&key, "hello");
        pre.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(r["cold"], false, "{r}");
        let _ = client.request("DELETE", &format!("/v1/sessions/{key}"), &[], None);
    }
    let p50 = pct(&mut pre, 0.5);
    println!("first ask after prewarm, {cold_n} samples: p50 {p50:.1} ms; cold / prewarmed at p50: {:.1}x", c50 / p50);

    // 6. Permission round trip through the supervisor, against no prompt at all.
    let (mut cli, mut relayed) = (Vec::new(), Vec::new());
    let work = s.work.display().to_string();
    for (key, body) in [
        (
            "bench-cli-allows",
            json!({"cwd": work, "allowed_tools": ["Bash"]}),
        ),
        (
            "bench-rule-allows",
            json!({"cwd": work, "permission_rules": {"allow": ["Bash(touch:*)"]}}),
        ),
    ] {
        assert_eq!(s.put(&format!("/v1/sessions/{key}"), &body).0, 200);
        assert_eq!(
            s.post(&format!("/v1/sessions/{key}/start"), &json!({})).0,
            200
        );
    }
    let touch = |key: &str, i: usize| {
        let prompt = format!("TOUCH {work}/{key}-{i}");
        // Not `ask`: its body names allowed_tools, which would replace the session's.
        let t = Instant::now();
        let r = client
            .post_json(
                &format!("/v1/sessions/{key}/ask"),
                json!({ "prompt": prompt }).to_string().as_bytes(),
            )
            .unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let r: Value = r.json().unwrap();
        assert_eq!(r["is_error"], false, "{r}");
        t.elapsed().as_secs_f64() * 1e3
    };
    for i in 0..(n / 2).max(10) {
        cli.push(touch("bench-cli-allows", i));
        relayed.push(touch("bench-rule-allows", i));
    }
    let (a50, b50) = (pct(&mut cli, 0.5), pct(&mut relayed, 0.5));
    println!(
        "tool turn, {} samples each: allowed in Claude Code p50 {a50:.1} ms; can_use_tool answered by a session rule p50 {b50:.1} ms; round trip adds {:.2} ms at p50",
        cli.len(),
        b50 - a50
    );

    // 3. 16 sessions with turns in flight at once.
    let pid = s.proc.id();
    let idle_rss = rss_kib(pid);
    let mut peak = idle_rss;
    let rounds = 4;
    let t = Instant::now();
    for round in 0..rounds {
        let done = std::sync::atomic::AtomicUsize::new(0);
        let done = &done;
        std::thread::scope(|sc| {
            for k in 0..16 {
                let ask = &ask;
                sc.spawn(move || {
                    ask(&format!("bench-par-{k}"), &format!("round {round}"));
                    done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                });
            }
            while done.load(std::sync::atomic::Ordering::SeqCst) < 16 {
                peak = peak.max(rss_kib(pid));
                std::thread::sleep(Duration::from_millis(5));
            }
        });
    }
    let (_, h) = s.get("/v1/health");
    println!(
        "16 concurrent sessions x {rounds} rounds in {:.1} s: supervisor RSS {:.1} MiB before, peak {:.1} MiB (children: {})",
        t.elapsed().as_secs_f64(),
        idle_rss as f64 / 1024.0,
        peak as f64 / 1024.0,
        h["children"]
    );
    drop(ask);
    drop(s);

    // 7. Interactive versus headless children.
    interactive::run((n / 5).max(10));
}
