//! `claudectl install` and `claudectl uninstall`: put the daemons under the user's service
//! manager and register `claude-hook` and `claudectl mcp` with Claude Code — and take them
//! back out.

use crate::cli::{InstallArgs, UninstallArgs};
use crate::launchd;
use crate::mcp_registration::{ClaudeJson, Outcome};
use crate::settings::{ClaudeSettings, Record, Saved};
use crate::units;
use anyhow::{bail, Context, Result};
use claude_daemons::config::Config;
use claude_daemons::paths::{current_uid, Paths};
use claude_daemons::permissions::private_dir;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn home() -> Result<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .context("HOME is not set")
}

fn bindir(arg: Option<PathBuf>) -> Result<PathBuf> {
    let dir = match arg {
        Some(d) => d,
        None => std::env::current_exe()
            .context("cannot locate claudectl")?
            .parent()
            .context("claudectl has no directory")?
            .to_path_buf(),
    };
    let dir = dir
        .canonicalize()
        .with_context(|| format!("{}", dir.display()))?;
    for program in [
        "claude-memd",
        "claude-supervisord",
        "claude-meshd",
        "claude-hook",
    ] {
        if !dir.join(program).is_file() {
            bail!("{program} is not in {} (use --bindir)", dir.display());
        }
    }
    Ok(dir)
}

