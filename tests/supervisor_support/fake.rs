//! Helpers for the tests that use the fake child (examples/fake_claude.rs).
#![allow(dead_code)]

use crate::support::{fake_claude, Supervisor};
use serde_json::{json, Value};
use std::ffi::OsString;

/// Short timings so crashes, restarts and stops happen within a test.
pub const FAST: &str =
    "restart_base_ms = 100\nrestart_max_ms = 400\nspawn_timeout_secs = 2\nstop_grace_ms = 500\n";

/// A supervisor whose children are the fake in `mode`, with `extra` config lines.
pub fn start(extra: &str, mode: &str) -> Supervisor {
    start_with(extra, mode, &[])
}

pub fn start_with(extra: &str, mode: &str, args: &[&str]) -> Supervisor {
    let config = format!(
        "claude_bin = \"{}\"\n{FAST}{extra}",
        fake_claude().display()
    );
    Supervisor::start(&config, &[("FAKE_CLAUDE_MODE", OsString::from(mode))], args)
}

pub fn ask(s: &Supervisor, key: &str, prompt: &str) -> (u16, Value) {
    s.ask(
        key,
        json!({"prompt": prompt, "cwd": s.work.display().to_string()}),
    )
}
