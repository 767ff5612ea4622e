//! claude-memd: persistent memory for Claude Code.
//!
//! Started on demand by its socket unit (or launchd, or by hand with `--foreground`); see
//! claude-memd(1) and claude-daemons(7). Hooks arrive at `/v1/hook`, are committed by the
//! [`intake`] writer before they are acknowledged, and become observations in the
//! [`processor`] through a [`provider::Provider`] (the [`local`] builder by default). What
//! the hooks could not hand over in time waits in the spool until [`drain`] stores it.

mod announce;
mod bulk;
mod cli;
mod context;
mod drain;
mod edit;
mod edit_diff;
mod embed;
mod feed;
mod forget;
mod fts_query;
mod fts_upkeep;
mod import;
mod intake;
mod local;
mod observer;
mod privacy;
mod processor;
mod project;
mod provider;
mod recall;
#[cfg(test)]
mod recall_tests;
mod records;
mod redact;
mod reserve;
mod routes;
mod schema;
mod search;
mod share;
mod stats;
mod transfer;

use clap::Parser;
use claude_daemons::config::{Config, Provider as ProviderKind};
use claude_daemons::daemon::{self, Activity, Context, Exit, Service, StartupError};
use claude_daemons::http::viewer_login::ViewerLogin;
use claude_daemons::paths::Daemon;
use claude_daemons::spool::Spool;
use claude_daemons::store::{self, Db, Durability};
use cli::Cli;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// The daemon's shared state, handed to every route.
pub struct Memd {
    /// Reads, and the rare writes of the API (settings, deletes, pruning).
    pub db: Db,
    /// The hook's in-session lookups (see [`recall`]): their own connection, so a prompt's
    /// lookup never queues behind a search, and what a session was shown is marked
    /// without waiting for the disk.
    pub recall: Db,
    /// What prompts were shown is marked after their answers; a lookup waits for the marks
    /// written before it started (see `routes::hooks`).
    pub recall_marks: routes::hooks::Marks,
    /// The durable intake writer.
    pub intake: intake::Intake,
    /// Stores what the hooks spooled.
    pub drain: drain::Drain,
    /// Live announcements for `/stream`.
    pub announce: announce::Announcer,
    /// Counters for health.
    pub stats: Arc<stats::Stats>,
    /// The configuration.
    pub config: Arc<Config>,
    /// Keeps the daemon awake while work is open.
    pub activity: Activity,
    /// Cancelled when draining.
    pub shutdown: CancellationToken,
    /// Process start.
    pub started: Instant,
    provider: &'static str,
    observer: Option<Arc<observer::Status>>,
    /// Browser logins for the viewer (absent when `viewer_port = 0`).
    pub viewer: Option<Arc<ViewerLogin>>,
    supervisor_socket: std::path::PathBuf,
    /// Semantic recall: the embedding model, the vectors, the background embedder.
    pub semantic: Arc<embed::Semantic>,
    /// Merging the full-text indexes when writes pause.
    fts_upkeep: Arc<fts_upkeep::Upkeep>,
    /// Team memory, when `[memory.share]` (or `[mesh]`) names a broker, team and secret.
    pub share: Option<Arc<share::Share>>,
}

impl Service for Memd {
    fn routes(self: Arc<Self>) -> axum::Router {
        routes::router(self)
    }

    async fn check(&self) -> Result<(), String> {
        self.stats.threads_ok()?;
        self.db.check().await
    }

    fn health_details(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut d = self.stats.details(self.provider);
        d.insert("spool".into(), self.drain.details());
        d.insert("semantic".into(), self.semantic.details());
        d.insert("fts_upkeep".into(), self.fts_upkeep.details());
        if let Some(s) = &self.share {
            d.insert("share".into(), s.details());
        }
        if let Some(o) = &self.observer {
            d.insert("observer".into(), o.details());
        }
        d
    }

    fn db_path(&self) -> Option<&Path> {
        Some(self.db.path())
    }

