//! claudectl: operate the claude-daemons the way `systemctl` and `journalctl` operate
//! services. See claudectl(1).

mod bench;
mod binaries;
mod claude_config_lock;
mod cli;
mod daemon_client;
mod doctor;
mod install;
mod launch;
mod launchd;
mod logs;
mod mcp;
mod mcp_registration;
mod mem;
mod mesh;
mod output;
mod permission_answer;
mod progress;
mod run;
mod settings;
mod status;
mod stop_signal;
mod sup;
mod sup_attach;
mod units;
mod user_file;

use clap::{CommandFactory, Parser};
use cli::{Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    // What claudectl writes (install records, foreground logs, settings backups) is the
    // user's alone, whatever umask the shell has.
    claude_daemons::permissions::restrict_umask();
    let cli = Cli::parse();
    if prints_data_only(&cli.command) {
        // `claudectl mem search x | head`: end quietly when the reader goes away, as other
        // Unix tools do, instead of Rust's panic on a write to a closed pipe. Commands that
        // own daemons or files (run, bench, install, mcp) keep SIGPIPE ignored so that their
        // cleanup still runs.
        // SAFETY: restoring a default disposition before any thread exists.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    let result = match cli.command {
        Command::Status(args) => status::status(args),
        Command::Run(args) => run::run(args),
        Command::Install(args) => install::install(args),
        Command::Uninstall(args) => install::uninstall(args),
        Command::Logs(args) => logs::logs(args),
        Command::Doctor(args) => doctor::doctor(args),
        Command::Mcp => mcp::serve(),
        Command::Launch(args) => launch::launch(args),
        Command::Completions(args) => {
            clap_complete::generate(
                args.shell,
                &mut Cli::command(),
                "claudectl",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(args) => bench::bench(args),
        Command::Mem(cmd) => mem::run(cmd),
        Command::Sup(cmd) => sup::run(cmd),
        Command::Mesh(cmd) => mesh::run(cmd),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // Error texts quote what daemons answered, which may quote peers.
            eprintln!("claudectl: {}", output::clean(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}

fn prints_data_only(command: &Command) -> bool {
    matches!(
        command,
        Command::Status(_)
            | Command::Logs(_)
            | Command::Doctor(_)
            | Command::Completions(_)
            | Command::Mem(_)
            | Command::Sup(_)
            | Command::Mesh(_)
    )
}
