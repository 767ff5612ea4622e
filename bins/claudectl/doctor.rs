//! `claudectl doctor`: every check that explains a silent failure, each with the command that
//! fixes it. Read-only: it never starts a daemon (sockets are checked, not connected to,
//! unless their service already runs) and opens databases read-only.

use crate::cli::DoctorArgs;
use crate::output::say;
use crate::settings::ClaudeSettings;
use crate::units;
use anyhow::Result;
use claude_daemons::config::Config;
use claude_daemons::paths::{current_uid, Daemon, Paths};
use claude_daemons::permissions::loose_mode;
use claude_daemons::spool::Spool;
use serde::Serialize;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, ExitCode};

#[derive(Serialize)]
struct Check {
    name: String,
    ok: bool,
    detail: String,
    /// What to run or do when not ok.
    fix: Option<String>,
}

fn check(name: impl Into<String>, result: Result<String, (String, String)>) -> Check {
    match result {
        Ok(detail) => Check {
            name: name.into(),
            ok: true,
            detail,
            fix: None,
        },
        Err((detail, fix)) => Check {
            name: name.into(),
            ok: false,
            detail,
            fix: Some(fix),
        },
    }
}

fn config(paths: &Paths) -> (Check, Option<Config>) {
    match Config::load(&paths.config_file) {
        Ok(c) => (
            check(
                "config",
                Ok(format!("{} (or defaults)", paths.config_file.display())),
            ),
            Some(c),
        ),
        Err(e) => (
            check(
                "config",
                Err((
                    e.to_string(),
                    format!("edit {}", paths.config_file.display()),
                )),
            ),
            None,
        ),
    }
}

fn units_installed(home: &Path) -> Check {
    let dir = units::user_dir(home);
    let found = units::SOCKETS
        .iter()
        .all(|s| dir.join(s).exists() || Path::new(units::PACKAGED_DIR).join(s).exists());
    check(
        "units installed",
        if found {
            Ok(format!("in {} or {}", dir.display(), units::PACKAGED_DIR))
        } else {
            Err((
                "socket units not found".into(),
                "claudectl install --now".into(),
            ))
        },
    )
}

fn sockets_enabled() -> Vec<Check> {
    if let Err(why) = units::user_manager() {
        return vec![check(
            "user manager",
            Err((
                format!("no systemd user manager answers ({why})"),
                "claudectl run (foreground)".into(),
            )),
        )];
    }
    units::SOCKETS
        .iter()
        .map(|s| {
            let out = Command::new("systemctl")
                .args(["--user", "is-active", s])
                .output();
            let state = out
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .unwrap_or_default();
            check(
                format!("{s} listening"),
                if state == "active" {
                    Ok("active".into())
                } else {
                    Err((
                        format!("state {state:?}"),
                        format!("systemctl --user enable --now {s}"),
                    ))
                },
            )
        })
        .collect()
}

/// macOS: the agents' plists are in ~/Library/LaunchAgents and launchd has them loaded.
fn agents_loaded(home: &Path) -> Vec<Check> {
    let dir = crate::launchd::agents_dir(home);
    crate::launchd::labels()
        .map(|label| {
            let plist = dir.join(format!("{label}.plist"));
            check(
                format!("{label} loaded"),
                match (plist.exists(), crate::launchd::is_loaded(label)) {
                    (true, true) => Ok(format!("from {}", plist.display())),
                    (false, _) => Err((
                        format!("{} missing", plist.display()),
                        "claudectl install --now".into(),
                    )),
                    (true, false) => Err((
                        "not loaded".into(),
                        format!(
                            "launchctl bootstrap {} {}",
                            crate::launchd::domain(),
                            plist.display()
                        ),
                    )),
                },
            )
        })
        .collect()
}

fn hooks_registered(home: &Path) -> Check {
    let path = ClaudeSettings::path_for(home);
    let result = match ClaudeSettings::load(&path) {
        Ok(s) if s.has_our_hooks() => Ok(format!("in {}", path.display())),
        Ok(_) => Err((
            format!("claude-hook is not registered in {}", path.display()),
            "claudectl install".into(),
        )),
        Err(e) => Err((
            e.to_string(),
            format!("fix or move aside {}", path.display()),
        )),
    };
    check("hooks registered", result)
}

