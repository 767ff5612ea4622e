//! HTTP/1.1 for the daemons: serving axum routers on Unix and loopback TCP listeners, the
//! guards that keep other users and web pages out, and a small blocking client.

pub mod client;
pub mod guard;
mod peer;
mod serve;
pub mod viewer_login;

pub use client::{ClientError, Response, UnixClient};
pub use serve::{serve, Endpoint, StopReason};
