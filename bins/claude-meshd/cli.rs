//! The command line of `claude-meshd`: definitions only, so that claude-meshd(1) is
//! generated from exactly what the daemon parses (tests/man_pages.rs includes this file).

use claude_daemons::daemon::DaemonArgs;

/// Messaging between Claude Code sessions.
#[derive(clap::Parser, Debug)]
#[command(
    name = "claude-meshd",
    version,
    long_about = "Messaging between Claude Code sessions.\n\n\
        On one machine (local mode) or across machines through a NATS JetStream broker \
        (broker mode): a durable idempotent outbox, a deduplicated inbox, peers, presence and \
        server-sent events. Normally started on demand by claude-meshd.socket (or launchd); \
        see claude-daemons(7) for sockets, routes, units and troubleshooting, and \
        claude-daemons.toml(5) for the [mesh] settings."
)]
pub struct Cli {
    #[command(flatten)]
    pub daemon: DaemonArgs,
    /// Record this machine as the state directory's host (after a move or a hardware change
    /// made the daemon refuse to start), then exit.
    #[arg(long)]
    pub accept_host: bool,
}