fn mcp_registered(home: &Path) -> Check {
    let path = crate::mcp_registration::ClaudeJson::path_for(home);
    let result = match crate::mcp_registration::ClaudeJson::load(&path) {
        Ok(j) if j.is_registered() => Ok(format!("claudectl mcp in {}", path.display())),
        Ok(_) => Err((
            format!("claudectl mcp is not registered in {}", path.display()),
            "claudectl install".into(),
        )),
        Err(e) => Err((
            e.to_string(),
            format!("fix or move aside {}", path.display()),
        )),
    };
    check("MCP server registered", result)
}

fn socket_permissions(paths: &Paths, daemon: Daemon) -> Check {
    let socket = paths.socket(daemon);
    let name = format!("{} socket", daemon.short());
    let Ok(meta) = std::fs::metadata(&socket) else {
        return check(name, Ok("not present (created on start)".into()));
    };
    let dir_mode = std::fs::metadata(&paths.runtime_dir)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0);
    let mode = meta.permissions().mode() & 0o777;
    let result = if !meta.file_type().is_socket() {
        Err((
            format!("{} is not a socket", socket.display()),
            format!("rm {} and restart", socket.display()),
        ))
    } else if meta.uid() != current_uid() {
        Err((
            format!("owned by uid {}", meta.uid()),
            format!("rm {} and restart", socket.display()),
        ))
    } else if mode & 0o077 != 0 || dir_mode & 0o077 != 0 {
        Err((
            format!("socket {mode:o}, directory {dir_mode:o}: other users may reach it"),
            format!("chmod 700 {}", paths.runtime_dir.display()),
        ))
    } else {
        Ok(format!(
            "{} {mode:o}, directory {dir_mode:o}",
            socket.display()
        ))
    };
    check(name, result)
}

fn database(paths: &Paths, daemon: Daemon) -> Check {
    let db = paths.db(daemon);
    let name = format!("{} database", daemon.short());
    if !db.exists() {
        return check(name, Ok("not created yet".into()));
    }
    let flags =
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let verdict = rusqlite::Connection::open_with_flags(&db, flags)
        .and_then(|c| c.query_row("PRAGMA quick_check", [], |r| r.get::<_, String>(0)));
    let aside = format!(
        "stop {}, then mv {0} {0}.broken (a new one is created)",
        db.display()
    );
    check(
        name,
        match verdict {
            Ok(v) if v == "ok" => Ok(format!("{} ok", db.display())),
            Ok(v) => Err((format!("{}: {v}", db.display()), aside)),
            Err(e) => Err((format!("{}: {e}", db.display()), aside)),
        },
    )
}

/// What in `dir` (itself, its entries, and the entries of its subdirectories) other users
/// may access, as `path mode` texts.
fn loose_entries(dir: &Path) -> Vec<String> {
    let mut loose = Vec::new();
    let mut note = |p: &Path| {
        if let Some(mode) = loose_mode(p) {
            loose.push(format!("{} {mode:o}", p.display()));
        }
    };
    note(dir);
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        note(&path);
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            for inner in std::fs::read_dir(&path).into_iter().flatten().flatten() {
                note(&inner.path());
            }
        }
    }
    loose
}

/// The state directory holds every prompt, observation and decrypted message, the API
/// token and the mesh key: nothing in it may be readable by other users.
fn state_private(paths: &Paths) -> Check {
    let dir = &paths.state_dir;
    if !dir.exists() {
        return check("state private", Ok("not created yet".into()));
    }
    let loose = loose_entries(dir);
    check(
        "state private",
        if loose.is_empty() {
            Ok(format!("{} and its files are yours alone", dir.display()))
        } else {
            Err((
                format!("other users can read: {}", loose.join(", ")),
                format!("chmod -R go-rwx {}", dir.display()),
            ))
        },
    )
}

/// The configuration file may hold the mesh secret.
fn config_private(paths: &Paths) -> Check {
    let file = &paths.config_file;
    let mut loose: Vec<String> = loose_mode(file)
        .map(|m| format!("{} {m:o}", file.display()))
        .into_iter()
        .collect();
    // Only our own directory: CLAUDE_DAEMONS_CONFIG may name a file anywhere.
    let dir = file
        .parent()
        .filter(|d| d.file_name().is_some_and(|n| n == "claude-daemons"));
    if let Some(mode) = dir.and_then(loose_mode) {
        loose.push(format!("{} {mode:o}", dir.unwrap_or(file).display()));
    }
    check(
        "config private",
        if loose.is_empty() {
            Ok(format!("{} (or absent)", file.display()))
        } else {
            Err((
                format!("other users can read: {}", loose.join(", ")),
                match dir {
                    Some(d) => format!("chmod -R go-rwx {}", d.display()),
                    None => format!("chmod go-rwx {}", file.display()),
                },
            ))
        },
    )
}

