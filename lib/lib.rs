//! The common library of claude-daemons: what two or more of the programs need.
//!
//! - [`daemon`]: listener acquisition (systemd, launchd, self-bind), sd_notify, watchdog, idle
//!   exit, graceful shutdown, logging — the runtime every daemon shares.
//! - [`http`]: serving axum on Unix and TCP listeners with a peer-credential guard, and the
//!   small blocking Unix-socket client used by `claude-hook` and `claudectl`.
//! - [`store`]: SQLite open with the house pragmas and versioned migrations.
//! - [`api`]: request/response types of the daemons' APIs, shared by servers and clients.
//! - [`mesh`]: what claude-meshd takes in from the broker: envelopes and presence records.
//! - [`nats`]: opening JetStream buckets the same way on every server version.
//! - [`paths`] and [`config`]: where things live and what the user configured.
//! - [`permissions`]: the umask and directory modes that keep state private to the user.
//! - [`spool`]: hook payloads claude-memd did not acknowledge, kept until it can.

pub mod api;
pub mod claude;
pub mod config;
pub mod daemon;
pub mod http;
pub mod mesh;
pub mod nats;
pub mod paths;
pub mod permissions;
pub mod spool;
pub mod store;
