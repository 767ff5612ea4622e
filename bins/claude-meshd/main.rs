//! claude-meshd: messaging between Claude Code sessions.
//!
//! Started on demand by its socket unit (or launchd, or by hand with `--foreground`); see
//! claude-meshd(1) and claude-daemons(7).

mod schema;

use clap::Parser;
use claude_daemons::daemon::{self, Context, DaemonArgs, Service, StartupError};
use claude_daemons::paths::Daemon;
use claude_daemons::store::{self, Db, Durability};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

/// Messaging between Claude Code sessions.
#[derive(Parser, Debug)]
#[command(name = "claude-meshd", version, about)]
struct Cli {
    #[command(flatten)]
    daemon: DaemonArgs,
}

struct Meshd {
    db: Db,
}

impl Service for Meshd {
    fn routes(self: Arc<Self>) -> axum::Router {
        axum::Router::new()
    }

    async fn check(&self) -> Result<(), String> {
        self.db.check().await
    }

    fn db_path(&self) -> Option<&Path> {
        Some(self.db.path())
    }

    async fn on_exit(&self) {
        self.db.optimize().await;
    }
}

fn open(ctx: &Context) -> Result<Meshd, StartupError> {
    let path = ctx.paths.db(Daemon::Meshd);
    let conn = store::open(&path, &schema::SCHEMA, Durability::Full)?;
    Ok(Meshd {
        db: Db::new(conn, &path),
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    daemon::run(Daemon::Meshd, cli.daemon, open)
}