/// Events older than this in the hook spool mean claude-memd is not draining it.
const SPOOL_STUCK: std::time::Duration = std::time::Duration::from_secs(60);

/// The hook spool: events wait there only briefly while claude-memd runs; old ones mean it
/// does not (or cannot write), and lost ones mean the spool or the disk was full.
fn hook_spool(paths: &Paths) -> Check {
    let spool = Spool::new(&paths.state_dir);
    let (entries, usage) = match (spool.list(), spool.usage()) {
        (Ok(e), Ok(u)) => (e, u),
        (Err(e), _) | (_, Err(e)) => {
            return check(
                "hook spool",
                Err((
                    e.to_string(),
                    format!("check the permissions of {}", spool.dir().display()),
                )),
            )
        }
    };
    if usage.lost > 0 {
        return check(
            "hook spool",
            Err((
                format!(
                    "{} hook event(s) were lost: the spool or the disk was full (each is a line of {})",
                    usage.lost,
                    spool.dir().join("lost").display()
                ),
                format!(
                    "free disk space or raise [memory] spool_max_events / spool_max_mb; then rm {}",
                    spool.dir().join("lost").display()
                ),
            )),
        );
    }
    let oldest = entries
        .first()
        .and_then(|e| std::fs::metadata(&e.path).ok())
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.elapsed().ok());
    let waiting = format!(
        "{} event(s), {} KiB waiting in {}",
        usage.events,
        usage.bytes.div_ceil(1024),
        spool.dir().display()
    );
    check(
        "hook spool",
        match oldest {
            None => Ok("empty".into()),
            Some(age) if age < SPOOL_STUCK => Ok(format!("{waiting} (being drained)")),
            Some(age) => Err((
                format!("{waiting}, the oldest for {} s: claude-memd is not storing them", age.as_secs()),
                "start claude-memd (systemctl --user start claude-memd.socket, or claudectl run) and read journalctl --user -u claude-memd".into(),
            )),
        },
    )
}

fn claude_code(config: &Config) -> Check {
    let bin = &config.supervisor.claude_bin;
    let out = Command::new(bin).arg("--version").output();
    check(
        "Claude Code",
        match out {
            Ok(o) if o.status.success() => Ok(format!(
                "{bin}: {}",
                String::from_utf8_lossy(&o.stdout).trim()
            )),
            _ => Err((
                format!("{bin} --version failed"),
                "npm install -g @anthropic-ai/claude-code, or set [supervisor] claude_bin".into(),
            )),
        },
    )
}

/// The memory viewer's address (not probed: a connection would start a socket-activated
/// claude-memd).
fn viewer(config: &Config) -> Check {
    let detail = match config.memory.viewer_port {
        0 => "off ([memory] viewer_port = 0)".to_string(),
        port => format!("http://127.0.0.1:{port}/ (log in with `claudectl mem open`)"),
    };
    check("memory viewer", Ok(detail))
}

/// Semantic recall: on when the embedding model's files are there (not loaded here; claude-memd
/// says in `claudectl mem model status` whether they load).
fn semantic(paths: &Paths) -> Check {
    let dir = paths.embedding_model();
    let present: Vec<bool> = ["config.json", "tokenizer.json", "model.safetensors"]
        .iter()
        .map(|f| dir.join(f).is_file())
        .collect();
    let result = if present.iter().all(|p| *p) {
        Ok(format!("embedding model in {}", dir.display()))
    } else if present.iter().any(|p| *p) {
        Err((
            format!("the embedding model in {} is incomplete", dir.display()),
            "claudectl mem model install (or --from DIR|ZIP)".into(),
        ))
    } else {
        Ok(
            "off, search is lexical (turn it on: `claudectl mem model install`, or `--from DIR|ZIP` offline)"
                .into(),
        )
    };
    check("semantic recall", result)
}

