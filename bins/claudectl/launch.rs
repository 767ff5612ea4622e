//! `claudectl launch [claude args…]`: run the user's Claude Code with our MCP server loaded
//! as a development channel, so messages from other sessions reach it while it sits idle at
//! its prompt. Claude Code asks once per launch whether to load a development channel.
//! Without `launch`, messages still arrive at the next prompt or tool call (the hook).

use crate::cli::LaunchArgs;
use crate::mcp::{CHANNEL_ENV, SERVER_NAME};
use anyhow::Result;
use claude_daemons::claude::DEV_CHANNELS_FLAG;
use claude_daemons::config::Config;
use claude_daemons::paths::Paths;
use std::os::unix::process::CommandExt;
use std::process::ExitCode;

/// `server:claude-daemons`.
fn channel_spec() -> String {
    format!("server:{SERVER_NAME}")
}

/// The arguments for `claude`: ours first, then the user's, without any `--channels` entry
/// for our server (with it the non-development entry matches first and is refused as "not
/// on the approved channels allowlist") or a second development flag for it.
pub fn claude_args(user: &[String]) -> Vec<String> {
    let ours = channel_spec();
    let mut out = vec![DEV_CHANNELS_FLAG.to_string(), ours.clone()];
    let mut i = 0;
    while i < user.len() {
        let a = &user[i];
        let flag_with_ours = |flag: &str| {
            (a == flag && user.get(i + 1) == Some(&ours))
                .then_some(2)
                .or_else(|| {
                    a.strip_prefix(flag)
                        .and_then(|r| r.strip_prefix('='))
                        .filter(|v| *v == ours)
                        .map(|_| 1)
                })
        };
        if let Some(n) = flag_with_ours("--channels").or_else(|| flag_with_ours(DEV_CHANNELS_FLAG))
        {
            i += n;
            continue;
        }
        out.push(a.clone());
        i += 1;
    }
    out
}

/// Replace this process with Claude Code (the terminal is then Claude's).
pub fn launch(args: LaunchArgs) -> Result<ExitCode> {
    let config = Config::load(&Paths::from_env().config_file)?;
    let claude = config.supervisor.claude_bin;
    let err = std::process::Command::new(&claude)
        .args(claude_args(&args.args))
        .env(CHANNEL_ENV, "1")
        .exec();
    anyhow::bail!(
        "cannot run {claude:?}: {err} (install Claude Code, or set [supervisor] claude_bin)"
    )
}

/// The line `install --launch-alias` prints.
pub fn alias_line() -> String {
    "alias claude='claudectl launch'".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn our_channel_is_loaded_once_and_never_with_channels() {
        let ours = "server:claude-daemons";
        assert_eq!(
            claude_args(&v(&["--resume", "x"])),
            v(&[DEV_CHANNELS_FLAG, ours, "--resume", "x"])
        );
        assert_eq!(
            claude_args(&v(&[
                "--channels",
                ours,
                "-c",
                &format!("--channels={ours}")
            ])),
            v(&[DEV_CHANNELS_FLAG, ours, "-c"])
        );
        assert_eq!(
            claude_args(&v(&[DEV_CHANNELS_FLAG, ours, "--channels", "server:other"])),
            v(&[DEV_CHANNELS_FLAG, ours, "--channels", "server:other"])
        );
    }
}
