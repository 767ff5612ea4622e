//! The runtime every daemon shares: get listeners, open the database, tell the service
//! manager, serve, keep the watchdog fed while healthy, exit when idle or asked to.
//!
//! A daemon provides a [`Service`] (its routes and health check); [`run`] does the rest, so
//! the three daemons behave the same under `systemctl --user`, launchd and in a terminal.

pub mod activity;
pub mod exit;
pub mod limits;
pub mod listen;
pub mod logging;
pub mod notify;
mod run;

pub use activity::{Activity, ActivityGuard};
pub use exit::{Exit, StartupError};
pub use run::{run, Context, DaemonArgs, Service};
