//! [`run`]: the life of a daemon process from `main` to its exit code.

use super::activity::Activity;
use super::exit::{Exit, StartupError};
use super::limits;
use super::listen::{self, Activation, ActivationEnv, Listener};
use super::logging;
use super::notify::Notifier;
use crate::api::{Health, HealthStatus, Version, API_VERSION};
use crate::config::Config;
use crate::http::guard::{tcp_guard, TcpAuth, Token};
use crate::http::viewer_login::ViewerLogin;
use crate::http::{serve, Endpoint, StopReason};
use crate::paths::{Daemon, Paths};
use crate::permissions;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use std::future::Future;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How long draining may take after the last accept before we exit anyway.
const DRAIN_LIMIT: Duration = Duration::from_secs(20);

/// Flags every daemon accepts, with the same meaning.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct DaemonArgs {
    /// Exit after this many seconds with no connection, stream, background work or child
    /// (0 = never). Overrides the config file.
    #[arg(long, value_name = "SECONDS")]
    pub idle_timeout: Option<u64>,
    /// Run for development: bind the socket directly, log readable lines to stderr, and
    /// ignore service-manager variables (LISTEN_FDS, NOTIFY_SOCKET, JOURNAL_STREAM).
    #[arg(long)]
    pub foreground: bool,
}

/// What a daemon's own code gets from the runtime.
#[derive(Clone, Debug)]
pub struct Context {
    /// Which daemon this is.
    pub daemon: Daemon,
    /// The loaded configuration.
    pub config: Arc<Config>,
    /// Resolved paths (the state directory exists and is writable).
    pub paths: Paths,
    /// Register background work and children here so idle exit waits for them.
    pub activity: Activity,
    /// Cancelled when the daemon starts draining: end streams and background loops.
    pub shutdown: CancellationToken,
}

