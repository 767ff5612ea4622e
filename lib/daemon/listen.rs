//! Getting the listening sockets: from systemd, from launchd, or by binding them ourselves.
//!
//! The order matters: a service manager that passed sockets owns them (and keeps them open
//! across our idle exits, which is what makes on-demand start lossless); only without one do
//! we bind, and then we must never steal a socket a live daemon still answers on.

use std::io;
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use crate::paths::{socket_path_fits, MAX_SOCKET_PATH};

/// The first file descriptor a service manager passes (`SD_LISTEN_FDS_START`).
pub const LISTEN_FDS_START: RawFd = 3;

/// How the listeners were obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// Passed by systemd (`LISTEN_FDS`).
    Systemd,
    /// Passed by launchd (`launch_activate_socket`).
    Launchd,
    /// Bound by the daemon itself (foreground / development).
    #[serde(rename = "self-bound")]
    SelfBound,
}

impl std::fmt::Display for Activation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Activation::Systemd => "systemd",
            Activation::Launchd => "launchd",
            Activation::SelfBound => "self-bound",
        })
    }
}

/// One listening socket.
#[derive(Debug)]
pub enum Listener {
    /// A Unix stream socket: the API, guarded by peer credentials.
    Unix(UnixListener),
    /// A TCP socket on loopback: health probe, viewer and token-guarded API.
    Tcp(std::net::TcpListener),
}

impl Listener {
    /// A human-readable address for logs and health output.
    pub fn describe(&self) -> String {
        match self {
            Listener::Unix(l) => l
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(|p| p.display().to_string()))
                .unwrap_or_else(|| "unix:?".into()),
            Listener::Tcp(l) => l
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_else(|_| "tcp:?".into()),
        }
    }
}

/// The sockets a daemon serves on, and where they came from.
#[derive(Debug)]
pub struct Listeners {
    /// How they were obtained.
    pub activation: Activation,
    /// The sockets, Unix first.
    pub listeners: Vec<Listener>,
}

/// Why no listener could be had. Each kind maps to its own exit code.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// `LISTEN_PID`/`LISTEN_FDS`/`LISTEN_FDNAMES` are set but unusable.
    #[error("socket activation environment is invalid: {0}")]
    BadActivationEnv(String),
    /// The socket path does not fit in `sockaddr_un`.
    #[error("socket path is {len} bytes, longer than the {MAX_SOCKET_PATH} the kernel allows: {path} (set CLAUDE_DAEMONS_RUNTIME_DIR to a shorter directory)")]
    PathTooLong {
        /// The path.
        path: PathBuf,
        /// Its length in bytes.
        len: usize,
    },
    /// Another daemon answers on the socket.
    #[error("another instance is already listening on {0} (stop it first, or use `systemctl --user stop`)")]
    InUse(PathBuf),
    /// The socket path holds something that is not a socket; we never delete it.
    #[error("{0} exists and is not a socket; refusing to replace it")]
    NotASocket(PathBuf),
    /// The runtime directory could not be prepared.
    #[error("runtime directory {path}: {source}")]
    RuntimeDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Binding failed.
    #[error("cannot listen on {path}: {source}")]
    Bind {
        /// The address.
        path: String,
        /// Why.
        source: io::Error,
    },
}

/// The `LISTEN_*` variables as read from the environment at start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ActivationEnv {
    /// `LISTEN_PID`.
    pub listen_pid: Option<String>,
    /// `LISTEN_FDS`.
    pub listen_fds: Option<String>,
    /// `LISTEN_FDNAMES`.
    pub listen_fdnames: Option<String>,
}

impl ActivationEnv {
    /// Read and remove the variables, so that children (Claude Code processes) never
    /// believe sockets were passed to them. Call before any thread is started.
    pub fn take() -> ActivationEnv {
        let take = |k: &str| {
            let v = std::env::var(k).ok();
            std::env::remove_var(k);
            v
        };
        ActivationEnv {
            listen_pid: take("LISTEN_PID"),
            listen_fds: take("LISTEN_FDS"),
            listen_fdnames: take("LISTEN_FDNAMES"),
        }
    }

