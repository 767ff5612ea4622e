//! `claudectl run`: the three daemons in the foreground, for machines without a user
//! service manager and for development. Ctrl-C (or SIGTERM) stops them all cleanly.

use crate::cli::RunArgs;
use anyhow::{Context, Result};
use claude_daemons::paths::{Daemon, Paths};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStderr, Command, ExitCode, Stdio};
use std::time::Duration;

/// Run `claudectl run`.
pub fn run(args: RunArgs) -> Result<ExitCode> {
    crate::stop_signal::catch();
    let paths = Paths::from_env();
    // The log files go in the state directory before any daemon has made it private.
    let change = claude_daemons::permissions::private_dir(&paths.state_dir)
        .with_context(|| format!("cannot prepare {}", paths.state_dir.display()))?;
    if let Some(what) = change.describe("state directory", &paths.state_dir) {
        eprintln!("claudectl: {what}");
    }
    let mut children: Vec<(Daemon, Child)> = Vec::new();
    for daemon in Daemon::ALL {
        let bin = crate::binaries::find(args.bindir.as_deref(), daemon.program());
        // Nothing would restart them here, so they must not exit when idle.
        let child = Command::new(&bin)
            .args(["--foreground", "--idle-timeout", "0"])
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()));
        match child {
            Ok(mut c) => {
                let log = crate::logs::foreground_log(&paths, daemon);
                tee(c.stderr.take().expect("piped"), log)?;
                children.push((daemon, c))
            }
            Err(e) => {
                stop_all(&mut children);
                return Err(e);
            }
        }
    }
    eprintln!(
        "claudectl: running claude-memd, claude-supervisord, claude-meshd; Ctrl-C stops them"
    );
    let mut failed = false;
    loop {
        if crate::stop_signal::received().is_some() {
            break;
        }
        if let Some((daemon, status)) = children
            .iter_mut()
            .find_map(|(d, c)| c.try_wait().ok().flatten().map(|s| (*d, s)))
        {
            eprintln!(
                "claudectl: {} exited ({status}); stopping the others",
                daemon.program()
            );
            failed = !status.success();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    stop_all(&mut children);
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Copy a daemon's log lines to our stderr and to `log` (what `claudectl logs` reads when
/// there is no journal).
fn tee(stderr: ChildStderr, log: PathBuf) -> Result<()> {
    if let Some(dir) = log.parent() {
        claude_daemons::permissions::private_dir(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .with_context(|| format!("cannot open {}", log.display()))?;
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{line}");
            let _ = writeln!(file, "{line}");
        }
    });
    Ok(())
}

fn stop_all(children: &mut [(Daemon, Child)]) {
    for (_, child) in children.iter() {
        // SAFETY: plain kill(2) on a child we spawned and have not reaped.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    }
    for (daemon, child) in children.iter_mut() {
        match child.wait() {
            Ok(s) if s.success() => {}
            Ok(s) => eprintln!("claudectl: {} stopped with {s}", daemon.program()),
            Err(e) => eprintln!("claudectl: waiting for {}: {e}", daemon.program()),
        }
    }
}