fn broker(config: &Config) -> Check {
    let Some(url) = &config.mesh.broker_url else {
        return check("mesh broker", Ok("none configured (local mode)".into()));
    };
    if config.mesh.mesh_secret.as_deref().unwrap_or("").is_empty() {
        return check(
            "mesh broker",
            Err((
                "[mesh] mesh_secret is not set: claude-meshd refuses to start in broker mode"
                    .into(),
                "set the same random mesh_secret on every member (e.g. openssl rand -hex 32)"
                    .into(),
            )),
        );
    }
    let hostport = url
        .trim_start_matches("nats://")
        .split('/')
        .next()
        .unwrap_or("")
        .to_string();
    let reachable = std::net::ToSocketAddrs::to_socket_addrs(&hostport)
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|addr| {
            std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2)).is_ok()
        });
    check(
        "mesh broker",
        if reachable {
            Ok(format!("{url} reachable"))
        } else {
            Err((
                format!("{url} does not accept connections"),
                "start nats-server, or fix [mesh] broker_url".into(),
            ))
        },
    )
}

/// Which running Claude sessions have our channel (started by `claudectl launch`): those
/// get messages while idle, the others at their next prompt or tool call. Informative
/// only: running Claude Code without `launch` is a choice, not a fault.
fn channels(paths: &Paths) -> Check {
    let client = claude_daemons::http::UnixClient::new(paths.socket(Daemon::Meshd))
        .timeout(std::time::Duration::from_secs(2));
    let peers: Option<Vec<claude_daemons::api::mesh::Peer>> = client
        .get("/v1/peers")
        .ok()
        .filter(|r| r.status == 200)
        .and_then(|r| r.json().ok());
    let Some(peers) = peers else {
        return check("session channels", Ok("claude-meshd not running".into()));
    };
    let running: Vec<_> = peers.iter().filter(|p| p.local && p.online).collect();
    let with: Vec<String> = running
        .iter()
        .filter(|p| p.channel)
        .map(|p| p.session_id.clone())
        .collect();
    let without = running.len() - with.len();
    check(
        "session channels",
        Ok(match (running.len(), without) {
            (0, _) => "no Claude session running".into(),
            (n, 0) => format!("all {n} running sessions have the channel (push while idle)"),
            (n, w) => format!(
                "{} of {n} running sessions have the channel; {w} get messages only at their \
                 next prompt or tool call (start Claude Code with `claudectl launch`)",
                n - w
            ),
        }),
    )
}

fn journal() -> Check {
    let ok = Command::new("journalctl")
        .args(["-q", "-n", "0"])
        .status()
        .is_ok_and(|s| s.success());
    check(
        "journal",
        if ok {
            Ok("journalctl answers".into())
        } else {
            Err((
                "journalctl cannot read the journal".into(),
                "use claudectl logs --files (foreground logs)".into(),
            ))
        },
    )
}

/// Run `claudectl doctor`; exit 0 when every check passes, 1 otherwise.
pub fn doctor(args: DoctorArgs) -> Result<ExitCode> {
    let paths = Paths::from_env();
    let home = std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_default());
    let (config_check, config) = config(&paths);
    let mut checks = vec![config_check];
    if cfg!(target_os = "macos") {
        checks.extend(agents_loaded(&home));
    } else {
        checks.push(units_installed(&home));
        checks.extend(sockets_enabled());
    }
    checks.push(hooks_registered(&home));
    checks.push(mcp_registered(&home));
    checks.push(state_private(&paths));
    checks.push(config_private(&paths));
    for d in Daemon::ALL {
        checks.push(socket_permissions(&paths, d));
        checks.push(database(&paths, d));
    }
    checks.push(hook_spool(&paths));
    let config = config.unwrap_or_default();
    checks.push(claude_code(&config));
    checks.push(broker(&config));
    checks.push(viewer(&config));
    checks.push(channels(&paths));
    checks.push(semantic(&paths));
    // launchd agents write plain files (~/Library/Logs); only systemd has a journal.
    if !cfg!(target_os = "macos") {
        checks.push(journal());
    }
    let healthy = checks.iter().all(|c| c.ok);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&checks)?);
    } else {
        for c in &checks {
            // Details quote files (a config parse error shows the offending line).
            say!(
                "{} {:<24} {}",
                if c.ok { "✓" } else { "✗" },
                c.name,
                c.detail
            );
            if let Some(fix) = &c.fix {
                say!("  {:<24} fix: {fix}", "");
            }
        }
    }
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
