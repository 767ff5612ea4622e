//! The command line of `claudectl`: definitions only (clap and library types), so that the
//! man pages and shell completions can be generated from exactly what the program parses
//! (tests/man_pages.rs includes this file).

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Operate the claude-daemons: memory, supervisor and mesh.
#[derive(Parser, Debug)]
#[command(name = "claudectl", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show each daemon: socket, service state, pid, uptime, version.
    Status(StatusArgs),
    /// Run all three daemons in the foreground (no service manager needed); Ctrl-C stops them.
    Run(RunArgs),
    /// Install the user units, enable the sockets, and register claude-hook with Claude Code.
    Install(InstallArgs),
    /// Disable and remove the units and the hook registration (data is kept).
    Uninstall(UninstallArgs),
    /// Show the daemons' logs (the journal, or the files `claudectl run` writes).
    Logs(LogsArgs),
    /// Check everything that can silently break, with a fix for each problem.
    Doctor(DoctorArgs),
    /// Serve Claude Code's MCP tools (memory search, mesh messages) on stdin/stdout.
    Mcp,
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to standard output.
    Completions(CompletionsArgs),
}

/// Arguments of `claudectl status`.
#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `claudectl run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Directory holding the daemon binaries (default: next to claudectl, then PATH).
    #[arg(long, value_name = "DIR")]
    pub bindir: Option<PathBuf>,
}

/// Arguments of `claudectl install`.
#[derive(clap::Args, Debug)]
pub struct InstallArgs {
    /// Start the sockets now, not only at the next login.
    #[arg(long)]
    pub now: bool,
    /// Directory holding the installed programs (default: the one holding claudectl).
    #[arg(long, value_name = "DIR")]
    pub bindir: Option<PathBuf>,
    /// Do not register claude-hook in ~/.claude/settings.json.
    #[arg(long)]
    pub no_hooks: bool,
    /// Do not register `claudectl mcp` in ~/.claude.json.
    #[arg(long)]
    pub no_mcp: bool,
}

/// Arguments of `claudectl uninstall`.
#[derive(clap::Args, Debug)]
pub struct UninstallArgs {
    /// Leave ~/.claude/settings.json alone.
    #[arg(long)]
    pub no_hooks: bool,
    /// Leave the MCP server registration in ~/.claude.json alone.
    #[arg(long)]
    pub no_mcp: bool,
}

/// Arguments of `claudectl logs`.
#[derive(clap::Args, Debug)]
pub struct LogsArgs {
    /// memd, supervisord or meshd (default: all three).
    #[arg(value_parser = ["memd", "supervisord", "meshd"])]
    pub daemon: Option<String>,
    /// Keep printing new lines.
    #[arg(short, long)]
    pub follow: bool,
    /// Only lines about this Claude session.
    #[arg(long, value_name = "ID")]
    pub session: Option<String>,
    /// How many lines from the end.
    #[arg(short = 'n', long, default_value_t = 50)]
    pub lines: usize,
    /// Read the foreground log files even when the journal is available.
    #[arg(long)]
    pub files: bool,
}

/// Arguments of `claudectl doctor`.
#[derive(clap::Args, Debug)]
pub struct DoctorArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `claudectl completions`.
#[derive(clap::Args, Debug)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}
