//! claude-meshd: messaging between Claude Code sessions, on one machine (local mode) or many
//! (broker mode, NATS JetStream).
//!
//! Started on demand by its socket unit (or launchd, or by hand with `--foreground`); see
//! claude-meshd(1) and claude-daemons(7).

mod address;
mod bindings;
mod broker;
mod channels;
mod cli;
mod clock;
mod drain;
mod events;
mod fingerprint;
mod host;
mod identity;
mod inbox;
mod member_records;
mod mesh;
mod outbox;
mod peers;
mod presence;
mod pushes;
mod receive;
mod resolve;
mod routes;
mod schema;

use clap::Parser;
use claude_daemons::config::{HostPolicy, MeshConfig};
use claude_daemons::daemon::{self, Context, Exit, Service, StartupError};
// Parsed in the library (fuzzed there); named as modules of this crate as before.
use claude_daemons::mesh::{envelope as crypto, fields, presence_record};
use claude_daemons::paths::{Daemon, Paths};
use claude_daemons::store::{self, Db, Durability};
use cli::Cli;
use mesh::Mesh;
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};

/// Received messages are kept this long.
const INBOX_DAYS: u32 = 30;

struct Meshd {
    mesh: Arc<Mesh>,
}

impl Service for Meshd {
    fn routes(self: Arc<Self>) -> axum::Router {
        routes::router(self.mesh.clone())
    }

    async fn check(&self) -> Result<(), String> {
        self.mesh.db.check().await
    }

    fn health_details(&self) -> serde_json::Map<String, serde_json::Value> {
        let m = &self.mesh;
        let broker = match (m.broker_mode(), m.broker.get()) {
            (false, _) => "local",
            (true, Some(b)) if b.connected() => "connected",
            (true, _) => "disconnected",
        };
        let mut d = serde_json::Map::new();
        d.insert("mesh".into(), m.mesh.clone().into());
        d.insert("member_key".into(), m.identity.public_hex().into());
        d.insert("broker".into(), broker.into());
        d.insert(
            "sessions".into(),
            m.peers.locals().iter().filter(|p| p.online).count().into(),
        );
        d.insert(
            "rejected".into(),
            m.rejected.load(std::sync::atomic::Ordering::Relaxed).into(),
        );
        d
    }

    fn db_path(&self) -> Option<&Path> {
        Some(self.mesh.db.path())
    }

    async fn on_exit(&self) {
        self.mesh.db.optimize().await;
    }
}

fn other(message: String, exit: Exit) -> StartupError {
    StartupError::Other { message, exit }
}

fn check_host(ctx: &Context) -> Result<(), StartupError> {
    let current = host::HostId::current();
    let policy = ctx.config.mesh.host_policy;
    let verdict = host::check(&ctx.paths.state_dir, &current, policy)
        .map_err(|e| other(format!("host fingerprint: {e}"), Exit::CantCreate))?;
    match verdict {
        host::Verdict::Same => Ok(()),
        host::Verdict::Changed { recorded } => {
            if policy == HostPolicy::Warn {
                tracing::warn!(
                    recorded = %recorded.fingerprint,
                    current = %current.fingerprint,
                    "this state directory was recorded on another host; starting anyway (host_policy = warn)"
                );
            }
            Ok(())
        }
        host::Verdict::Refused { recorded } => Err(other(
            format!(
                "host fingerprint changed: recorded {} (machine-id {}, mac {}), this host {} (machine-id {}, mac {}); \
                 refusing to start (host_policy = refuse). If this is the same member on a new machine, run \
                 `claude-meshd --accept-host` (or `claudectl mesh accept-host`)",
                recorded.fingerprint,
                recorded.machine_id,
                or_none(&recorded.mac),
                current.fingerprint,
                current.machine_id,
                or_none(&current.mac),
            ),
            Exit::HostRefused,
        )),
    }
}

fn or_none(s: &str) -> &str {
    if s.is_empty() {
        "none"
    } else {
        s
    }
}

/// The `[mesh]` keys meshd checks beyond their types; returns the member allow-list
/// (lower-case hex).
fn check_config(cfg: &MeshConfig) -> Result<Vec<String>, StartupError> {
    let bad = |m: String| Err(other(m, Exit::Config));
    if !address::valid_name(&cfg.mesh) {
        return bad(format!(
            "[mesh] mesh = {:?}: use 1 to 64 of A-Z a-z 0-9 _ -",
            cfg.mesh
        ));
    }
    if cfg.broker_url.is_some() && cfg.mesh_secret.as_deref().unwrap_or("").is_empty() {
        return bad(
            "[mesh] mesh_secret is required in broker mode (broker_url is set): without it, \
             group, topic and broadcast messages are encrypted with a key any broker client can \
             derive. Put the same random string on every member (e.g. from `openssl rand -hex 32`) \
             in config.toml or CLAUDE_DAEMONS_MESH_MESH_SECRET"
                .into(),
        );
    }
    if let Some(n) = &cfg.display_name {
        if let Err(e) = fields::name(n) {
            return bad(format!("[mesh] display_name = {n:?}: {e}"));
        }
    }
    let mut members = Vec::with_capacity(cfg.members.len());
    for k in &cfg.members {
        let k = k.trim().to_ascii_lowercase();
        if k.len() != 64 || identity::parse_public(&k).is_none() {
            return bad(format!(
                "[mesh] members: {k:?} is not a member key (the 64 hex digits of `claudectl mesh \
                 peers` or /v1/health member_key)"
            ));
        }
        members.push(k);
    }
    Ok(members)
}

