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
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::{CancellationToken, PollSemaphore};

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

enum Socket {
    Unix(tokio::net::UnixListener),
    Tcp(tokio::net::TcpListener),
}

/// A listener with its routes and its share of file descriptors.
struct Accepting {
    socket: Socket,
    router: Router,
    /// One permit per open connection: a full listener stops accepting (its connections
    /// wait in the kernel's backlog, costing us no descriptor) while the others go on.
    slots: PollSemaphore,
    /// A permit taken before the listener had a connection to accept.
    ready: Option<OwnedSemaphorePermit>,
}

enum Conn {
    Unix(tokio::net::UnixStream),
    Tcp(tokio::net::TcpStream),
}

/// Descriptors kept out of the connection budget: the database and its WAL, logs, the
/// broker link, children's pipes.
const RESERVED_FDS: u64 = 256;

/// How many connections each kind of listener may hold open with `nofile` descriptors.
/// TCP (any local user) gets a quarter of the budget, at most 1,024; the Unix socket (the
/// owner only) gets the rest, so that TCP clients can never use up what the owner needs.
fn connection_caps(nofile: u64) -> ConnectionCaps {
    let budget = nofile.saturating_sub(RESERVED_FDS).max(64);
    let tcp = (budget / 4).clamp(8, 1024);
    let unix = (budget - tcp).min(65_536);
    ConnectionCaps {
        unix: unix as usize,
        tcp: tcp as usize,
    }
}

/// Open connections allowed per listener kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ConnectionCaps {
    /// Per Unix listener.
    unix: usize,
    /// Per TCP listener.
    tcp: usize,
}

/// Accept-error bookkeeping: back off while descriptors run out, and log at most one line
/// per second (with how many failures it stands for) instead of one per attempt.
struct AcceptErrors {
    backoff: Duration,
    window: Option<Instant>,
    unlogged: u64,
}

impl AcceptErrors {
    const FIRST_BACKOFF: Duration = Duration::from_millis(10);
    const MAX_BACKOFF: Duration = Duration::from_secs(1);
    const LOG_EVERY: Duration = Duration::from_secs(1);

    fn new() -> AcceptErrors {
        AcceptErrors {
            backoff: Self::FIRST_BACKOFF,
            window: None,
            unlogged: 0,
        }
    }

    fn succeeded(&mut self) {
        self.backoff = Self::FIRST_BACKOFF;
    }

    /// Record `e`; returns how long to wait before accepting again.
    fn failed(&mut self, e: &io::Error) -> Duration {
        self.unlogged += 1;
        let now = Instant::now();
        if self
            .window
            .is_none_or(|w| now.duration_since(w) >= Self::LOG_EVERY)
        {
            tracing::warn!(
                error = %e,
                failures = self.unlogged,
                "accept failed ({} time(s) since the last report)",
                self.unlogged
            );
            self.window = Some(now);
            self.unlogged = 0;
        }
        // Out of descriptors (ours or the system's) or memory: retrying at once would
        // spin. A connection reset before we accepted it is not worth waiting for.
        let exhausted = matches!(
            e.raw_os_error(),
            Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
        );
        if !exhausted {
            return Duration::ZERO;
        }
        let wait = self.backoff;
        self.backoff = (self.backoff * 2).min(Self::MAX_BACKOFF);
        wait
    }
}

