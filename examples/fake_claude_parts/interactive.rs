//! The fake child's interactive mode (started without `-p`, on a terminal): a small
//! imitation of Claude Code's screen for the supervisor's PTY edge cases. It puts its
//! terminal in raw mode, draws the 2.1.329 trust dialog (unless `FAKE_CLAUDE_TRUSTED` is
//! set), then a prompt box between two rules; a bracketed paste fills the box, Enter
//! answers `echo: <prompt>` on screen and runs the Stop hook found in `--settings` with a
//! payload like Claude Code's. Ctrl-C on an empty box twice exits.
//!
//! Offered a development channel, it says in its `--debug-file` what Claude Code 2.1.329
//! says with the channels feature flag off: skipped.
//!
//! `FAKE_CLAUDE_MODE`: `unknown-dialog` draws a choice the supervisor does not know,
//! `no-prompt` draws a banner and never a prompt box; a prompt `huge` first writes ~4 MiB
//! of screen output.

use serde_json::{json, Value};
use std::io::{Read, Write};

fn draw(lines: &[String]) {
    let mut o = std::io::stdout().lock();
    let _ = write!(o, "\x1b[H\x1b[2J");
    for l in lines {
        let _ = write!(o, "{l}\r\n");
    }
    let _ = o.flush();
}

fn raw_mode() {
    // SAFETY: termios on our own stdin.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(0, &mut t) == 0 {
            libc::cfmakeraw(&mut t);
            libc::tcsetattr(0, libc::TCSANOW, &t);
        }
    }
}

fn stop_hook(args: &[String], session: &str, text: &str) {
    let Some(path) = args
        .windows(2)
        .find(|w| w[0] == "--settings")
        .map(|w| w[1].clone())
    else {
        return;
    };
    let settings: Value = std::fs::read_to_string(path)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default();
    let Some(cmd) = settings["hooks"]["Stop"][0]["hooks"][0]["command"].as_str() else {
        return;
    };
    let payload = json!({"session_id": session, "hook_event_name": "Stop",
        "cwd": std::env::current_dir().unwrap_or_default(), "stop_hook_active": false,
        "last_assistant_message": text, "transcript_path": "/nonexistent.jsonl"});
    if let Ok(mut c) = std::process::Command::new("sh")
        .args(["-c", cmd])
        .stdin(std::process::Stdio::piped())
        .spawn()
    {
        if let Some(mut i) = c.stdin.take() {
            let _ = i.write_all(payload.to_string().as_bytes());
        }
        let _ = c.wait();
    }
}

/// Say in the `--debug-file` that each development channel asked for is skipped.
fn skip_channels(args: &[String]) {
    let after = |flag: &str| args.windows(2).find(|w| w[0] == flag).map(|w| w[1].clone());
    let (Some(debug), Some(server)) = (
        after("--debug-file"),
        after("--dangerously-load-development-channels"),
    ) else {
        return;
    };
    let name = server.strip_prefix("server:").unwrap_or(&server);
    let line = format!(
        "[DEBUG] MCP server \"{name}\": Channel notifications skipped: channels feature is not currently available\n"
    );
    let _ = std::fs::write(debug, line);
}

pub fn run(args: &[String], session: &str, mode: &str) {
    raw_mode();
    skip_channels(args);
    let rule = "─".repeat(60);
    let banner = " ▐▛███▛█   Fake Claude Code".to_string();
    if mode == "unknown-dialog" {
        draw(&[
            banner,
            " Pick a colour".into(),
            " ❯ Red".into(),
            "   Blue".into(),
            " Enter to confirm · Esc to cancel".into(),
        ]);
        std::thread::sleep(std::time::Duration::from_secs(3600));
        return;
    }
    if mode == "no-prompt" {
        draw(&[banner, " Loading…".into()]);
        std::thread::sleep(std::time::Duration::from_secs(3600));
        return;
    }
    let mut stdin = std::io::stdin().lock();
    let mut byte = [0u8; 1];
    let mut next = || {
        stdin
            .read(&mut byte)
            .ok()
            .filter(|n| *n == 1)
            .map(|_| byte[0])
    };
    if std::env::var_os("FAKE_CLAUDE_TRUSTED").is_none() {
        let mut yes = false;
        loop {
            let (a, b) = if yes { ("  ", "❯ ") } else { ("❯ ", "  ") };
            draw(&[
                rule.clone(),
                " Quick safety check: Is this a project you created or one you trust?".into(),
                format!(" {a}No, exit"),
                format!(" {b}Yes, I trust this folder"),
                " Enter to confirm · Esc to cancel".into(),
            ]);
            match next() {
                Some(b'\r') if yes => break,
                Some(b'\r') | None => std::process::exit(1),
                Some(0x1b) => {
                    // An arrow key: ESC [ A/B.
                    let _ = next();
                    yes = next() == Some(b'B');
                }
                Some(_) => {}
            }
        }
    }
    let mut history: Vec<String> = vec![banner];
    let mut typed = String::new();
    let mut ctrl_c = false;
    let screen = |history: &[String], typed: &str| {
        let mut l = history.to_vec();
        l.extend([rule.clone(), format!("❯ {typed}"), rule.clone()]);
        draw(&l);
    };
    screen(&history, &typed);
    let mut pasting = false;
    let mut esc = Vec::new();
    while let Some(b) = next() {
        if !esc.is_empty() || b == 0x1b {
            esc.push(b);
            let s = String::from_utf8_lossy(&esc).into_owned();
            if s == "\x1b[200~" {
                pasting = true;
            } else if s == "\x1b[201~" {
                pasting = false;
            } else if s.len() < 6
                && ("\x1b[200~".starts_with(&s[..]) || "\x1b[201~".starts_with(&s[..]))
            {
                continue;
            }
            esc.clear();
            screen(&history, &typed);
            continue;
        }
        match b {
            b'\r' if !pasting => {
                let prompt = std::mem::take(&mut typed);
                history.push(format!("❯ {prompt}"));
                if prompt == "huge" {
                    let mut o = std::io::stdout().lock();
                    for i in 0..40_000 {
                        let _ = write!(o, "line {i} {}\r\n", "z".repeat(90));
                    }
                    let _ = o.flush();
                }
                let text = format!("echo: {prompt}");
                history.push(format!("● {text}"));
                screen(&history, &typed);
                stop_hook(args, session, &text);
            }
            0x03 if typed.is_empty() => {
                if ctrl_c {
                    return;
                }
                ctrl_c = true;
            }
            0x03 => typed.clear(),
            _ => {
                ctrl_c = false;
                typed.push(b as char);
                screen(&history, &typed);
            }
        }
    }
}
