//! claude-supervisord: a pool of long-lived Claude Code processes.
//!
//! Started on demand by its socket unit (or launchd, or by hand with `--foreground`); see
//! claude-supervisord(1) and claude-daemons(7).
//!
//! Children inherit the daemon's environment (HOME, PATH, ANTHROPIC_*, CLAUDE_CONFIG_DIR…)
//! minus the variables that belong to the daemon itself (see `child.rs`).

mod backoff;
mod channel_input;
mod child;
mod child_spec;
mod cli;
mod dialogs;
mod events;
mod file_tail;
mod fleet;
mod handle;
mod lines;
mod permission_records;
mod pool;
mod pty_child;
mod records;
mod routes;
mod rules;
mod schema;
mod screen;
mod session;
mod settings;
mod stop_hook;
mod terminal;
mod turn;

use clap::Parser;
use claude_daemons::daemon::{self, Context, Exit, Service, StartupError};
use claude_daemons::paths::Daemon;
use claude_daemons::store::{self, Db, Durability};
use cli::Cli;
use routes::App;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

struct Supervisord {
    app: Arc<App>,
}

impl Service for Supervisord {
    fn routes(self: Arc<Self>) -> axum::Router {
        routes::router(self.app.clone())
    }

    async fn check(&self) -> Result<(), String> {
        self.app.pool.db.check().await
    }

    fn health_details(&self) -> serde_json::Map<String, serde_json::Value> {
        let pool = &self.app.pool;
        let all = pool.all();
        let busy = all.iter().filter(|(_, h)| h.live().busy).count();
        let failed = all
            .iter()
            .filter(|(_, h)| h.live().failure.is_some())
            .count();
        let mut m = serde_json::Map::new();
        m.insert("children".into(), pool.children().into());
        m.insert("max_processes".into(), pool.max_processes().into());
        m.insert("sessions".into(), all.len().into());
        m.insert("sessions_busy".into(), busy.into());
        m.insert("sessions_failed".into(), failed.into());
        if let Some(f) = &self.app.fleet {
            m.insert("fleet".into(), f.name.clone().into());
            m.insert("fleet_host".into(), f.host.clone().into());
            m.insert("broker_connected".into(), f.connected().into());
        }
        m
    }

    fn db_path(&self) -> Option<&Path> {
        Some(self.app.pool.db.path())
    }

    async fn on_exit(&self) {
        self.app.pool.db.optimize().await;
    }
}

fn open(ctx: &Context) -> Result<Supervisord, StartupError> {
    let path = ctx.paths.db(Daemon::Supervisord);
    let conn = store::open(&path, &schema::SCHEMA, Durability::Normal)?;
    let daemon_id = records::daemon_id(&conn).map_err(|e| StartupError::Other {
        message: format!("database {}: {e}", path.display()),
        exit: Exit::Failure,
    })?;
    // Prompts a previous run left pending asked processes that are gone.
    match permission_records::abandon_pending(&conn) {
        Ok(0) => {}
        Ok(n) => tracing::info!("{n} permission prompts of a previous run marked denied"),
        Err(e) => tracing::warn!("cannot close the previous run's permission prompts: {e}"),
    }
    let db = Db::new(conn, &path);
    let pool = pool::new(
        ctx.config.supervisor.clone(),
        ctx.paths.clone(),
        db,
        ctx.activity.clone(),
        ctx.shutdown.clone(),
    );
    let fleet = fleet::start(&ctx.config.supervisor, pool.clone(), ctx.shutdown.clone()).map_err(
        |message| StartupError::Other {
            message,
            exit: Exit::Config,
        },
    )?;
    let app = Arc::new(App {
        pool,
        daemon_id,
        fleet: fleet.clone(),
    });
    if let Some(f) = fleet {
        // Weak: the fleet lives inside the app.
        let weak = Arc::downgrade(&app);
        f.set_http(Arc::new(move |method, path, body| {
            let app = weak.clone();
            Box::pin(async move {
                match app.upgrade() {
                    Some(app) => routes::answer_forwarded(app, method, path, body).await,
                    None => (503, b"{\"error\":\"shutting_down\",\"message\":\"the supervisor is shutting down\"}".to_vec()),
                }
            })
        }));
        let app = Arc::downgrade(&app);
        f.set_runner(Arc::new(move |key, ask, stream| {
            let app = app.clone();
            Box::pin(async move {
                let Some(app) = app.upgrade() else {
                    return Err(turn::TurnError::new(
                        "shutting_down",
                        "the supervisor is shutting down",
                    ));
                };
                routes::run_forwarded(&app, &key, ask, stream).await
            })
        }));
    }
    Ok(Supervisord { app })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    daemon::run(Daemon::Supervisord, cli.daemon, open)
}
