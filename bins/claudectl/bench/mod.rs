//! `claudectl bench`: what the daemons cost on this machine, with the programs installed on
//! it. Scratch copies of the daemons run in a temporary directory ([`scratch`]), each figure
//! is measured interleaved with a baseline from the same run ([`measure`]), and the report
//! is a table or one JSON object ([`report`]).

mod hook;
mod measure;
mod memory;
mod mesh;
mod report;
mod scratch;

use crate::binaries;
use crate::cli::{BenchArgs, BenchTarget};
use crate::daemon_client::{CtlError, EXIT_ERROR, EXIT_UNREACHABLE};
use claude_daemons::paths::Daemon;
use measure::Plan;
use scratch::Scratch;
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit status after Ctrl-C or SIGTERM (128 + SIGINT, as shells report it).
const EXIT_INTERRUPTED: u8 = 130;

/// Why a bench did not finish.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A program to measure is not installed where claudectl looked.
    #[error(transparent)]
    Missing(#[from] binaries::Missing),
    /// A scratch daemon exited or never answered.
    #[error("the scratch {program} did not start: {why}; its last log lines:\n{log}")]
    NotStarted {
        program: &'static str,
        why: String,
        log: String,
    },
    /// Ctrl-C or SIGTERM.
    #[error("interrupted; the scratch daemons are stopped and their directory removed")]
    Interrupted,
    /// A scratch daemon stopped answering.
    #[error("the scratch {program} stopped answering on {socket} ({detail})")]
    Lost {
        program: &'static str,
        socket: PathBuf,
        detail: String,
    },
    /// A scratch daemon refused a request, or answered something unexpected.
    #[error(transparent)]
    Daemon(CtlError),
    /// Anything else.
    #[error("{0:#}")]
    Other(#[from] anyhow::Error),
}

impl BenchError {
    fn code(&self) -> u8 {
        match self {
            BenchError::Missing(_) | BenchError::Other(_) => EXIT_ERROR,
            BenchError::NotStarted { .. } | BenchError::Lost { .. } => EXIT_UNREACHABLE,
            BenchError::Interrupted => EXIT_INTERRUPTED,
            BenchError::Daemon(e) => e.code(),
        }
    }
}

impl From<CtlError> for BenchError {
    /// The operator's "start it with systemctl" advice does not apply to a scratch daemon.
    fn from(e: CtlError) -> BenchError {
        match e {
            CtlError::Unreachable {
                program,
                socket,
                detail,
            } => BenchError::Lost {
                program,
                socket,
                detail,
            },
            other => BenchError::Daemon(other),
        }
    }
}

/// `Err(Interrupted)` once Ctrl-C or SIGTERM arrived.
pub fn check_interrupt() -> Result<(), BenchError> {
    match crate::stop_signal::received() {
        Some(_) => Err(BenchError::Interrupted),
        None => Ok(()),
    }
}

/// Run `claudectl bench`.
pub fn bench(args: BenchArgs) -> anyhow::Result<ExitCode> {
    crate::stop_signal::catch();
    let (report, cleanup) = match measure_all(&args) {
        Ok(done) => done,
        Err(e) => {
            // A Ctrl-C also breaks what was under way (a hook child, a read): say why.
            let e = match crate::stop_signal::received() {
                Some(_) => BenchError::Interrupted,
                None => e,
            };
            eprintln!("claudectl: bench: {e}");
            return Ok(ExitCode::from(e.code()));
        }
    };
    match args.json {
        true => report.print_json(),
        false => report.print_table(),
    }
    // The figures stand; a daemon that did not stop cleanly is still a failure to report.
    Ok(match cleanup {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("claudectl: bench: {e}");
            ExitCode::from(e.code())
        }
    })
}

/// The programs a target needs, found before anything starts.
struct Programs {
    memd: Option<PathBuf>,
    meshd: Option<PathBuf>,
    hook: Option<PathBuf>,
}

impl Programs {
    fn find(args: &BenchArgs) -> Result<Programs, BenchError> {
        let t = args.target;
        let want = |yes: bool, name: &str| -> Result<Option<PathBuf>, BenchError> {
            match yes {
                true => Ok(Some(binaries::require(args.bindir.as_deref(), name)?)),
                false => Ok(None),
            }
        };
        // The hook figure runs with both daemons up, as in a session.
        Ok(Programs {
            memd: want(t != BenchTarget::Mesh, "claude-memd")?,
            meshd: want(t != BenchTarget::Memory, "claude-meshd")?,
            hook: want(
                matches!(t, BenchTarget::Hook | BenchTarget::All),
                "claude-hook",
            )?,
        })
    }

    fn listed(&self) -> Vec<(&'static str, PathBuf)> {
        [
            ("claude-memd", &self.memd),
            ("claude-meshd", &self.meshd),
            ("claude-hook", &self.hook),
        ]
        .into_iter()
        .filter_map(|(n, p)| p.clone().map(|p| (n, p)))
        .collect()
    }
}

/// The report, and how stopping the scratch daemons went.
fn measure_all(args: &BenchArgs) -> Result<(report::Report, Result<(), BenchError>), BenchError> {
    let programs = Programs::find(args)?;
    let plan = Plan::new(args.iterations as usize, args.json);
    let mut scratch = Scratch::new()?;
    if let Some(p) = &programs.memd {
        scratch.start(Daemon::Memd, p)?;
    }
    if let Some(p) = &programs.meshd {
        scratch.start(Daemon::Meshd, p)?;
    }
    let (memd, meshd) = (scratch.api(Daemon::Memd), scratch.api(Daemon::Meshd));
    let t = args.target;
    let mut figures = Vec::new();
    if matches!(t, BenchTarget::Memory | BenchTarget::All) {
        figures.extend(memory::figures(&plan, &memd, &scratch.project())?);
    }
    // Before the mesh figures: claude-hook asks claude-meshd for unread messages on every
    // call, and that costs more with the thousands of messages the mesh figures leave.
    if let Some(hook) = &programs.hook {
        figures.extend(hook::figures(&plan, &scratch, hook, &memd)?);
    }
    if matches!(t, BenchTarget::Mesh | BenchTarget::All) {
        figures.extend(mesh::figures(&plan, &meshd)?);
    }
    let daemons = scratch
        .running()
        .iter()
        .map(|r| report::DaemonRun {
            program: r.daemon.program(),
            version: r.health.version.clone(),
            pid: r.health.pid,
        })
        .collect();
    let cleanup = scratch.finish();
    let report = report::Report {
        version: env!("CARGO_PKG_VERSION"),
        iterations: plan.iterations,
        warmup: plan.warmup,
        programs: programs.listed().into_iter().collect(),
        daemons,
        figures,
    };
    Ok((report, cleanup))
}