    /// The fds passed to process `pid`, with their names; `None` when nothing was passed
    /// to us (unset, or meant for another process).
    pub fn passed_fds(&self, pid: u32) -> Result<Option<Vec<(RawFd, String)>>, ListenError> {
        let bad = |m: String| Err(ListenError::BadActivationEnv(m));
        let Some(listen_pid) = &self.listen_pid else {
            if self.listen_fds.is_some() {
                return bad("LISTEN_FDS is set without LISTEN_PID".into());
            }
            return Ok(None);
        };
        let Ok(listen_pid) = listen_pid.trim().parse::<u32>() else {
            return bad(format!("LISTEN_PID={listen_pid:?} is not a process id"));
        };
        if listen_pid != pid {
            // Inherited from a parent that was activated: not ours.
            return Ok(None);
        }
        let Some(fds) = &self.listen_fds else {
            return bad("LISTEN_PID is set without LISTEN_FDS".into());
        };
        let n = match fds.trim().parse::<u16>() {
            Ok(0) => return bad("LISTEN_FDS=0: no socket was passed".into()),
            Ok(n) => n as RawFd,
            Err(_) => return bad(format!("LISTEN_FDS={fds:?} is not a count")),
        };
        let names: Vec<String> = match &self.listen_fdnames {
            Some(names) => names.split(':').map(str::to_owned).collect(),
            None => Vec::new(),
        };
        if !names.is_empty() && names.len() != n as usize {
            return bad(format!(
                "LISTEN_FDNAMES has {} names for LISTEN_FDS={n}",
                names.len()
            ));
        }
        Ok(Some(
            (0..n)
                .map(|i| {
                    let name = names.get(i as usize).cloned().unwrap_or_default();
                    (LISTEN_FDS_START + i, name)
                })
                .collect(),
        ))
    }
}

/// Take ownership of passed listening sockets, checking that each is one.
///
/// # Safety
/// The caller must own every fd in `fds` (they were passed to this process and nothing
/// else wraps them).
pub unsafe fn adopt_fds(fds: &[(RawFd, String)]) -> Result<Vec<Listener>, ListenError> {
    let mut out = Vec::with_capacity(fds.len());
    for (fd, name) in fds {
        let bad = |m: &str| ListenError::BadActivationEnv(format!("fd {fd} ({name:?}): {m}"));
        let mut ty: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        let r = libc::getsockopt(
            *fd,
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            &mut ty as *mut _ as *mut _,
            &mut len,
        );
        if r != 0 {
            return Err(bad(&format!(
                "not a socket ({})",
                io::Error::last_os_error()
            )));
        }
        if ty != libc::SOCK_STREAM {
            return Err(bad("not a stream socket"));
        }
        let mut addr: libc::sockaddr_storage = std::mem::zeroed();
        let mut alen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        if libc::getsockname(*fd, &mut addr as *mut _ as *mut libc::sockaddr, &mut alen) != 0 {
            return Err(bad(&io::Error::last_os_error().to_string()));
        }
        // Passed fds lack FD_CLOEXEC; children must not inherit our listeners.
        libc::fcntl(*fd, libc::F_SETFD, libc::FD_CLOEXEC);
        let listener = match addr.ss_family as libc::c_int {
            libc::AF_UNIX => Listener::Unix(UnixListener::from_raw_fd(*fd)),
            libc::AF_INET | libc::AF_INET6 => {
                let l = std::net::TcpListener::from_raw_fd(*fd);
                // The contract binds TCP to loopback only; a unit edited to listen on all
                // addresses would expose the API to the network.
                match l.local_addr() {
                    Ok(a) if a.ip().is_loopback() => Listener::Tcp(l),
                    Ok(a) => {
                        return Err(bad(&format!("TCP socket on {a} is not loopback; refusing")))
                    }
                    Err(e) => return Err(bad(&e.to_string())),
                }
            }
            other => return Err(bad(&format!("unsupported address family {other}"))),
        };
        out.push(listener);
    }
    // Unix first: the API socket is the primary one.
    out.sort_by_key(|l| matches!(l, Listener::Tcp(_)));
    Ok(out)
}