/// Accept and serve until idle (when `idle` is set) or until `stop` is cancelled.
///
/// Each connection holds an [`ActivityGuard`] for its whole life; when `drain` is cancelled
/// connections finish their current request and close. The caller waits for
/// [`Activity::drained`] after this returns. Open connections are capped per listener, from
/// the process's open-file limit: TCP gets a quarter of it (at most 1,024), the Unix socket
/// the rest, so TCP clients cannot take the descriptors the owner's requests need.
pub async fn serve(
    endpoints: Vec<Endpoint>,
    activity: Activity,
    idle: Option<Duration>,
    stop: CancellationToken,
    drain: CancellationToken,
) -> io::Result<StopReason> {
    let caps = connection_caps(crate::daemon::limits::nofile());
    let mut accepting = Vec::with_capacity(endpoints.len());
    for Endpoint { listener, router } in endpoints {
        let (socket, cap) = match listener {
            Listener::Unix(l) => {
                l.set_nonblocking(true)?;
                (
                    Socket::Unix(tokio::net::UnixListener::from_std(l)?),
                    caps.unix,
                )
            }
            Listener::Tcp(l) => {
                l.set_nonblocking(true)?;
                (Socket::Tcp(tokio::net::TcpListener::from_std(l)?), caps.tcp)
            }
        };
        accepting.push(Accepting {
            socket,
            router,
            slots: PollSemaphore::new(Arc::new(Semaphore::new(cap))),
            ready: None,
        });
    }
    tracing::debug!(unix = caps.unix, tcp = caps.tcp, "connection caps");
    let mut errors = AcceptErrors::new();
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
            (i, res) = accept_any(&mut accepting) => match res {
                Ok((conn, permit)) => {
                    errors.succeeded();
                    // Counted before anything else can run: see the module comment.
                    let guard = activity.enter();
                    let router = accepting[i].router.clone();
                    tokio::spawn(handle(conn, router, guard, permit, drain.clone()));
                }
                Err(e) => {
                    let wait = errors.failed(&e);
                    if !wait.is_zero() {
                        tokio::select! {
                            _ = tokio::time::sleep(wait) => {}
                            _ = stop.cancelled() => return Ok(StopReason::Stopped),
                        }
                    }
                }
            },
            _ = idle_wait => return Ok(StopReason::Idle),
        }
    }
}

/// The next connection on any listener that has a free slot, with that slot.
async fn accept_any(
    listeners: &mut [Accepting],
) -> (usize, io::Result<(Conn, OwnedSemaphorePermit)>) {
    poll_fn(|cx| {
        for (i, l) in listeners.iter_mut().enumerate() {
            if l.ready.is_none() {
                match l.slots.poll_acquire(cx) {
                    Poll::Ready(Some(permit)) => l.ready = Some(permit),
                    // Full: woken when a connection of this listener ends.
                    _ => continue,
                }
            }
            let polled = match &l.socket {
                Socket::Unix(s) => s.poll_accept(cx).map_ok(|(c, _)| Conn::Unix(c)),
                Socket::Tcp(s) => s.poll_accept(cx).map_ok(|(c, _)| {
                    let _ = c.set_nodelay(true);
                    Conn::Tcp(c)
                }),
            };
            match polled {
                Poll::Ready(Ok(conn)) => {
                    let permit = l.ready.take().expect("taken above");
                    return Poll::Ready((i, Ok((conn, permit))));
                }
                Poll::Ready(Err(e)) => return Poll::Ready((i, Err(e))),
                Poll::Pending => {}
            }
        }
        Poll::Pending
    })
    .await
}

async fn handle(
    conn: Conn,
    router: Router,
    guard: ActivityGuard,
    slot: OwnedSemaphorePermit,
    drain: CancellationToken,
) {
    match conn {
        Conn::Unix(mut s) => {
            if super::peer::admit(&mut s).await {
                serve_conn(s, router, drain).await;
            }
        }
        Conn::Tcp(s) => serve_conn(s, router, drain).await,
    }
    drop(slot);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_leave_the_unix_socket_room() {
        let small = connection_caps(1024);
        assert_eq!(
            small,
            ConnectionCaps {
                unix: 576,
                tcp: 192
            }
        );
        let big = connection_caps(524_288);
        assert_eq!(big.tcp, 1024);
        assert!(big.unix > 60_000);
        let tiny = connection_caps(100);
        assert!(tiny.tcp >= 8 && tiny.unix >= 8);
        for n in [256, 1024, 4096, 65_536] {
            let c = connection_caps(n);
            assert!(c.tcp < c.unix, "{n}: {c:?}");
        }
    }

    #[test]
    fn accept_errors_back_off_only_when_exhausted() {
        let mut e = AcceptErrors::new();
        let emfile = io::Error::from_raw_os_error(libc::EMFILE);
        let waits: Vec<Duration> = (0..10).map(|_| e.failed(&emfile)).collect();
        assert_eq!(waits[0], Duration::from_millis(10));
        assert_eq!(waits[1], Duration::from_millis(20));
        assert_eq!(waits[9], Duration::from_secs(1), "capped");
        e.succeeded();
        assert_eq!(e.failed(&emfile), Duration::from_millis(10));
        let reset = io::Error::from_raw_os_error(libc::ECONNABORTED);
        assert_eq!(e.failed(&reset), Duration::ZERO);
    }
}
