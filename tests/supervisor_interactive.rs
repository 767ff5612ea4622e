//! claude-supervisord running the REAL Claude Code CLI interactively ("kind":
//! "interactive": its terminal UI under a PTY the supervisor owns) against the mock
//! Messages API: the trust dialog cleared on screen, answers from the Stop hook,
//! conversations that continue, --resume after a supervisor restart, kill -9 and interrupt
//! mid-turn, the screen, and `claudectl sup attach` under a second PTY. Prompts go in
//! through the supervisor's channel when Claude Code's channel feature flags are on (HOME's
//! flag cache read), else typed: both paths are checked, each asserting which one it took.

#[path = "support/claude_home.rs"]
mod claude_home;
#[path = "supervisor_support/kill_mid_turn.rs"]
mod kill_mid_turn;
#[path = "support/mock_anthropic.rs"]
mod mock_anthropic;
#[path = "support/repo.rs"]
mod repo;
#[path = "supervisor_support/mod.rs"]
mod support;

use mock_anthropic::{last_user_text, MockApi};
use serde_json::{json, Value};
use std::ffi::OsString;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use support::Supervisor;

/// A supervisor whose interactive children are the real CLI, with an untrusted workspace
/// (so the trust dialog shows at the first start), the channel feature flags off (the
/// cache in HOME is not read offline), `interactive_input` at its default (`auto`).
fn start(api: &MockApi) -> Supervisor {
    start_with(api, "", false)
}

/// The same, with more `[supervisor]` config, and with `flags` the channel feature flags
/// on (read from HOME's cache, as tests/mesh_channel_claude_code.rs does).
fn start_with(api: &MockApi, config: &str, flags: bool) -> Supervisor {
    let bin = mock_anthropic::claude_bin();
    let mut env: Vec<(&str, OsString)> = vec![
        ("ANTHROPIC_BASE_URL", api.base_url().into()),
        ("ANTHROPIC_API_KEY", claude_home::MOCK_KEY.into()),
        ("DISABLE_TELEMETRY", "1".into()),
        ("DISABLE_AUTOUPDATER", "1".into()),
        ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".into()),
    ];
    if flags {
        env.push(("CLAUDE_CODE_GB_DISK_CACHE_WHEN_TELEMETRY_OFF", "1".into()));
    }
    // Start-up under load can be slow; the bound only stops a wedged child.
    let s = Supervisor::start(
        &format!(
            "claude_bin = \"{}\"\nspawn_timeout_secs = 180\nrestart_base_ms = 200\n{config}",
            bin.display()
        ),
        &env,
        &[],
    );
    claude_home::seed(&s.home, &s.work, false);
    s
}

fn ask(s: &Supervisor, key: &str, prompt: &str) -> (u16, Value) {
    s.ask(
        key,
        json!({"prompt": prompt, "cwd": s.work.display().to_string(), "kind": "interactive",
            "timeout_ms": 180_000}),
    )
}

fn screen(s: &Supervisor, key: &str) -> String {
    let (st, v) = s.get(&format!("/v1/sessions/{key}/screen"));
    assert_eq!(st, 200, "{v}");
    v["text"].as_str().unwrap().to_string()
}

