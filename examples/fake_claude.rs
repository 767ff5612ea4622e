//! A stand-in for `claude -p --input-format stream-json --output-format stream-json`, for
//! the supervisor's edge-case tests: it speaks the same protocol, and misbehaves on request.
//!
//! Without `-p` it is an interactive child instead (examples/fake_claude_parts/interactive.rs).
//!
//! Start-up behaviour comes from `FAKE_CLAUDE_MODE`: `normal` (default), `never-init` (reads
//! stdin, never answers), `exit-at-once` (complains on stderr and exits 1), `ignore-eof`
//! (normal, but lingers 60 s after stdin closes). Each start is
//! appended to `$FAKE_CLAUDE_LOG` (`<pid> <args>`) when set.
//!
//! Per turn, the prompt decides: `sleep:<ms>` answers after a delay (an interrupt ends it
//! early), `garbage` writes bad lines before answering, `badresult` ends the turn with a
//! malformed result, `hugeresult` with one over the line limit, `die` exits mid-turn, `hang` never answers and ignores interrupts;
//! anything else is echoed as `echo: <prompt>`.

#[path = "fake_claude_parts/interactive.rs"]
mod interactive;

use serde_json::{json, Value};
use std::io::{BufRead, Write};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

fn out(v: &Value) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{v}");
    let _ = o.flush();
}

fn raw(s: &str) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{s}");
    let _ = o.flush();
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(log) = std::env::var_os("FAKE_CLAUDE_LOG") {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
        {
            let _ = writeln!(f, "{} {}", std::process::id(), args.join(" "));
        }
    }
    let session = args
        .windows(2)
        .find(|w| w[0] == "--session-id" || w[0] == "--resume")
        .map(|w| w[1].clone())
        .unwrap_or_default();
    // Like the real CLI with CLAUDECODE: a child must get a cleaned environment.
    for (k, _) in std::env::vars() {
        if k == "CLAUDECODE"
            || k == "NOTIFY_SOCKET"
            || k.starts_with("LISTEN_")
            || k.starts_with("WATCHDOG_")
        {
            eprintln!("fake claude: inherited {k}; refusing to start");
            std::process::exit(1);
        }
    }
    let mode = std::env::var("FAKE_CLAUDE_MODE").unwrap_or_default();
    if !args.iter().any(|a| a == "-p") {
        return interactive::run(&args, &session, &mode);
    }
    if mode == "exit-at-once" {
        eprintln!("fake claude: cannot start (as asked)");
        std::process::exit(1);
    }

    let (tx, rx) = mpsc::channel::<Value>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if tx.send(v).is_err() {
                    break;
                }
            }
        }
    });
    if mode == "never-init" {
        while rx.recv().is_ok() {}
        return;
    }
    // `ignore-eof`: outlive a closed stdin, as a wedged child would; only signals end it.
    let linger = mode == "ignore-eof";
    let mut cost = 0.0;
    let mut turns = 0u64;
    while let Ok(msg) = rx.recv() {
        match msg["type"].as_str() {
            Some("control_request") => {
                out(
                    &json!({"type": "control_response", "response": {"subtype": "success", "request_id": msg["request_id"], "response": {}}}),
                );
            }
            Some("user") => {
                let prompt = msg["message"]["content"].as_str().unwrap_or("").to_string();
                out(
                    &json!({"type": "system", "subtype": "init", "session_id": session, "cwd": std::env::current_dir().unwrap_or_default(), "model": "fake", "permissionMode": "default", "tools": []}),
                );
                let start = Instant::now();
                if prompt == "die" {
                    eprintln!("fake claude: dying mid-turn (as asked)");
                    std::process::exit(3);
                }
                if prompt == "hang" {
                    while rx.recv().is_ok() {}
                    return;
                }
                if prompt == "badresult" {
                    raw("{\"type\": \"result\", \"subtype\": 7}");
                    continue;
                }
                if prompt == "hugeresult" {
                    let big = "y".repeat(9 << 20);
                    raw(&format!("{{\"type\": \"result\", \"subtype\": \"success\", \"is_error\": false, \"result\": \"{big}\"}}"));
                    continue;
                }
                if prompt == "garbage" {
                    raw("this is not json");
                    raw("{\"no_type\": true}");
                    raw(&"x".repeat(9 << 20));
                    raw("{\"type\": \"mystery_event\", \"n\": 1}");
                }
                let mut interrupted = false;
                if let Some(ms) = prompt.strip_prefix("sleep:") {
                    let until = start + Duration::from_millis(ms.trim().parse().unwrap_or(0));
                    loop {
                        let left = until.saturating_duration_since(Instant::now());
                        match rx.recv_timeout(left) {
                            Ok(m) if m["type"] == "control_request" => {
                                out(
                                    &json!({"type": "control_response", "response": {"subtype": "success", "request_id": m["request_id"], "response": {}}}),
                                );
                                if m["request"]["subtype"] == "interrupt" {
                                    interrupted = true;
                                    break;
                                }
                            }
                            Ok(_) => {}
                            Err(RecvTimeoutError::Timeout) => break,
                            Err(RecvTimeoutError::Disconnected) => return,
                        }
                    }
                }
                let text = format!("echo: {prompt}");
                out(
                    &json!({"type": "stream_event", "event": {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}, "session_id": session}),
                );
                out(
                    &json!({"type": "assistant", "message": {"role": "assistant", "content": [{"type": "text", "text": text}]}, "session_id": session}),
                );
                turns += 1;
                if !interrupted {
                    cost += 0.001;
                }
                out(&json!({
                    "type": "result",
                    "subtype": if interrupted { "error_during_execution" } else { "success" },
                    "is_error": interrupted,
                    "result": if interrupted { Value::Null } else { text.into() },
                    "session_id": session,
                    "total_cost_usd": cost,
                    "duration_ms": start.elapsed().as_millis() as u64,
                    "num_turns": turns,
                    "usage": {"input_tokens": 1, "output_tokens": 1},
                }));
            }
            _ => {}
        }
    }
    if linger {
        std::thread::sleep(Duration::from_secs(60));
    }
}
