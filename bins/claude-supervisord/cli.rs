//! The command line of `claude-supervisord`: definitions only, so that claude-supervisord(1)
//! is generated from exactly what the daemon parses (tests/man_pages.rs includes this file).

use claude_daemons::daemon::DaemonArgs;

/// A pool of long-lived Claude Code processes.
#[derive(clap::Parser, Debug)]
#[command(
    name = "claude-supervisord",
    version,
    long_about = "A pool of long-lived Claude Code processes.\n\n\
        Keeps one Claude Code process per session key, reachable over a local API: ask, \
        stream, interrupt, restart with backoff, idle reap and resume. Normally started on \
        demand by claude-supervisord.socket (or launchd); see claude-daemons(7) for sockets, \
        routes, units and troubleshooting, and claude-daemons.toml(5) for the [supervisor] \
        settings."
)]
pub struct Cli {
    #[command(flatten)]
    pub daemon: DaemonArgs,
}