/// Bind the daemon's Unix socket at `path`: runtime dir 0700, socket 0600, a stale socket
/// replaced only when nothing answers on it.
pub fn bind_unix(path: &Path) -> Result<UnixListener, ListenError> {
    let len = path.as_os_str().len();
    if !socket_path_fits(path) {
        return Err(ListenError::PathTooLong {
            path: path.into(),
            len,
        });
    }
    let dir = path.parent().unwrap_or(Path::new("/"));
    prepare_runtime_dir(dir).map_err(|source| ListenError::RuntimeDir {
        path: dir.into(),
        source,
    })?;
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => match UnixStream::connect(path) {
            Ok(_) => return Err(ListenError::InUse(path.into())),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                tracing::info!(socket = %path.display(), "replacing stale socket");
                let _ = std::fs::remove_file(path);
            }
            Err(source) => {
                return Err(ListenError::Bind {
                    path: path.display().to_string(),
                    source,
                })
            }
        },
        Ok(_) => return Err(ListenError::NotASocket(path.into())),
        Err(_) => {}
    }
    let bind_err = |source| ListenError::Bind {
        path: path.display().to_string(),
        source,
    };
    let listener = UnixListener::bind(path).map_err(bind_err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(bind_err)?;
    Ok(listener)
}

/// Create the runtime directory 0700, or tighten an existing one of ours to 0700.
fn prepare_runtime_dir(dir: &Path) -> io::Result<()> {
    let change = crate::permissions::private_dir(dir)?;
    if let Some(what) = change.describe("runtime directory", dir) {
        tracing::info!("{what}");
    }
    Ok(())
}

/// Bind a loopback TCP listener (self-bound mode only).
pub fn bind_tcp(addr: std::net::SocketAddr) -> Result<std::net::TcpListener, ListenError> {
    debug_assert!(addr.ip().is_loopback(), "TCP listeners bind loopback only");
    std::net::TcpListener::bind(addr).map_err(|source| ListenError::Bind {
        path: addr.to_string(),
        source,
    })
}

#[cfg(target_os = "macos")]
mod launchd {
    use super::*;
    extern "C" {
        fn launch_activate_socket(
            name: *const libc::c_char,
            fds: *mut *mut libc::c_int,
            cnt: *mut libc::size_t,
        ) -> libc::c_int;
    }

    /// Sockets launchd holds for us under `name`; `None` when not started by launchd.
    pub fn activate(name: &str) -> Result<Option<Vec<(RawFd, String)>>, ListenError> {
        let cname = std::ffi::CString::new(name).expect("socket names have no NUL");
        let mut fds: *mut libc::c_int = std::ptr::null_mut();
        let mut cnt: libc::size_t = 0;
        // SAFETY: out-pointers are valid; on success launchd allocates `fds` with malloc.
        let r = unsafe { launch_activate_socket(cname.as_ptr(), &mut fds, &mut cnt) };
        if r == libc::ESRCH || r == libc::ENOENT {
            return Ok(None);
        }
        if r != 0 {
            return Err(ListenError::BadActivationEnv(format!(
                "launch_activate_socket({name}): {}",
                io::Error::from_raw_os_error(r)
            )));
        }
        // SAFETY: launchd returned `cnt` fds in a malloc'd array that we now own.
        let out = unsafe {
            let v = std::slice::from_raw_parts(fds, cnt)
                .iter()
                .map(|fd| (*fd, name.to_string()))
                .collect();
            libc::free(fds as *mut libc::c_void);
            v
        };
        Ok(Some(out))
    }
}

