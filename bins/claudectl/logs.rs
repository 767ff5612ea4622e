//! `claudectl logs`: the daemons' logs, from the journal when they run under systemd, else
//! from the files `claudectl run` writes in the state directory (and, on macOS, the files
//! the launchd agents write in ~/Library/Logs).
//!
//! `journalctl --user-unit=` rather than `--user -u`: the latter reads only the per-user
//! journal files, which journald does not keep for system uids (root included); the former
//! matches the unit and our uid in every journal we may read.

use crate::cli::LogsArgs;
use anyhow::{bail, Context, Result};
use claude_daemons::paths::{Daemon, Paths};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

/// The file `claudectl run` writes a daemon's log to.
pub fn foreground_log(paths: &Paths, daemon: Daemon) -> PathBuf {
    paths
        .state_dir
        .join("logs")
        .join(format!("{}.log", daemon.program()))
}

fn daemons(arg: &Option<String>) -> Vec<Daemon> {
    match arg.as_deref().and_then(Daemon::from_name) {
        Some(d) => vec![d],
        None => Daemon::ALL.to_vec(),
    }
}

/// Run `claudectl logs`.
pub fn logs(args: LogsArgs) -> Result<ExitCode> {
    let selected = daemons(&args.daemon);
    let journal_has_them = !args.files
        && selected.iter().any(|d| {
            Command::new("journalctl")
                .args([
                    "-q",
                    "-n",
                    "1",
                    &format!("--user-unit={}.service", d.program()),
                ])
                .output()
                .is_ok_and(|o| o.status.success() && !o.stdout.is_empty())
        });
    if journal_has_them {
        let mut cmd = Command::new("journalctl");
        cmd.args(["--no-pager", "-n", &args.lines.to_string()]);
        for d in &selected {
            cmd.arg(format!("--user-unit={}.service", d.program()));
        }
        if let Some(s) = &args.session {
            cmd.arg(format!("SESSION_ID={s}"));
        }
        if args.follow {
            cmd.arg("-f");
        }
        let status = cmd.status().context("cannot run journalctl")?;
        return Ok(ExitCode::from(status.code().unwrap_or(1) as u8));
    }
    let paths = Paths::from_env();
    // launchd agents log to ~/Library/Logs (their plists' StandardErrorPath).
    let agent_logs = std::env::var_os("HOME")
        .filter(|_| cfg!(target_os = "macos"))
        .map(|home| PathBuf::from(home).join("Library/Logs"));
    let files: Vec<PathBuf> = selected
        .iter()
        .flat_map(|d| {
            let agent = agent_logs
                .as_ref()
                .map(|dir| dir.join(format!("{}.log", d.program())));
            [Some(foreground_log(&paths, *d)), agent]
        })
        .flatten()
        .filter(|p| p.exists())
        .collect();
    if files.is_empty() {
        bail!(
            "no logs: nothing in the journal for {} and no foreground log in {}",
            selected
                .iter()
                .map(|d| d.program())
                .collect::<Vec<_>>()
                .join(", "),
            paths.state_dir.join("logs").display()
        );
    }
    let keep = |line: &str| args.session.as_deref().is_none_or(|s| line.contains(s));
    let mut offsets = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).with_context(|| format!("{}", f.display()))?;
        let lines: Vec<&str> = text.lines().filter(|l| keep(l)).collect();
        for line in &lines[lines.len().saturating_sub(args.lines)..] {
            // Log lines quote peers' names and request data.
            println!("{}", crate::output::clean(line));
        }
        offsets.push(text.len() as u64);
    }
    if args.follow {
        follow(&files, offsets, keep)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn follow(files: &[PathBuf], mut offsets: Vec<u64>, keep: impl Fn(&str) -> bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    loop {
        for (f, offset) in files.iter().zip(offsets.iter_mut()) {
            *offset = print_new(f, *offset, &keep, &mut out)?;
        }
        out.flush()?;
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Print complete lines appended to `path` after `offset`; returns the new offset.
fn print_new(
    path: &Path,
    offset: u64,
    keep: &impl Fn(&str) -> bool,
    out: &mut impl Write,
) -> Result<u64> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    // Truncated or replaced (a new `claudectl run`): start over.
    let mut offset = if len < offset { 0 } else { offset };
    file.seek(SeekFrom::Start(offset))?;
    let mut reader = BufReader::new(file);
    let mut line = String::new();
    while reader.read_line(&mut line)? > 0 {
        if !line.ends_with('\n') {
            break;
        }
        offset += line.len() as u64;
        if keep(line.trim_end()) {
            out.write_all(crate::output::clean(&line).as_bytes())?;
        }
        line.clear();
    }
    Ok(offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_complete_lines_only_and_restarts_after_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.log");
        std::fs::write(&p, "a session=1\nb session=2\npart").unwrap();
        let keep = |l: &str| l.contains("session=1") || l.starts_with('c');
        let mut out = Vec::new();
        let off = print_new(&p, 0, &keep, &mut out).unwrap();
        assert_eq!(String::from_utf8_lossy(&out), "a session=1\n");
        assert_eq!(off, 24, "the partial line is not consumed");
        std::fs::write(&p, "c\n").unwrap();
        let mut out = Vec::new();
        print_new(&p, off, &keep, &mut out).unwrap();
        assert_eq!(String::from_utf8_lossy(&out), "c\n");
    }
}
