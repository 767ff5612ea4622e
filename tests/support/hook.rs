//! Running the real claude-hook with a payload on its stdin, the way Claude Code does.
#![allow(dead_code)] // each test file uses a different part

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Run `cmd` (claude-hook, its environment set) with `stdin` as its input; its output.
/// The input is written from another thread: a hook may stop reading early (bad or
/// oversized input), and a large input must not fill the pipe while nobody reads the output.
pub fn run(mut cmd: Command, stdin: &[u8]) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn claude-hook");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

/// [`run`], which must exit 0: a hook never fails Claude Code.
pub fn run_ok(cmd: Command, stdin: &[u8]) -> Output {
    let out = run(cmd, stdin);
    assert_eq!(out.status.code(), Some(0), "a hook always exits 0: {out:?}");
    out
}

/// [`run_ok`], which must also print nothing (an event only stored, nothing to add).
pub fn run_silent(cmd: Command, stdin: &[u8]) {
    let out = run_ok(cmd, stdin);
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
}
