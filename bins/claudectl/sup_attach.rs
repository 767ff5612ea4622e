//! `claudectl sup attach KEY`: this terminal becomes the interactive session's terminal
//! (raw mode, size forwarded) until Ctrl-] detaches; the session goes on either way.

use crate::cli::SupAttachArgs;
use crate::daemon_client::{segment, CtlError, CtlResult};
use claude_daemons::api::supervisor::{valid_session_key, AttachFrame, ATTACH_PROTOCOL};
use claude_daemons::paths::{Daemon, Paths};
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Ctrl-]: detach, as telnet and `docker attach` do.
const DETACH: u8 = 0x1d;

/// The terminal's settings before raw mode, put back when dropped.
struct RawMode(Option<libc::termios>);

impl RawMode {
    fn enter() -> RawMode {
        let fd = libc::STDIN_FILENO;
        if !std::io::stdin().is_terminal() {
            return RawMode(None);
        }
        // SAFETY: termios calls on our own stdin with a zeroed, then filled struct.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(fd, &mut t) != 0 {
                return RawMode(None);
            }
            let saved = t;
            libc::cfmakeraw(&mut t);
            libc::tcsetattr(fd, libc::TCSANOW, &t);
            RawMode(Some(saved))
        }
    }

    fn restore(&self) {
        if let Some(t) = &self.0 {
            // SAFETY: restores what tcgetattr returned.
            unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, t) };
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        self.restore();
    }
}

fn window_size() -> Option<(u16, u16)> {
    // SAFETY: TIOCGWINSZ fills a winsize.
    unsafe {
        let mut w: libc::winsize = std::mem::zeroed();
        (libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut w) == 0 && w.ws_row > 0)
            .then_some((w.ws_row, w.ws_col))
    }
}

pub fn attach(a: SupAttachArgs) -> CtlResult {
    if !valid_session_key(&a.key) {
        return Err(anyhow::anyhow!("invalid session key {:?}", a.key).into());
    }
    let socket = Paths::from_env().socket(Daemon::Supervisord);
    let mut s = UnixStream::connect(&socket).map_err(|e| CtlError::Unreachable {
        program: Daemon::Supervisord.program(),
        socket: socket.clone(),
        detail: e.to_string(),
    })?;
    let query = if a.read_only { "?read_only=true" } else { "" };
    write!(
        s,
        "GET /v1/sessions/{}/attach{query} HTTP/1.1\r\nhost: localhost\r\nconnection: upgrade\r\nupgrade: {ATTACH_PROTOCOL}\r\n\r\n",
        segment(&a.key)
    )
    .map_err(|e| anyhow::anyhow!("attach: {e}"))?;
    let mut r = BufReader::new(s.try_clone().map_err(|e| anyhow::anyhow!("attach: {e}"))?);
    let mut status = String::new();
    r.read_line(&mut status)
        .map_err(|e| anyhow::anyhow!("attach: {e}"))?;
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    if status.split_whitespace().nth(1) != Some("101") {
        let mut body = vec![0u8; length.min(64 << 10)];
        let _ = r.read_exact(&mut body);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let msg = v["message"].as_str().unwrap_or(status.trim()).to_string();
        return Err(anyhow::anyhow!("cannot attach to {}: {msg}", a.key).into());
    }
    let raw = Arc::new(RawMode::enter());
    eprint!("[attached to {}; Ctrl-] detaches]\r\n", a.key);
    let out = Arc::new(Mutex::new(s));
    let send = |f: AttachFrame| {
        let mut s = out.lock().unwrap_or_else(|p| p.into_inner());
        s.write_all(&f.encode()).is_ok()
    };
    if let (Some((rows, cols)), false) = (window_size(), a.read_only) {
        send(AttachFrame::Resize { rows, cols });
    }
    // The session's output to this terminal; its end (the process exited) ends the attach.
    let raw2 = raw.clone();
    std::thread::spawn(move || {
        let mut stdout = std::io::stdout();
        let mut buf = [0u8; 16 << 10];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let _ = stdout.write_all(&buf[..n]);
                    let _ = stdout.flush();
                }
            }
        }
        raw2.restore();
        eprint!("\r\n[the session's terminal closed]\r\n");
        std::process::exit(0);
    });
    // Size changes, polled: no signal handler to install in a CLI.
    if !a.read_only {
        let out2 = out.clone();
        std::thread::spawn(move || {
            let mut last = window_size();
            loop {
                std::thread::sleep(Duration::from_millis(250));
                let now = window_size();
                if now != last {
                    if let Some((rows, cols)) = now {
                        let f = AttachFrame::Resize { rows, cols }.encode();
                        let mut s = out2.lock().unwrap_or_else(|p| p.into_inner());
                        if s.write_all(&f).is_err() {
                            return;
                        }
                    }
                    last = now;
                }
            }
        });
    }
    let mut stdin = std::io::stdin();
    let mut buf = [0u8; 4096];
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let (keys, detach) = match buf[..n].iter().position(|b| *b == DETACH) {
            Some(i) => (&buf[..i], true),
            None => (&buf[..n], false),
        };
        if !keys.is_empty() && !a.read_only && !send(AttachFrame::Input(keys.to_vec())) {
            break;
        }
        if detach {
            break;
        }
    }
    let _ = out
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .shutdown(std::net::Shutdown::Both);
    raw.restore();
    eprint!("\r\n[detached from {}; the session goes on]\r\n", a.key);
    Ok(std::process::ExitCode::SUCCESS)
}
