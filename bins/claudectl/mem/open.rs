//! `claudectl mem open`: ask claude-memd (over its Unix socket, which only this user can
//! reach) for a one-time login link to the viewer, print it, and open it in a browser when
//! there is a desktop session.

use crate::cli::MemOpenArgs;
use crate::daemon_client::{Api, CtlError, CtlResult};
use serde::Deserialize;
use std::process::{Command, ExitCode, Stdio};

#[derive(Deserialize)]
struct Login {
    url: String,
    expires_in_secs: u64,
}

/// The command that opens a URL on this desktop, if there is one.
fn opener() -> Option<&'static str> {
    if cfg!(target_os = "macos") {
        return Some("open");
    }
    let desktop = ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()));
    desktop.then_some("xdg-open")
}

/// Run `claudectl mem open`.
pub fn run(api: &Api, a: MemOpenArgs) -> CtlResult {
    let (login, _): (Login, _) = api.post("/v1/viewer/login", &serde_json::json!({}))?;
    println!("{}", login.url);
    if a.print_url {
        eprintln!(
            "One-time login link, valid for {} s: open it in a browser on this machine.",
            login.expires_in_secs
        );
        return Ok(ExitCode::SUCCESS);
    }
    match opener() {
        Some(cmd) => {
            let started = Command::new(cmd)
                .arg(&login.url)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            if let Err(e) = started {
                return Err(CtlError::Other(anyhow::anyhow!(
                    "cannot run {cmd} ({e}); open the link above yourself within {} s",
                    login.expires_in_secs
                )));
            }
            eprintln!("Opened in your browser (the link works once).");
        }
        None => eprintln!(
            "No desktop session here: open the link above in a browser on this machine within {} s.",
            login.expires_in_secs
        ),
    }
    Ok(ExitCode::SUCCESS)
}