/// Obtain the listeners: systemd, then launchd (`launchd_names`), then self-bind `unix_path`
/// (plus `tcp` when given). `foreground` skips the service managers entirely.
pub fn acquire(
    env: &ActivationEnv,
    launchd_names: &[&str],
    unix_path: &Path,
    tcp: Option<std::net::SocketAddr>,
    foreground: bool,
) -> Result<Listeners, ListenError> {
    if !foreground {
        if let Some(fds) = env.passed_fds(std::process::id())? {
            // SAFETY: LISTEN_PID names this process, so these fds were passed to us.
            let listeners = unsafe { adopt_fds(&fds)? };
            return Ok(Listeners {
                activation: Activation::Systemd,
                listeners,
            });
        }
        #[cfg(target_os = "macos")]
        {
            let mut fds = Vec::new();
            for name in launchd_names {
                fds.extend(launchd::activate(name)?.unwrap_or_default());
            }
            if !fds.is_empty() {
                // SAFETY: launchd handed these fds to us.
                let listeners = unsafe { adopt_fds(&fds)? };
                return Ok(Listeners {
                    activation: Activation::Launchd,
                    listeners,
                });
            }
        }
    }
    let _ = launchd_names;
    let mut listeners = vec![Listener::Unix(bind_unix(unix_path)?)];
    if let Some(addr) = tcp {
        match bind_tcp(addr) {
            Ok(l) => listeners.push(Listener::Tcp(l)),
            // The Unix socket is the daemon's contract; a busy viewer port is not fatal.
            Err(e) => tracing::warn!(error = %e, "TCP listener not available"),
        }
    }
    Ok(Listeners {
        activation: Activation::SelfBound,
        listeners,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::IntoRawFd;

    fn env(pid: Option<&str>, fds: Option<&str>, names: Option<&str>) -> ActivationEnv {
        ActivationEnv {
            listen_pid: pid.map(Into::into),
            listen_fds: fds.map(Into::into),
            listen_fdnames: names.map(Into::into),
        }
    }

    #[test]
    fn nothing_passed() {
        assert_eq!(env(None, None, None).passed_fds(42).unwrap(), None);
    }

    #[test]
    fn fds_start_at_three_with_names() {
        let got = env(Some("42"), Some("2"), Some("memd:viewer"))
            .passed_fds(42)
            .unwrap()
            .unwrap();
        assert_eq!(got, vec![(3, "memd".into()), (4, "viewer".into())]);
        let unnamed = env(Some("42"), Some("1"), None)
            .passed_fds(42)
            .unwrap()
            .unwrap();
        assert_eq!(unnamed, vec![(3, String::new())]);
    }

    #[test]
    fn wrong_pid_is_ignored() {
        assert_eq!(
            env(Some("41"), Some("1"), None).passed_fds(42).unwrap(),
            None
        );
    }

    #[test]
    fn malformed_is_an_error() {
        for e in [
            env(Some("abc"), Some("1"), None),
            env(Some("42"), Some("x"), None),
            env(Some("42"), Some("0"), None),
            env(Some("42"), None, None),
            env(None, Some("1"), None),
            env(Some("42"), Some("2"), Some("only-one")),
        ] {
            assert!(
                matches!(e.passed_fds(42), Err(ListenError::BadActivationEnv(_))),
                "{e:?}"
            );
        }
    }

    #[test]
    fn adopts_unix_and_tcp_and_rejects_non_sockets() {
        let dir = tempfile::tempdir().unwrap();
        let unix = UnixListener::bind(dir.path().join("s"))
            .unwrap()
            .into_raw_fd();
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp_addr = tcp.local_addr().unwrap();
        let tcp = tcp.into_raw_fd();
        // TCP first on purpose: adoption puts the Unix API socket first.
        let got = unsafe { adopt_fds(&[(tcp, "viewer".into()), (unix, "memd".into())]) }.unwrap();
        assert!(matches!(got[0], Listener::Unix(_)));
        assert!(matches!(got[1], Listener::Tcp(_)));
        assert_eq!(got[1].describe(), tcp_addr.to_string());
        let flags = unsafe { libc::fcntl(unix, libc::F_GETFD) };
        assert!(flags & libc::FD_CLOEXEC != 0);

        let open = std::net::TcpListener::bind("0.0.0.0:0")
            .unwrap()
            .into_raw_fd();
        let err = unsafe { adopt_fds(&[(open, "viewer".into())]) }.unwrap_err();
        assert!(err.to_string().contains("not loopback"), "{err}");

        let file = std::fs::File::create(dir.path().join("f"))
            .unwrap()
            .into_raw_fd();
        let err = unsafe { adopt_fds(&[(file, "x".into())]) }.unwrap_err();
        assert!(matches!(err, ListenError::BadActivationEnv(_)), "{err}");
        unsafe { libc::close(file) };
    }

    #[test]
    fn self_bind_modes_and_stale_socket() {
        let dir = tempfile::tempdir().unwrap();
        let rt = dir.path().join("rt");
        let path = rt.join("memd.sock");
        let l = bind_unix(&path).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&rt), 0o700);
        assert_eq!(mode(&path), 0o600);
        // A live listener is never stolen.
        assert!(matches!(bind_unix(&path), Err(ListenError::InUse(_))));
        drop(l);
        // Nothing answers any more: the stale socket is replaced.
        let _l2 = bind_unix(&path).unwrap();
    }

    #[test]
    fn refuses_to_replace_a_file_or_long_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("memd.sock");
        std::fs::write(&path, "precious").unwrap();
        assert!(matches!(bind_unix(&path), Err(ListenError::NotASocket(_))));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
        let long = dir.path().join("x".repeat(MAX_SOCKET_PATH));
        assert!(matches!(
            bind_unix(&long),
            Err(ListenError::PathTooLong { .. })
        ));
    }
}
