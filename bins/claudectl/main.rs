//! claudectl: operate the claude-daemons the way `systemctl` and `journalctl` operate
//! services. See claudectl(1).

mod doctor;
mod install;
mod logs;
mod run;
mod settings;
mod status;
mod units;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Operate the claude-daemons: memory, supervisor and mesh.
#[derive(Parser, Debug)]
#[command(name = "claudectl", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show each daemon: socket, service state, pid, uptime, version.
    Status(status::StatusArgs),
    /// Run all three daemons in the foreground (no service manager needed); Ctrl-C stops them.
    Run(run::RunArgs),
    /// Install the user units, enable the sockets, and register claude-hook with Claude Code.
    Install(install::InstallArgs),
    /// Disable and remove the units and the hook registration (data is kept).
    Uninstall(install::UninstallArgs),
    /// Show the daemons' logs (the journal, or the files `claudectl run` writes).
    Logs(logs::LogsArgs),
    /// Check everything that can silently break, with a fix for each problem.
    Doctor(doctor::DoctorArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Status(args) => status::status(args),
        Command::Run(args) => run::run(args),
        Command::Install(args) => install::install(args),
        Command::Uninstall(args) => install::uninstall(args),
        Command::Logs(args) => logs::logs(args),
        Command::Doctor(args) => doctor::doctor(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("claudectl: {e:#}");
            ExitCode::FAILURE
        }
    }
}
