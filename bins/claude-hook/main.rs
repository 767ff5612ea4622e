//! claude-hook: the command Claude Code runs for every hook event.
//!
//! Its one hard rule: never block or fail the user's session. Whatever happens it exits 0,
//! prints nothing it is not sure of (stdout is read by Claude Code, stderr may be shown to
//! the user), and returns within its time budget: every daemon call has a deadline from
//! `[memory] hook_timeout_ms` / `context_timeout_ms`. Why something failed goes to the
//! journal ([`journal`]), never to the terminal.
//!
//! It is on the hot path of every tool call, so it is small and blocking: no async runtime,
//! one Unix-socket round trip per daemon. [`dispatch`] decides which daemons an event goes
//! to; [`memd`] is the memory daemon's part (with the spool for what it does not take in
//! time), [`meshd`] the mesh daemon's. Mesh calls are not spooled: they report presence
//! (joined, working, idle, left) that is only true at the moment, and the next hook repeats it.

// No Rust runtime start-up: before `main`, it finds the main thread's stack bounds for its
// overflow guard, and glibc answers that by reading and parsing /proc/self/maps, a tenth of
// a millisecond of every hook. The hook's one piece of that start-up it needs is below:
// SIGPIPE ignored, so a daemon or Claude Code closing its end makes a write fail, not the
// process die.
#![no_main]

mod cli;
mod dispatch;
mod journal;
mod memd;
mod meshd;
mod supervisor;

use claude_daemons::api::memory::MAX_HOOK_BYTES;
use claude_daemons::claude::HookInput;
use std::io::{Read, Write};
use std::time::Instant;

/// The C entry point (see `no_main` above); the arguments are read through
/// [`std::env::args_os`], which glibc fills before this runs.
#[no_mangle]
extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    let started = Instant::now();
    // SAFETY: setting a signal's disposition to SIG_IGN has no preconditions; no other
    // thread exists yet.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    // Also from that start-up: a closed standard descriptor is opened on /dev/null, or the
    // daemon's socket or the spool file could become fd 1 and take what is printed.
    for fd in 0..3 {
        // SAFETY: F_GETFD only reads the descriptor's flags; open(2) takes a valid C string.
        unsafe {
            if libc::fcntl(fd, libc::F_GETFD) == -1 {
                libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
            }
        }
    }
    // Anything the hook writes (a journal fallback, a spool) is the user's alone.
    claude_daemons::permissions::restrict_umask();
    // A panic message on stderr would reach the user; log it instead and still exit 0.
    std::panic::set_hook(Box::new(|info| {
        journal::warn(&format!("panic: {info}"), None)
    }));
    // Claude Code passes no arguments; only a person typing `--help`/`--version` does, so
    // clap stays off the hot path of every hook call. Arguments clap rejects fail only at a
    // terminal: a hook command registered with extra words must still never fail a session.
    if std::env::args_os().len() > 1 {
        match <cli::Cli as clap::Parser>::try_parse() {
            Ok(cli::Cli {
                command: Some(cli::Command::SupervisorStop { socket, key }),
            }) => {
                let _ = std::panic::catch_unwind(|| supervisor::stop(&socket, &key));
                std::process::exit(0);
            }
            Ok(_) => {}
            Err(e) => {
                use clap::error::ErrorKind::{DisplayHelp, DisplayVersion};
                use std::io::IsTerminal;
                if matches!(e.kind(), DisplayHelp | DisplayVersion)
                    || std::io::stdin().is_terminal()
                {
                    e.exit();
                }
                journal::warn(
                    &format!("command-line arguments ignored: {}", e.kind()),
                    None,
                );
            }
        }
    }
    if let Ok(Some(out)) = std::panic::catch_unwind(|| run(started)) {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(out.as_bytes());
        let _ = stdout.flush();
    }
    std::process::exit(0);
}

/// Read, parse, dispatch; the text to print, if any.
fn run(started: Instant) -> Option<String> {
    let mut input = Vec::with_capacity(16 << 10);
    let stdin = std::io::stdin();
    let mut lock = stdin.lock();
    if let Err(e) = (&mut lock)
        .take(MAX_HOOK_BYTES as u64 + 1)
        .read_to_end(&mut input)
    {
        journal::warn(&format!("cannot read the hook payload: {e}"), None);
        return None;
    }
    if input.len() > MAX_HOOK_BYTES {
        // Drain so Claude Code's write does not fail on a closed pipe, then give up.
        let _ = std::io::copy(&mut lock, &mut std::io::sink());
        journal::warn(
            &format!("hook payload larger than {MAX_HOOK_BYTES} bytes; ignored"),
            None,
        );
        return None;
    }
    let hook = match HookInput::parse(&input) {
        Ok(h) => h,
        Err(e) => {
            journal::warn(&format!("{e}; ignored"), None);
            return None;
        }
    };
    dispatch::dispatch(&hook, &input, started)
}