/// Run `claudectl install`.
pub fn install(args: InstallArgs) -> Result<ExitCode> {
    if args.launch_alias {
        println!("{}", crate::launch::alias_line());
        return Ok(ExitCode::SUCCESS);
    }
    let home = home()?;
    let bindir = bindir(args.bindir)?;
    let config = Config::load(&Paths::from_env().config_file)?;
    // Validate the user's settings before touching anything, so a refusal changes nothing.
    let settings_path = ClaudeSettings::path_for(&home);
    let mut settings = ClaudeSettings::load(&settings_path)?;
    let claude_json_path = ClaudeJson::path_for(&home);
    let mut claude_json = match args.no_mcp {
        false => Some(ClaudeJson::load(&claude_json_path)?),
        true => None,
    };

    // Every place install writes must be writable before the first write: a read-only
    // config directory must not leave units written and hooks missing.
    let state_dir = Paths::from_env().state_dir;
    let mut targets = vec![state_dir.clone()];
    if cfg!(target_os = "macos") {
        targets.push(launchd::agents_dir(&home));
    } else if !units::packaged_for(&bindir) {
        targets.push(units::user_dir(&home));
    }
    if !args.no_hooks {
        targets.extend(settings_path.parent().map(Path::to_path_buf));
    }
    if !args.no_mcp {
        targets.extend(claude_json_path.parent().map(Path::to_path_buf));
    }
    for dir in &targets {
        writable(dir)?;
    }

    // The daemons would create it 0700 on first start, but the install record goes in
    // first; and an existing one left open by an older version is tightened here too.
    let change = private_dir(&state_dir)
        .with_context(|| format!("cannot prepare {}", state_dir.display()))?;
    if let Some(what) = change.describe("state directory", &state_dir) {
        println!("state: {what}");
    }

    if cfg!(target_os = "macos") {
        install_launchd(&home, &bindir, &config, args.now)?;
    } else {
        install_systemd(&home, &bindir, &config, args.now)?;
    }

    if !args.no_hooks {
        let state_dir = Paths::from_env().state_dir;
        register_hooks(
            &mut settings,
            &bindir.join("claude-hook"),
            &settings_path,
            &state_dir,
        )?;
    }
    if let Some(claude_json) = claude_json.as_mut() {
        let claudectl = match bindir.join("claudectl") {
            p if p.is_file() => p,
            _ => std::env::current_exe().context("cannot locate claudectl")?,
        };
        let outcome = claude_json.register(&claudectl, &Paths::from_env().state_dir)?;
        let path = claude_json_path.display();
        match outcome {
            Outcome::Written(backup) => println!(
                "mcp: `{} mcp` registered as \"{}\" in {path}{}",
                claudectl.display(),
                crate::mcp::SERVER_NAME,
                backup_note(backup)
            ),
            Outcome::Unchanged => println!("mcp: already registered in {path}"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn install_systemd(home: &Path, bindir: &Path, config: &Config, now: bool) -> Result<()> {
    if units::packaged_for(bindir) {
        println!("using the packaged units in {}", units::PACKAGED_DIR);
    } else {
        let dir = units::user_dir(home);
        let changed = units::write(&dir, &units::render(bindir, config))?;
        println!("units: {} ({changed} changed)", dir.display());
    }
    match units::user_manager() {
        Ok(()) => {
            units::systemctl(&["daemon-reload"])?;
            let mut enable = vec!["enable"];
            if now {
                enable.push("--now");
            }
            enable.extend(units::SOCKETS);
            units::systemctl(&enable)?;
            println!(
                "sockets enabled{}: {}",
                if now { " and started" } else { "" },
                units::SOCKETS.join(" ")
            );
        }
        Err(why) => {
            println!("no systemd user manager answers ({why});");
            println!("run the daemons in the foreground instead: claudectl run");
        }
    }
    Ok(())
}

/// macOS: agents in ~/Library/LaunchAgents load at every login; `--now` loads them at once
/// (reloading those whose plist changed, so a new binary path takes effect).
fn install_launchd(home: &Path, bindir: &Path, config: &Config, now: bool) -> Result<()> {
    let dir = launchd::agents_dir(home);
    let agents = launchd::render(bindir, current_uid(), home, config);
    let changed = launchd::write(&dir, &agents)?;
    println!("agents: {} ({} changed)", dir.display(), changed.len());
    if now {
        for agent in &agents {
            let reload = changed.contains(&agent.label);
            launchd::bootstrap(agent.label, &dir.join(agent.file_name()), reload)?;
        }
        println!("agents loaded (listening; each starts on first use)");
    } else {
        println!("agents load at your next login (or run: claudectl install --now)");
    }
    Ok(())
}

fn register_hooks(
    settings: &mut ClaudeSettings,
    hook: &Path,
    path: &Path,
    state_dir: &Path,
) -> Result<()> {
    let command = hook.display().to_string();
    let mut record = Record::load(state_dir).unwrap_or_default();
    settings.add_hooks(&command, &mut record);
    // The record first: if the settings write fails, uninstall still knows what to undo.
    record.save(state_dir)?;
    match settings.save()? {
        Saved::Written { backup } => println!(
            "hooks: registered in {}{}",
            path.display(),
            backup_note(backup)
        ),
        Saved::Unchanged => println!("hooks: {command} already registered in {}", path.display()),
    }
    Ok(())
}

/// Run `claudectl uninstall`. Data in the state directory is kept.
pub fn uninstall(args: UninstallArgs) -> Result<ExitCode> {
    let home = home()?;
    let settings_path = ClaudeSettings::path_for(&home);
    let mut settings = ClaudeSettings::load(&settings_path)?;
    let claude_json_path = ClaudeJson::path_for(&home);
    let mut claude_json = match args.no_mcp {
        false => Some(ClaudeJson::load(&claude_json_path)?),
        true => None,
    };
    if cfg!(target_os = "macos") {
        uninstall_launchd(&home)?;
    } else {
        uninstall_systemd(&home)?;
    }
    if !args.no_hooks {
        let state_dir = Paths::from_env().state_dir;
        settings.remove_hooks(Record::load(&state_dir).as_ref());
        match settings.save()? {
            Saved::Written { backup } => println!(
                "hooks: removed from {}{}",
                settings_path.display(),
                backup_note(backup)
            ),
            Saved::Unchanged => println!("hooks: none registered in {}", settings_path.display()),
        }
        let _ = std::fs::remove_file(Record::path(&state_dir));
    }
    if let Some(claude_json) = claude_json.as_mut() {
        match claude_json.unregister(&Paths::from_env().state_dir)? {
            Outcome::Written(backup) => println!(
                "mcp: removed from {}{}",
                claude_json_path.display(),
                backup_note(backup)
            ),
            Outcome::Unchanged => {
                println!("mcp: none registered in {}", claude_json_path.display())
            }
        }
    }
    println!("data kept in {}", Paths::from_env().state_dir.display());
    Ok(ExitCode::SUCCESS)
}

fn uninstall_systemd(home: &Path) -> Result<()> {
    if units::user_manager().is_ok() {
        let mut disable = vec!["disable", "--now"];
        disable.extend(units::SOCKETS);
        units::systemctl(&disable)?;
        let services: Vec<String> = units::SOCKETS
            .iter()
            .map(|s| s.replace(".socket", ".service"))
            .collect();
        let mut stop = vec!["stop"];
        stop.extend(services.iter().map(String::as_str));
        units::systemctl(&stop)?;
    }
    let dir = units::user_dir(home);
    let removed = units::remove(&dir)?;
    if removed > 0 && units::user_manager().is_ok() {
        units::systemctl(&["daemon-reload"])?;
    }
    println!("units: {removed} removed from {}", dir.display());
    Ok(())
}

fn uninstall_launchd(home: &Path) -> Result<()> {
    for label in launchd::labels() {
        launchd::bootout(label)?;
    }
    let dir = launchd::agents_dir(home);
    let removed = launchd::remove(&dir)?;
    println!("agents: {removed} removed from {}", dir.display());
    Ok(())
}

/// Whether `dir` (or, if it does not exist yet, the nearest ancestor it would be created
/// in) can be written by us.
fn writable(dir: &Path) -> Result<()> {
    let existing = dir
        .ancestors()
        .find(|a| a.exists())
        .unwrap_or(Path::new("/"));
    let c = std::ffi::CString::new(existing.as_os_str().as_encoded_bytes())
        .context("path with a NUL byte")?;
    // SAFETY: access(2) with a valid C string.
    if unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) } != 0 {
        bail!(
            "cannot write in {} ({}); nothing was changed",
            existing.display(),
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

fn backup_note(backup: Option<PathBuf>) -> String {
    backup
        .map(|b| format!(" (backup: {})", b.display()))
        .unwrap_or_default()
}