#[test]
fn an_interactive_session_answers_continues_and_resumes_after_a_restart() {
    let (api, _release) = mock_anthropic::echo_with_release();
    let mut s = start(&api);
    let (st, r) = ask(&s, "tui", "first question");
    assert_eq!(st, 200, "{r}\n{}", s.log());
    assert_eq!(r["result"], "answer: first question", "{r}");
    assert_eq!(r["is_error"], false);
    assert_eq!(r["cold"], true);
    let id = r["session_id"].as_str().unwrap().to_string();
    let info = s.session("tui");
    assert_eq!(info["kind"], "interactive");
    // The channel flags are off: Claude Code skipped the channel, the prompt was typed.
    assert_eq!(info["input"], "typing", "{info}");
    let typed = api.requests_containing("first question");
    assert!(
        typed
            .iter()
            .all(|q| !last_user_text(q).contains("<channel")),
        "{typed:?}"
    );
    assert_eq!(info["session_id"], id);
    // The trust dialog was answered: the workspace is trusted now.
    let cfg = std::fs::read_to_string(s.home.join(".claude.json")).unwrap();
    assert!(cfg.contains("hasTrustDialogAccepted"), "{cfg}");
    // The screen catches up with the transcript (Claude Code draws after the hook).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = screen(&s, "tui");
        if text.contains("answer: first question") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the answer is not on screen:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Streamed: the model's message from the transcript as it is written, then the result.
    let (st, events) = s.ask_sse(
        "tui",
        json!({"prompt": "second question", "kind": "interactive", "timeout_ms": 180_000}),
    );
    assert_eq!(st, 200);
    let last = events.last().unwrap();
    assert_eq!(last.event, "result", "{events:?}");
    let r: Value = serde_json::from_str(&last.data).unwrap();
    assert!(
        events.iter().any(|e| e.event == "message"
            && e.data.contains("\"type\":\"assistant\"")
            && e.data.contains("answer: second question")),
        "{events:?}"
    );
    assert_eq!(r["result"], "answer: second question");
    assert_eq!(r["cold"], false, "the same process");
    let seen = api.requests_containing("second question");
    assert!(
        seen.iter()
            .any(|q| q.to_string().contains("answer: first question")),
        "the model saw the earlier turn"
    );

    // A new supervisor: the child comes back with --resume and the conversation.
    assert_eq!(s.restart(), 0);
    let (st, r) = ask(&s, "tui", "third question");
    assert_eq!(st, 200, "{r}\n{}", s.log());
    assert_eq!(r["result"], "answer: third question");
    assert_eq!(r["session_id"], id);
    let seen = api.requests_containing("third question");
    assert!(
        seen.iter().any(|q| q.to_string().contains("first question")
            && q.to_string().contains("answer: second question")),
        "resumed with history"
    );
    let (_, status) = s.get("/v1/status");
    let spawned: Vec<&Value> = status["recent_events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "spawned")
        .collect();
    assert_eq!(spawned[0]["detail"], format!("--resume {id}"));
    // Its debug log is under the state directory.
    let debug = s
        .dir
        .path()
        .join(format!("state/interactive/{id}/debug.log"));
    assert!(debug.is_file(), "{}", debug.display());
}

#[test]
fn interrupt_stops_a_long_turn() {
    let (api, release) = mock_anthropic::echo_with_release();
    interrupt_stops_a_long_turn_of(&start(&api), &api, &release, "typing");
}

#[test]
fn interrupt_stops_a_long_turn_that_came_through_the_channel() {
    let (api, release) = mock_anthropic::echo_with_release();
    let s = start_with(&api, "interactive_input = \"channel\"\n", true);
    interrupt_stops_a_long_turn_of(&s, &api, &release, "channel");
}

fn interrupt_stops_a_long_turn_of(
    s: &Supervisor,
    api: &MockApi,
    release: &std::sync::atomic::AtomicBool,
    input: &str,
) {
    assert_eq!(ask(s, "k", "hello").0, 200, "{}", s.log());
    assert_eq!(s.session("k")["input"], input);
    std::thread::scope(|sc| {
        // The mock answers after a minute: a turn that ends within 20 s was interrupted.
        let turn = sc.spawn(|| ask(s, "k", "SLOW60000 long one"));
        s.wait_for(
            "the request to reach the mock",
            Duration::from_secs(60),
            |_| !api.requests_containing("SLOW60000 long one").is_empty(),
        );
        let t = Instant::now();
        let (st, r) = s.post("/v1/sessions/k/interrupt", &json!({}));
        assert_eq!((st, &r["interrupted"]), (200, &json!(true)), "{r}");
        while !turn.is_finished() {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "the interrupted turn goes on; screen:\n{}",
                screen(s, "k")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let (st, r) = turn.join().unwrap();
        assert_eq!(st, 200, "{r}");
        assert_eq!(r["is_error"], true, "{r}");
        assert_eq!(r["subtype"], "error_during_execution");
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "stopped before the mock answered"
        );
    });
    release.store(true, Ordering::SeqCst);
    let (st, r) = ask(s, "k", "after the interrupt");
    assert_eq!(
        (st, r["result"].as_str()),
        (200, Some("answer: after the interrupt")),
        "{r}"
    );
}

#[test]
fn kill_9_mid_turn_fails_the_turn_and_the_next_ask_works() {
    let (api, release) = mock_anthropic::echo_with_release();
    let s = start(&api);
    kill_mid_turn::kill_9_mid_turn_then_ask(&s, &api, &release, ask, "SLOW60000 killed one");
}

#[test]
fn kill_9_mid_turn_through_the_channel_and_the_next_process_connects_its_own() {
    let (api, release) = mock_anthropic::echo_with_release();
    let s = start_with(&api, "interactive_input = \"channel\"\n", true);
    kill_mid_turn::kill_9_mid_turn_then_ask(&s, &api, &release, ask, "SLOW60000 killed one");
    // The new process's own channel (its debug log read anew, its server matched on the key).
    assert_eq!(s.session("k")["input"], "channel");
}

#[test]
fn attach_shows_the_conversation_and_ctrl_bracket_detaches() {
    let (api, _release) = mock_anthropic::echo_with_release();
    let s = start(&api);
    assert_eq!(ask(&s, "a", "visible question").0, 200, "{}", s.log());
    let pid = s.session("a")["pid"].as_u64().unwrap();

    let (pty, pts) = pty_process::blocking::open().unwrap();
    let pty = std::sync::Arc::new(pty);
    pty.resize(pty_process::Size::new(50, 200)).unwrap();
    let mut child = pty_process::blocking::Command::new(env!("CARGO_BIN_EXE_claudectl"))
        .args(["sup", "attach", "a"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &s.home)
        .env("CLAUDE_DAEMONS_RUNTIME_DIR", s.dir.path().join("run"))
        .env("CLAUDE_DAEMONS_STATE_DIR", s.dir.path().join("state"))
        .spawn(pts)
        .unwrap();
    let size = |n| std::num::NonZeroU16::new(n).unwrap();
    let mut seen = vt100::Parser::new(size(50), size(200), 0);
    let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let reader = {
        let out = out.clone();
        let pty = pty.clone();
        std::thread::spawn(move || {
            use std::io::Read;
            let mut buf = [0u8; 8192];
            while let Ok(n) = (&*pty).read(&mut buf) {
                if n == 0 {
                    break;
                }
                out.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // (the screen so far is in `seen`)
        seen.process(&std::mem::take(&mut *out.lock().unwrap()));
        if seen
            .screen()
            .contents()
            .contains("answer: visible question")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the attached terminal does not show the conversation:\n{}",
            seen.screen().contents()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_, v) = s.get("/v1/sessions/a/screen");
    assert_eq!(
        (v["viewers"].as_u64(), v["typist"].as_bool()),
        (Some(1), Some(true)),
        "{v}"
    );
    // A second typist is refused while the first is there; a watcher is not.
    let other = |q: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_claudectl"))
            .args(["sup", "attach", "a"])
            .args((!q.is_empty()).then_some(q))
            .env("CLAUDE_DAEMONS_RUNTIME_DIR", s.dir.path().join("run"))
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, err) = other("");
    assert!(!ok && err.contains("someone else is typing"), "{err}");
    let (ok, err) = other("--read-only");
    assert!(
        ok,
        "a watcher with no input detaches at end of input: {err}"
    );
    {
        use std::io::Write;
        (&*pty).write_all(&[0x1d]).unwrap();
    }
    let st = child.wait().unwrap();
    assert!(st.success(), "{st:?}");
    drop(reader);
    let info = s.session("a");
    assert_eq!(info["pid"].as_u64(), Some(pid), "the session went on");
    let (_, v) = s.get("/v1/sessions/a/screen");
    assert_eq!(v["viewers"], 0, "{v}");
    let (st, r) = ask(&s, "a", "after detaching");
    assert_eq!(
        (st, r["result"].as_str()),
        (200, Some("answer: after detaching")),
        "{r}"
    );
}

#[test]
fn with_the_channel_flags_on_prompts_go_through_the_supervisors_channel() {
    use mock_anthropic::{newest_prompt, Reply};
    const REPLY_TOOL: &str = "mcp__claude-supervisord__reply";
    let api = MockApi::start(|req| {
        let prompt = newest_prompt(req);
        // (Claude Code puts more after the tool's result: look for it anywhere; the reply
        // is this test's last turn.)
        if req.to_string().contains("\"tool_result\"") {
            Reply::Text("done after the reply".into())
        } else if prompt.contains("report progress") {
            Reply::Tool {
                name: REPLY_TOOL.into(),
                input: json!({"text": "halfway there", "final": false}),
            }
        } else {
            Reply::Text(format!("answer: {}", mock_anthropic::channel_body(&prompt)))
        }
    });
    // "channel": a child that does not load the channel fails to start, with the reason
    // from Claude Code's debug log (so a skipped channel cannot pass as typing).
    let s = start_with(&api, "interactive_input = \"channel\"\n", true);
    let ask = |prompt: &str| {
        s.ask(
            "chan",
            json!({"prompt": prompt, "cwd": s.work.display().to_string(), "kind": "interactive",
                "allowed_tools": [REPLY_TOOL], "timeout_ms": 180_000}),
        )
    };
    let (st, r) = ask("first question");
    assert_eq!(st, 200, "{r}\n{}", s.log());
    assert_eq!(r["result"], "answer: first question", "{r}");
    let info = s.session("chan");
    assert_eq!(info["input"], "channel", "{info}");
    // The model saw the prompt as the supervisor's channel message, with the session key.
    let seen = api.requests_containing("first question");
    let last = last_user_text(seen.first().expect("the request of the first ask"));
    assert!(
        last.contains("<channel source=\"claude-supervisord\"")
            && last.contains("session_key=\"chan\""),
        "{last}"
    );

    // The next ask continues the conversation, through the channel too.
    let (st, r) = ask("second question");
    assert_eq!(st, 200, "{r}\n{}", s.log());
    assert_eq!(r["result"], "answer: second question", "{r}");
    assert_eq!(r["cold"], false, "the same process");
    let seen = api.requests_containing("second question");
    assert!(
        seen.iter().any(|q| {
            let q = q.to_string();
            q.contains("answer: first question") && last_user_text(&seen[0]).contains("<channel ")
        }),
        "the model saw the earlier turn, and the new one came through the channel"
    );

    // The model's `reply` call streams as text while the turn goes on.
    let (st, events) = s.ask_sse(
        "chan",
        json!({"prompt": "report progress", "kind": "interactive",
            "allowed_tools": [REPLY_TOOL], "timeout_ms": 180_000}),
    );
    assert_eq!(st, 200);
    assert!(
        events.iter().any(|e| e.event == "message"
            && e.data.contains("\"stream_event\"")
            && e.data.contains("halfway there")),
        "{events:?}"
    );
    let last = events.last().unwrap();
    let r: Value = serde_json::from_str(&last.data).unwrap();
    assert_eq!(r["result"], "done after the reply", "{events:?}");
}
