//! The command line of `claude-memd`: definitions only, so that claude-memd(1) is generated
//! from exactly what the daemon parses (tests/man_pages.rs includes this file).

use claude_daemons::daemon::DaemonArgs;

/// Persistent memory for Claude Code.
#[derive(clap::Parser, Debug)]
#[command(
    name = "claude-memd",
    version,
    long_about = "Persistent memory for Claude Code.\n\n\
        Captures prompts and tool use that claude-hook forwards, compresses them into \
        observations and session summaries, injects relevant past work at session start, and \
        serves full-text search, an HTTP API and a web viewer. Normally started on demand by \
        claude-memd.socket (or launchd); see claude-daemons(7) for sockets, routes, units and \
        troubleshooting, and claude-daemons.toml(5) for the [memory] settings."
)]
pub struct Cli {
    #[command(flatten)]
    pub daemon: DaemonArgs,
}