/// A daemon's own part.
pub trait Service: Send + Sync + 'static {
    /// The daemon's routes (`/v1/health` and `/v1/version` are added by the runtime).
    fn routes(self: Arc<Self>) -> Router;

    /// Whether the daemon can do its job; `Err(reason)` withholds watchdog pings and
    /// reports `degraded`.
    fn check(&self) -> impl Future<Output = Result<(), String>> + Send;

    /// Daemon-specific figures for `/v1/health` (queue depth, children, …).
    fn health_details(&self) -> serde_json::Map<String, serde_json::Value> {
        serde_json::Map::new()
    }

    /// The database file, shown in health output.
    fn db_path(&self) -> Option<&Path> {
        None
    }

    /// Browser logins for a web page on the TCP listener (claude-memd's viewer).
    fn viewer_login(&self) -> Option<Arc<ViewerLogin>> {
        None
    }

    /// Last work before exit (after draining), e.g. `PRAGMA optimize`.
    fn on_exit(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

struct Common<S> {
    service: Arc<S>,
    daemon: Daemon,
    started: Instant,
    activation: Activation,
    socket: Option<String>,
    listeners: Vec<String>,
    idle: Option<Duration>,
    activity: Activity,
}

/// Run a daemon to completion and return its exit code. `open` builds the service once the
/// configuration, state directory and listeners are ready (typically: open the database).
pub fn run<S, F>(daemon: Daemon, args: DaemonArgs, open: F) -> ExitCode
where
    S: Service,
    F: FnOnce(&Context) -> Result<S, StartupError>,
{
    // Before any thread exists: removing variables is only sound single-threaded.
    let activation_env = ActivationEnv::take();
    // Before anything is created: launchd, `claudectl run` and a shell pass the caller's
    // umask (often 022), which would leave the database readable by every local user.
    permissions::restrict_umask();
    let nofile = limits::raise_nofile();
    logging::init(daemon.program(), args.foreground);
    if let Some(r) = nofile {
        tracing::debug!(from = r.from, to = r.to, "open-file limit raised");
    }
    match start(daemon, args, activation_env, open) {
        Ok(code) => code.into(),
        Err(e) => {
            // One line on stderr: the journal records it under the unit when run by systemd.
            eprintln!("{}: {e}", daemon.program());
            e.exit().into()
        }
    }
}

fn start<S, F>(
    daemon: Daemon,
    args: DaemonArgs,
    activation_env: ActivationEnv,
    open: F,
) -> Result<Exit, StartupError>
where
    S: Service,
    F: FnOnce(&Context) -> Result<S, StartupError>,
{
    let paths = Paths::from_env();
    let config = Config::load(&paths.config_file)?;
    prepare_state_dir(&paths.state_dir)?;
    tighten_own_files(daemon, &paths);
    let idle_secs = args
        .idle_timeout
        .unwrap_or_else(|| config.idle_timeout_secs(daemon));
    let idle = (idle_secs > 0).then(|| Duration::from_secs(idle_secs));
    let tcp = match daemon {
        Daemon::Memd if config.memory.viewer_port != 0 => Some(std::net::SocketAddr::from((
            [127, 0, 0, 1],
            config.memory.viewer_port,
        ))),
        Daemon::Supervisord if config.supervisor.tcp_port != 0 => Some(std::net::SocketAddr::from(
            ([127, 0, 0, 1], config.supervisor.tcp_port),
        )),
        Daemon::Meshd if config.mesh.tcp_port != 0 => Some(std::net::SocketAddr::from((
            [127, 0, 0, 1],
            config.mesh.tcp_port,
        ))),
        _ => None,
    };
    let acquired = listen::acquire(
        &activation_env,
        &[daemon.short()],
        &paths.socket(daemon),
        tcp,
        args.foreground,
    )?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name(daemon.short())
        .build()
        .map_err(|e| StartupError::Other {
            message: format!("cannot start the async runtime: {e}"),
            exit: Exit::Failure,
        })?;
    let ctx = Context {
        daemon,
        config: Arc::new(config),
        paths,
        activity: Activity::new(),
        shutdown: CancellationToken::new(),
    };
    let _enter = runtime.enter();
    let service = Arc::new(open(&ctx)?);
    let exit = runtime.block_on(serve_until_done(
        ctx,
        service,
        acquired,
        idle,
        args.foreground,
    ))?;
    // Do not wait for stray blocking tasks (a query stuck on a lock) beyond the drain.
    runtime.shutdown_timeout(Duration::from_secs(2));
    Ok(exit)
}

fn prepare_state_dir(dir: &Path) -> Result<(), StartupError> {
    let fail = |source| StartupError::StateDir {
        path: dir.into(),
        source,
    };
    // Created 0700, or tightened when an older version (or `mkdir`) left it open.
    let change = permissions::private_dir(dir).map_err(fail)?;
    if let Some(what) = change.describe("state directory", dir) {
        tracing::info!("{what}");
    }
    // Creating the directory is not proof we can write in it (read-only mounts, a
    // directory owned by someone else): try.
    let probe = dir.join(format!(".write-probe-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(fail)?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Tighten what this daemon owns besides the state directory: its database files (left
/// 0644 by a start with a loose umask) and the configuration directory when it is the
/// default `claude-daemons` one (it may hold the mesh secret). Failures are logged, not
/// fatal: the state directory, already private, is what protects the files.
fn tighten_own_files(daemon: Daemon, paths: &Paths) {
    let db = paths.db(daemon);
    let mut files = vec![db.clone()];
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut name = db.clone().into_os_string();
        name.push(suffix);
        files.push(name.into());
    }
    let config_dir = paths
        .config_file
        .parent()
        .filter(|d| d.file_name().is_some_and(|n| n == "claude-daemons") && d.is_dir());
    if config_dir.is_some() {
        files.push(paths.config_file.clone());
    }
    for file in &files {
        match permissions::private_file(file) {
            Ok(change) => {
                if let Some(what) = change.describe("file", file) {
                    tracing::info!("{what}");
                }
            }
            Err(e) => tracing::warn!(file = %file.display(), error = %e, "cannot make private"),
        }
    }
    if let Some(dir) = config_dir {
        match permissions::private_dir(dir) {
            Ok(change) => {
                if let Some(what) = change.describe("configuration directory", dir) {
                    tracing::info!("{what}");
                }
            }
            Err(e) => tracing::warn!(dir = %dir.display(), error = %e, "cannot make private"),
        }
    }
}

async fn serve_until_done<S: Service>(
    ctx: Context,
    service: Arc<S>,
    acquired: listen::Listeners,
    idle: Option<Duration>,
    foreground: bool,
) -> Result<Exit, StartupError> {
    let daemon = ctx.daemon;
    let listeners: Vec<String> = acquired.listeners.iter().map(Listener::describe).collect();
    let socket = acquired.listeners.iter().find_map(|l| match l {
        Listener::Unix(_) => Some(l.describe()),
        Listener::Tcp(_) => None,
    });
    let common = Arc::new(Common {
        service: service.clone(),
        daemon,
        started: Instant::now(),
        activation: acquired.activation,
        socket: socket.clone(),
        listeners: listeners.clone(),
        idle,
        activity: ctx.activity.clone(),
    });
    let api = Router::new()
        .route("/v1/health", get(health::<S>))
        .route("/v1/version", get(version::<S>))
        .with_state(common)
        .merge(service.clone().routes());

    let mut endpoints = Vec::new();
    for listener in acquired.listeners {
        let router = match &listener {
            Listener::Unix(_) => api.clone(),
            Listener::Tcp(_) => {
                let token = Token::load_or_create(&ctx.paths.state_dir.join("api-token")).map_err(
                    |source| StartupError::StateDir {
                        path: ctx.paths.state_dir.clone(),
                        source,
                    },
                )?;
                let auth = TcpAuth {
                    token,
                    viewer: service.viewer_login(),
                };
                api.clone()
                    .layer(axum::middleware::from_fn_with_state(auth, tcp_guard))
            }
        };
        endpoints.push(Endpoint { listener, router });
    }

    let notifier = Notifier::from_env(!foreground);
    let idle_text = idle.map_or("never".into(), |d| format!("{} s", d.as_secs()));
    tracing::info!(
        activation = %acquired.activation,
        socket = socket.as_deref().unwrap_or(""),
        db = service.db_path().map(|p| p.display().to_string()).unwrap_or_default(),
        idle_timeout = %idle_text,
        version = env!("CARGO_PKG_VERSION"),
        "{} ready on {}",
        daemon.program(),
        listeners.join(", ")
    );
    notifier.ready(&format!(
        "Serving on {} ({}); idle exit after {idle_text}",
        listeners.join(", "),
        acquired.activation
    ));

    let stop = CancellationToken::new();
    tokio::spawn(forward_signals(stop.clone()));
    if let Some(interval) = notifier.watchdog_interval() {
        tokio::spawn(feed_watchdog(
            service.clone(),
            notifier.clone(),
            interval,
            stop.clone(),
        ));
    }

    let reason = serve(
        endpoints,
        ctx.activity.clone(),
        idle,
        stop.clone(),
        ctx.shutdown.clone(),
    )
    .await
    .map_err(|e| StartupError::Other {
        message: format!("cannot serve: {e}"),
        exit: Exit::Failure,
    })?;
    let why = match reason {
        StopReason::Idle => format!("idle for {idle_text}"),
        StopReason::Stopped => "asked to stop".to_string(),
    };
    notifier.stopping(&format!(
        "Stopping: {why}; draining {} connection(s)",
        ctx.activity.busy()
    ));
    tracing::info!(reason = %why, busy = ctx.activity.busy(), "stopping");
    stop.cancel();
    ctx.shutdown.cancel();
    if tokio::time::timeout(DRAIN_LIMIT, ctx.activity.drained())
        .await
        .is_err()
    {
        tracing::warn!(
            busy = ctx.activity.busy(),
            "drain limit reached; exiting with work open"
        );
    }
    service.on_exit().await;
    tracing::info!("{} exited cleanly", daemon.program());
    Ok(Exit::Ok)
}

async fn forward_signals(stop: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
    stop.cancel();
}

/// Ping the watchdog at half its interval, but only after a real health check passed: a
/// daemon whose database stopped answering should be restarted, not kept alive by a timer.
async fn feed_watchdog<S: Service>(
    service: Arc<S>,
    notifier: Notifier,
    interval: Duration,
    stop: CancellationToken,
) {
    let period = interval / 2;
    loop {
        match tokio::time::timeout(period / 2, service.check()).await {
            Ok(Ok(())) => notifier.watchdog(),
            Ok(Err(reason)) => {
                tracing::error!(%reason, "health check failed; withholding watchdog ping")
            }
            Err(_) => tracing::error!("health check timed out; withholding watchdog ping"),
        }
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = stop.cancelled() => return,
        }
    }
}

async fn health<S: Service>(State(c): State<Arc<Common<S>>>) -> Json<Health> {
    let check = tokio::time::timeout(Duration::from_secs(2), c.service.check())
        .await
        .unwrap_or_else(|_| Err("health check timed out".into()));
    Json(Health {
        status: if check.is_ok() {
            HealthStatus::Ok
        } else {
            HealthStatus::Degraded
        },
        reason: check.err(),
        program: c.daemon.program().into(),
        version: env!("CARGO_PKG_VERSION").into(),
        pid: std::process::id(),
        uptime_ms: c.started.elapsed().as_millis() as u64,
        activation: c.activation.to_string(),
        socket: c.socket.clone(),
        listeners: c.listeners.clone(),
        db: c.service.db_path().map(|p| p.display().to_string()),
        busy: c.activity.busy(),
        idle_timeout_secs: c.idle.map(|d| d.as_secs()),
        details: c.service.health_details(),
    })
}

async fn version<S: Service>(State(c): State<Arc<Common<S>>>) -> Json<Version> {
    Json(Version {
        program: c.daemon.program().into(),
        version: env!("CARGO_PKG_VERSION").into(),
        api: API_VERSION.into(),
    })
}
