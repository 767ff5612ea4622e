//! The accept loop shared by all daemons.
//!
//! One task accepts on every listener and is also the only place the idle decision is taken.
//! That makes idle exit lossless under socket activation: once the loop decides it is idle
//! (no open connection, no registered work, for the whole timeout) it stops accepting, so a
//! connection arriving afterwards stays in the kernel's backlog — the socket belongs to the
//! service manager, which starts us again for it. A connection accepted before the decision
//! was counted when accepted, so the decision could not have been taken.

use crate::daemon::activity::{Activity, ActivityGuard};
use crate::daemon::listen::Listener;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::poll_fn;
use std::io;
use std::task::Poll;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;

/// How long a kept-alive connection may sit without a request before it is closed; an idle
/// client connection must not keep the daemon awake forever.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(5);

/// A listener and the routes served on it.
pub struct Endpoint {
    /// The socket.
    pub listener: Listener,
    /// What it serves (already wrapped in the guards that fit the listener's kind).
    pub router: Router,
}

/// Why the accept loop stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// Nothing was live for the idle timeout.
    Idle,
    /// `stop` was cancelled (SIGTERM, SIGINT).
    Stopped,
}

enum Accepting {
    Unix(tokio::net::UnixListener),
    Tcp(tokio::net::TcpListener),
}

enum Conn {
    Unix(tokio::net::UnixStream),
    Tcp(tokio::net::TcpStream),
}

/// Accept and serve until idle (when `idle` is set) or until `stop` is cancelled.
///
/// Each connection holds an [`ActivityGuard`] for its whole life; when `drain` is cancelled
/// connections finish their current request and close. The caller waits for
/// [`Activity::drained`] after this returns.
pub async fn serve(
    endpoints: Vec<Endpoint>,
    activity: Activity,
    idle: Option<Duration>,
    stop: CancellationToken,
    drain: CancellationToken,
) -> io::Result<StopReason> {
    let mut accepting = Vec::with_capacity(endpoints.len());
    for Endpoint { listener, router } in endpoints {
        let l = match listener {
            Listener::Unix(l) => {
                l.set_nonblocking(true)?;
                Accepting::Unix(tokio::net::UnixListener::from_std(l)?)
            }
            Listener::Tcp(l) => {
                l.set_nonblocking(true)?;
                Accepting::Tcp(tokio::net::TcpListener::from_std(l)?)
            }
        };
        accepting.push((l, router));
    }
    loop {
        let idle_wait = async {
            match idle {
                Some(t) => activity.idle(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = stop.cancelled() => return Ok(StopReason::Stopped),
            (i, res) = accept_any(&accepting) => match res {
                Ok(conn) => {
                    // Counted before anything else can run: see the module comment.
                    let guard = activity.enter();
                    tokio::spawn(handle(conn, accepting[i].1.clone(), guard, drain.clone()));
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = idle_wait => return Ok(StopReason::Idle),
        }
    }
}

async fn accept_any(listeners: &[(Accepting, Router)]) -> (usize, io::Result<Conn>) {
    poll_fn(|cx| {
        for (i, (l, _)) in listeners.iter().enumerate() {
            let polled = match l {
                Accepting::Unix(l) => l.poll_accept(cx).map_ok(|(s, _)| Conn::Unix(s)),
                Accepting::Tcp(l) => l.poll_accept(cx).map_ok(|(s, _)| {
                    let _ = s.set_nodelay(true);
                    Conn::Tcp(s)
                }),
            };
            if let Poll::Ready(r) = polled {
                return Poll::Ready((i, r));
            }
        }
        Poll::Pending
    })
    .await
}

async fn handle(conn: Conn, router: Router, guard: ActivityGuard, drain: CancellationToken) {
    match conn {
        Conn::Unix(mut s) => {
            if super::peer::admit(&mut s).await {
                serve_conn(s, router, drain).await;
            }
        }
        Conn::Tcp(s) => serve_conn(s, router, drain).await,
    }
    drop(guard);
}

async fn serve_conn<I>(io: I, router: Router, drain: CancellationToken)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(KEEPALIVE_IDLE);
    let conn = builder
        .serve_connection(TokioIo::new(io), TowerToHyperService::new(router))
        .with_upgrades();
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = drain.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}