    fn viewer_login(&self) -> Option<Arc<ViewerLogin>> {
        self.viewer.clone()
    }

    async fn on_exit(&self) {
        // Only when some are alive: asking a socket-activated supervisor would start it.
        if let Some(o) = self.observer.as_ref().filter(|o| o.live_count() > 0) {
            let socket = self.supervisor_socket.clone();
            tracing::info!(
                observers = o.live_count(),
                "stopping the observer processes"
            );
            let _ = tokio::task::spawn_blocking(move || observer::stop_all(&socket)).await;
        }
        self.db.optimize().await;
    }
}

fn open(ctx: &Context) -> Result<Memd, StartupError> {
    let path = ctx.paths.db(Daemon::Memd);
    // Reads and API writes; this first open also migrates.
    let reader = store::open(&path, &schema::SCHEMA, Durability::Full)?;
    // Intake commits are the acknowledgement: they wait for the disk.
    let writer = store::open(&path, &schema::SCHEMA, Durability::Full)?;
    // Processing can be redone after a power loss (observations are unique per event), so
    // its commits need not wait for the disk.
    let processing = store::open(&path, &schema::SCHEMA, Durability::Normal)?;
    // Marks of what a session was shown: a power loss at worst shows a record again. A
    // synchronous commit of each mark cost the prompt hook an fsync per record shown.
    let recall = store::open(&path, &schema::SCHEMA, Durability::Normal)?;
    // A forgotten record must leave no copy: every connection zeroes what it frees or
    // rewrites (see forget.rs).
    for c in [&reader, &writer, &processing, &recall] {
        forget::secure(c).map_err(|e| StartupError::Other {
            message: format!("database {}: {e}", path.display()),
            exit: Exit::Failure,
        })?;
    }
    // The writer and the processor take turns at the write lock many times a second;
    // SQLite's default busy wait backs off to 100 ms sleeps, which would stall both (and
    // a prompt's lookup, marking what it showed right after the processor took the lock
    // for that prompt's event, slept 1 + 2 + 5 ms).
    for c in [&writer, &processing, &recall] {
        c.busy_handler(Some(short_busy_wait))
            .map_err(|e| StartupError::Other {
                message: format!("database {}: {e}", path.display()),
                exit: Exit::Failure,
            })?;
    }
    let config = ctx.config.clone();
    let mut observer_status = None;
    let provider: Box<dyn provider::Provider> = match config.memory.provider {
        ProviderKind::Local => Box::new(local::LocalBuilder),
        ProviderKind::Claude => {
            // The observer's own connection: its spend, sessions and the prompts it reads.
            let conn = store::open(&path, &schema::SCHEMA, Durability::Normal)?;
            let _ = forget::secure(&conn);
            conn.busy_handler(Some(short_busy_wait))
                .map_err(|e| StartupError::Other {
                    message: format!("database {}: {e}", path.display()),
                    exit: Exit::Failure,
                })?;
            let status = Arc::new(observer::Status::default());
            observer_status = Some(status.clone());
            let workspace = ctx.paths.state_dir.join("observer-workspace");
            Box::new(
                observer::ClaudeObserver::new(
                    conn,
                    ctx.paths.socket(Daemon::Supervisord),
                    workspace.clone(),
                    &config.memory,
                    status,
                )
                .map_err(|e| StartupError::Other {
                    message: format!("observer workspace {}: {e}", workspace.display()),
                    exit: Exit::Failure,
                })?,
            )
        }
    };
    let provider_name = provider.name();
    let announce = announce::Announcer::new();
    let stats = Arc::new(stats::Stats::default());
    let thread_err = |e: std::io::Error| StartupError::Other {
        message: format!("cannot start a worker thread: {e}"),
        exit: Exit::Failure,
    };
    let kick = processor::start(
        processing,
        provider,
        config.memory.max_attempts.max(1),
        announce.clone(),
        stats.clone(),
        ctx.activity.clone(),
    )
    .map_err(thread_err)?;
    let reserve = reserve::Reserve {
        dir: ctx.paths.state_dir.clone(),
        bytes: config.memory.disk_reserve_mb.saturating_mul(1 << 20),
    };
    let intake = intake::Intake::start(writer, kick, announce.clone(), stats.clone(), reserve)
        .map_err(thread_err)?;
    let db = Db::new(reader, &path);
    let recall = Db::new(recall, &path);
    let drain = drain::Drain::start(drain::Parts {
        spool: Spool::new(&ctx.paths.state_dir),
        intake: intake.clone(),
        config: config.clone(),
        activity: ctx.activity.clone(),
        shutdown: ctx.shutdown.clone(),
        db: db.clone(),
    });
    // The background embedder's own connection: it reads records and writes their vectors.
    let semantic = embed::Semantic::new(ctx.paths.embedding_model());
    let embed_conn = store::open(&path, &schema::SCHEMA, Durability::Normal)?;
    forget::secure(&embed_conn)
        .and_then(|()| embed_conn.busy_handler(Some(short_busy_wait)))
        .map_err(|e| StartupError::Other {
            message: format!("database {}: {e}", path.display()),
            exit: Exit::Failure,
        })?;
    embed::worker::start(semantic.clone(), embed_conn, &announce).map_err(thread_err)?;
    // Merging the full-text indexes when writes pause: its own connection, as it writes.
    let upkeep_conn = store::open(&path, &schema::SCHEMA, Durability::Normal)?;
    forget::secure(&upkeep_conn)
        .and_then(|()| upkeep_conn.busy_handler(Some(short_busy_wait)))
        .map_err(|e| StartupError::Other {
            message: format!("database {}: {e}", path.display()),
            exit: Exit::Failure,
        })?;
    let fts_upkeep = fts_upkeep::start(upkeep_conn, &announce).map_err(thread_err)?;
    let viewer = if config.memory.viewer_port == 0 {
        None
    } else {
        let key = ctx.paths.state_dir.join("viewer-key");
        Some(Arc::new(ViewerLogin::load_or_create(&key).map_err(
            |e| StartupError::Other {
                message: format!("viewer login secret {}: {e}", key.display()),
                exit: Exit::Failure,
            },
        )?))
    };
    let share_conn = store::open(&path, &schema::SCHEMA, Durability::Normal)?;
    let share = forget::secure(&share_conn)
        .and_then(|()| share_conn.busy_handler(Some(short_busy_wait)))
        .map_err(|e| e.to_string())
        .and_then(|()| {
            share::start(share::Parts {
                config: config.clone(),
                state_dir: ctx.paths.state_dir.clone(),
                conn: share_conn,
                announce: announce.clone(),
                activity: ctx.activity.clone(),
                shutdown: ctx.shutdown.clone(),
            })
        })
        .map_err(|message| StartupError::Other {
            message: format!("team memory: {message}"),
            exit: Exit::Failure,
        })?;
    Ok(Memd {
        share,
        viewer,
        db,
        recall,
        recall_marks: Default::default(),
        intake,
        drain,
        announce,
        stats,
        config,
        activity: ctx.activity.clone(),
        shutdown: ctx.shutdown.clone(),
        started: Instant::now(),
        provider: provider_name,
        observer: observer_status,
        supervisor_socket: ctx.paths.socket(Daemon::Supervisord),
        semantic,
        fts_upkeep,
    })
}

/// Poll the lock every 200 µs, for at most about 5 s.
fn short_busy_wait(attempt: i32) -> bool {
    if attempt > 25_000 {
        return false;
    }
    std::thread::sleep(std::time::Duration::from_micros(200));
    true
}

fn main() -> ExitCode {
    // Before any thread exists: it sets an environment variable.
    embed::settle_threads();
    let cli = Cli::parse();
    daemon::run(Daemon::Memd, cli.daemon, open)
}
