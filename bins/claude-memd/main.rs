//! claude-memd: persistent memory for Claude Code.
//!
//! Started on demand by its socket unit (or launchd, or by hand with `--foreground`); see
//! claude-memd(1) and claude-daemons(7).

mod schema;

use clap::Parser;
use claude_daemons::daemon::{self, Context, DaemonArgs, Service, StartupError};
use claude_daemons::paths::Daemon;
use claude_daemons::store::{self, Db, Durability};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

/// Persistent memory for Claude Code.
#[derive(Parser, Debug)]
#[command(name = "claude-memd", version, about)]
struct Cli {
    #[command(flatten)]
    daemon: DaemonArgs,
}

struct Memd {
    db: Db,
}

impl Service for Memd {
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

fn open(ctx: &Context) -> Result<Memd, StartupError> {
    let path = ctx.paths.db(Daemon::Memd);
    let conn = store::open(&path, &schema::SCHEMA, Durability::Full)?;
    Ok(Memd {
        db: Db::new(conn, &path),
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    daemon::run(Daemon::Memd, cli.daemon, open)
}
