//! Team memory: what a teammate's Claude learned about a repository, in your session.
//!
//! Opt-in per project ([`outbox::enable`], `claudectl mem share enable`): records made in a
//! shared project are published to the team's JetStream stream after the privacy pipeline
//! (they are published as stored: private parts are never stored, secrets are redacted
//! before), sealed with the team key and signed by this member ([`crypto`]). Each member's
//! claude-memd consumes the stream with a durable consumer and stores teammates' records
//! with who wrote them ([`store`]); context and search then include them.
//!
//! claude-memd is started on demand and exits when idle, so:
//! - **Catching up**: at every start the consumer resumes after the last record it
//!   acknowledged and keeps receiving while the daemon runs. `GET /v1/context` (the
//!   SessionStart hook) waits for that catch-up for at most half of `context_timeout_ms`.
//! - **Draining**: the outbox is in the database, filled by triggers in the record's own
//!   transaction. While it holds rows and the broker is reachable, the publisher keeps the
//!   daemon awake; rows left while the broker is down wait for the next start.

pub mod broker;
pub mod crypto;
pub mod identity;
pub mod outbox;
mod publish;
mod receive;
pub mod schema;
pub mod store;

use claude_daemons::config::Config;
use claude_daemons::daemon::Activity;
use rusqlite::Connection;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The running team memory of this daemon.
pub struct Share {
    member: identity::Member,
    key: [u8; 32],
    team: String,
    prompts: bool,
    conn: Mutex<Connection>,
    kick: tokio::sync::Notify,
    /// Teammates' records stored wake the viewer's live stream.
    announce: crate::announce::Announcer,
    caught_up: tokio::sync::watch::Sender<bool>,
    broker: std::sync::OnceLock<Arc<broker::Broker>>,
    published: AtomicU64,
    received: AtomicU64,
    rejected: AtomicU64,
    /// Records the broker can never take (over its max payload): dropped, not retried.
    refused: AtomicU64,
    activity: Activity,
    shutdown: CancellationToken,
}

/// What [`start`] needs.
pub struct Parts {
    /// The configuration.
    pub config: Arc<Config>,
    /// The state directory (the member key).
    pub state_dir: std::path::PathBuf,
    /// A connection of its own.
    pub conn: Connection,
    /// New records wake the publisher.
    pub announce: crate::announce::Announcer,
    /// Keeps the daemon awake while publishing.
    pub activity: Activity,
    /// Stops the tasks.
    pub shutdown: CancellationToken,
}

/// Start publishing and receiving when `[memory.share]` (or `[mesh]`) names a broker,
/// a team and a secret; `None` when sharing is not configured.
pub fn start(p: Parts) -> Result<Option<Arc<Share>>, String> {
    let Some((url, team, secret)) = p.config.share_target() else {
        return Ok(None);
    };
    let member = identity::Member::load(&p.state_dir, p.config.mesh.display_name.as_deref())?;
    let share = Arc::new(Share {
        key: crypto::team_key(&team, &secret),
        team: team.clone(),
        prompts: p.config.memory.share.prompts,
        member,
        conn: Mutex::new(p.conn),
        kick: tokio::sync::Notify::new(),
        announce: p.announce.clone(),
        caught_up: tokio::sync::watch::channel(false).0,
        broker: std::sync::OnceLock::new(),
        published: AtomicU64::new(0),
        received: AtomicU64::new(0),
        rejected: AtomicU64::new(0),
        refused: AtomicU64::new(0),
        activity: p.activity,
        shutdown: p.shutdown,
    });
    let s = share.clone();
    let (age, mb) = (
        p.config.memory.share.max_age_days,
        p.config.memory.share.max_mb,
    );
    let announce = p.announce;
    tokio::spawn(async move {
        let me = s.member.id.public_hex().to_string();
        let b = match broker::Broker::connect(&url, &team, &me, age, mb).await {
            Ok(b) => Arc::new(b),
            Err(e) => {
                tracing::error!(error = %e, %url, "team memory: cannot use the broker");
                return;
            }
        };
        let _ = s.broker.set(b.clone());
        tracing::info!(%url, team = %team, member = %me, "team memory on");
        tokio::spawn(publish::run(s.clone(), b.clone(), announce.subscribe()));
        receive::run(s, b).await;
    });
    Ok(Some(share))
}

impl Share {
    /// Run `f` on the share's own connection (blocking pool).
    async fn with_conn<R: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> anyhow::Result<R> {
        let s = self.clone();
        let r = tokio::task::spawn_blocking(move || {
            let mut c = s.conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut c)
        })
        .await??;
        Ok(r)
    }

    /// Whether the broker connection is up now.
    fn connected(&self) -> bool {
        self.broker.get().is_some_and(|b| b.connected())
    }

    /// Wake the publisher (a project was enabled).
    pub fn kick(&self) {
        self.kick.notify_one();
    }

    /// Wait until the consumer has caught up with the stream, at most `limit`; at most a
    /// quarter of a second while the broker is not connected (a broker that is down must not
    /// slow every session start).
    pub async fn caught_up(&self, limit: Duration) {
        let limit = if self.connected() {
            limit
        } else {
            limit.min(Duration::from_millis(250))
        };
        let mut rx = self.caught_up.subscribe();
        let _ = tokio::time::timeout(limit, rx.wait_for(|v| *v)).await;
    }

    /// For `/v1/health` and `GET /v1/share`.
    pub fn details(&self) -> Value {
        json!({
            "team": self.team,
            "member": self.member.id.public_hex(),
            "name": self.member.name,
            "host": self.member.host,
            "connected": self.connected(),
            "caught_up": *self.caught_up.borrow(),
            "published": self.published.load(Relaxed),
            "received": self.received.load(Relaxed),
            "rejected": self.rejected.load(Relaxed),
            "refused": self.refused.load(Relaxed),
        })
    }
}
