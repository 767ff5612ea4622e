//! Exit codes: each way a daemon can refuse to start has its own, from sysexits(3) where one
//! fits, so scripts and `systemctl status` (`status=78/CONFIG`) tell them apart.

use super::listen::ListenError;
use crate::config::ConfigError;
use crate::store::StoreError;

/// Exit status of a daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Clean exit: idle timeout or SIGTERM/SIGINT after draining.
    Ok = 0,
    /// An unexpected runtime failure.
    Failure = 1,
    /// claude-meshd: the host fingerprint changed and the policy refuses.
    HostRefused = 4,
    /// The database is corrupt or belongs to something else (EX_DATAERR).
    BadDatabase = 65,
    /// The socket activation environment is malformed (EX_OSERR).
    BadActivation = 71,
    /// The socket path is too long for the kernel (EX_OSFILE).
    SocketPath = 72,
    /// A state or runtime directory cannot be created or written (EX_CANTCREAT).
    CantCreate = 73,
    /// Another instance already serves the socket (EX_TEMPFAIL).
    InUse = 75,
    /// The configuration is invalid (EX_CONFIG).
    Config = 78,
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e as u8)
    }
}

/// Why a daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// Configuration file or environment.
    #[error("config: {0}")]
    Config(#[from] ConfigError),
    /// Listener acquisition.
    #[error(transparent)]
    Listen(#[from] ListenError),
    /// The state directory.
    #[error("state directory {path}: {source}")]
    StateDir {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Anything else (the async runtime, a daemon's own setup), with its exit code.
    #[error("{message}")]
    Other {
        /// What happened.
        message: String,
        /// The exit code to use.
        exit: Exit,
    },
}

impl StartupError {
    /// The exit code for this failure.
    pub fn exit(&self) -> Exit {
        match self {
            StartupError::Config(_) => Exit::Config,
            StartupError::Listen(e) => match e {
                ListenError::BadActivationEnv(_) => Exit::BadActivation,
                ListenError::PathTooLong { .. } => Exit::SocketPath,
                ListenError::InUse(_) => Exit::InUse,
                ListenError::NotASocket(_) | ListenError::RuntimeDir { .. } => Exit::CantCreate,
                ListenError::Bind { .. } => Exit::CantCreate,
            },
            StartupError::StateDir { .. } => Exit::CantCreate,
            StartupError::Store(e) if e.is_bad_file() => Exit::BadDatabase,
            StartupError::Store(_) => Exit::CantCreate,
            StartupError::Other { exit, .. } => *exit,
        }
    }
}