fn open(ctx: &Context) -> Result<Meshd, StartupError> {
    let cfg = &ctx.config.mesh;
    let members = check_config(cfg)?;
    check_host(ctx)?;
    let identity = identity::load_or_create(&ctx.paths.state_dir.join(identity::KEY_FILE))
        .map_err(|e| other(format!("mesh identity: {e:#}"), Exit::CantCreate))?;
    let path = ctx.paths.db(Daemon::Meshd);
    // NORMAL in WAL mode: a commit survives a crash of the daemon (kill -9), not of the
    // machine; it keeps an accept under a millisecond.
    let conn = store::open(&path, &schema::SCHEMA, Durability::Normal)?;
    // Every statement of the send, drain and receive paths stays compiled (the default 16
    // were evicted by the inbox queries, whose text varies with a session's groups).
    conn.set_prepared_statement_cache_capacity(128);
    let db_err = |e: rusqlite::Error| other(format!("{}: {e}", path.display()), Exit::BadDatabase);
    let reset = outbox::reset_inflight(&conn).map_err(db_err)?;
    if reset > 0 {
        tracing::info!(
            rows = reset,
            "outbox rows left inflight by a previous run are pending again"
        );
    }
    events::prune(&conn).map_err(db_err)?;
    let pruned = inbox::prune(&conn, INBOX_DAYS).map_err(db_err)?;
    if pruned > 0 {
        tracing::info!(
            rows = pruned,
            "pruned inbox messages older than {INBOX_DAYS} days"
        );
    }
    bindings::prune(&conn).map_err(db_err)?;
    receive::prune_seen(&conn).map_err(db_err)?;
    let forgotten = peers::prune(&conn, INBOX_DAYS).map_err(db_err)?;
    if forgotten > 0 {
        tracing::info!(
            rows = forgotten,
            "forgot sessions gone for {INBOX_DAYS} days"
        );
    }
    if !members.is_empty() && !members.iter().any(|k| k == identity.public_hex()) {
        tracing::warn!(
            member = %identity.public_hex(),
            "this member's own key is not in [mesh] members; the other members will not hear it"
        );
    }
    let mut peers = peers::Peers::load(
        &conn,
        identity.public_hex(),
        cfg.broker_url.is_some(),
        members,
    )
    .map_err(db_err)?;
    let display_name = cfg.display_name.clone().unwrap_or_else(hostname);
    peers.set_me(&display_name, Some(hostname()));
    let mesh = Arc::new(Mesh {
        db: Db::new(conn, &path),
        identity: Arc::new(identity),
        mesh: cfg.mesh.clone(),
        display_name,
        peers,
        events: events::Events::new(),
        wake: tokio::sync::Notify::new(),
        broker: OnceLock::new(),
        presence_tx: OnceLock::new(),
        channels: channels::Channels::default(),
        rejected: Default::default(),
        ctx: ctx.clone(),
    });
    tracing::info!(
        member = %mesh.identity.public_hex(),
        mesh = %mesh.mesh,
        broker = cfg.broker_url.as_deref().unwrap_or("none (local mode)"),
        "mesh identity ready"
    );
    if let Some(url) = cfg.broker_url.clone() {
        let m = mesh.clone();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let _ = mesh.presence_tx.set(tx);
        tokio::spawn(async move {
            let member = m.identity.public_hex().to_string();
            match broker::Broker::connect(&m.ctx.config.mesh, &member, &url).await {
                Ok((b, status)) => {
                    tokio::spawn(m.clone().broker_status(url.clone(), status));
                    let _ = m.broker.set(b.clone());
                    tokio::spawn(receive::consume(m.clone(), b.clone()));
                    tokio::spawn(presence::run(m.clone(), b, rx));
                    m.wake.notify_one();
                }
                Err(e) => {
                    tracing::error!(broker = %url, error = %e, "cannot use the broker; sends stay pending")
                }
            }
        });
    }
    tokio::spawn(drain::run(mesh.clone()));
    tokio::spawn(prune_hourly(mesh.clone()));
    Ok(Meshd { mesh })
}

/// Keep the event log and the inbox bounded in a daemon that never restarts.
async fn prune_hourly(mesh: Arc<Mesh>) {
    loop {
        tokio::select! {
            _ = mesh.ctx.shutdown.cancelled() => return,
            _ = tokio::time::sleep(std::time::Duration::from_secs(3600)) => {}
        }
        let r = mesh
            .db
            .call(|c| -> rusqlite::Result<(usize, usize)> {
                bindings::prune(c)?;
                receive::prune_seen(c)?;
                Ok((events::prune(c)?, inbox::prune(c, INBOX_DAYS)?))
            })
            .await;
        match r {
            Ok(Ok((e, i))) => tracing::debug!(events = e, inbox = i, "pruned"),
            Ok(Err(e)) => tracing::warn!(error = %e, "pruning failed"),
            Err(e) => tracing::warn!(error = %e, "pruning failed"),
        }
    }
}

/// The host name as a display name: one line, within the name limit.
fn hostname() -> String {
    let mut h: String = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default()
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    while h.len() > fields::MAX_NAME {
        h.pop();
    }
    if h.trim().is_empty() {
        "claude".into()
    } else {
        h
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.accept_host {
        let paths = Paths::from_env();
        let current = host::HostId::current();
        return match host::record(&paths.state_dir, &current) {
            Ok(()) => {
                println!(
                    "recorded host {} for {}",
                    current.fingerprint,
                    paths.state_dir.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("claude-meshd: cannot record the host: {e}");
                Exit::CantCreate.into()
            }
        };
    }
    daemon::run(Daemon::Meshd, cli.daemon, open)
}
