//! The command line of `claude-hook`: definitions only, so that claude-hook(1) is generated
//! from exactly what the program parses (tests/man_pages.rs includes this file). Claude Code
//! runs claude-hook with no arguments; main.rs only calls clap when some are given
//! (`--help`, `--version`), keeping the hot path free of it.

/// The command Claude Code runs for every hook event.
#[derive(clap::Parser, Debug)]
#[command(
    name = "claude-hook",
    version,
    long_about = "The command Claude Code runs for every hook event.\n\n\
        Reads one hook payload (JSON) on standard input, forwards it to claude-memd and \
        claude-meshd over their Unix sockets, and prints what Claude Code should read back \
        (context at session start, unread messages). It never blocks or fails the session: \
        it always exits 0 within its time budget ([memory] hook_timeout_ms and \
        context_timeout_ms in claude-daemons.toml(5)), and reports problems to the journal \
        only. An event claude-memd does not acknowledge in time is written to the spool \
        ($XDG_STATE_HOME/claude-daemons/spool/) and stored by claude-memd later, exactly \
        once. `claudectl install` registers it for every hook event; see claude-daemons(7)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What claude-hook does besides forwarding hook events.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// The Stop hook of an interactive session run by claude-supervisord (registered by the
    /// supervisor through the child's --settings, not by `claudectl install`): posts the
    /// hook's payload to the supervisor, which ends the session's turn with it.
    SupervisorStop {
        /// claude-supervisord's socket.
        #[arg(long)]
        socket: std::path::PathBuf,
        /// The session key.
        #[arg(long)]
        key: String,
    },
}
