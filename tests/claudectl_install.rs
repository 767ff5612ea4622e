//! `claudectl install` → `status` → `uninstall` inside a real systemd user manager, with a
//! pre-existing `~/.claude/settings.json` holding someone else's hooks; and a corrupt
//! settings file, which must be refused with nothing changed.

#[path = "support/http.rs"]
mod http;
#[path = "support/repo.rs"]
mod repo;
#[path = "support/user_manager.rs"]
mod user_manager;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;
use user_manager::UserManager;

const THEIRS: &str = r#"{
  "model": "opus",
  "hooks": {
    "PostToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "/usr/local/bin/other-hook"}]}],
    "Stop": []
  },
  "permissions": {"allow": ["Read"]}
}
"#;

fn bindir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_claudectl"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn claudectl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_claudectl"))
        .args(args)
        // The viewer port would collide with anything else on this machine.
        .env("CLAUDE_DAEMONS_MEMORY_VIEWER_PORT", "0")
        .output()
        .unwrap()
}

fn ok(out: Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    text
}

fn settings(um: &UserManager) -> PathBuf {
    um.home().join(".claude/settings.json")
}

fn backups(um: &UserManager) -> Vec<PathBuf> {
    std::fs::read_dir(um.home().join(".claude"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".bak"))
        .collect()
}

#[test]
fn install_status_uninstall_round_trip() {
    if !user_manager::inside() {
        return user_manager::run_inside_namespace("install_status_uninstall_round_trip");
    }
    let um = UserManager::start();
    std::fs::create_dir_all(um.home().join(".claude")).unwrap();
    std::fs::write(settings(&um), THEIRS).unwrap();
    let claude_json = um.home().join(".claude.json");
    let their_json = r#"{"numStartups": 7, "mcpServers": {"theirs": {"type": "stdio", "command": "/bin/cat", "args": []}}}"#;
    std::fs::write(&claude_json, their_json).unwrap();
    let bin = bindir();
    let bindir = bin.to_str().unwrap();

    ok(claudectl(&["install", "--now", "--bindir", bindir]));
    for s in [
        "claude-memd.socket",
        "claude-supervisord.socket",
        "claude-meshd.socket",
    ] {
        assert_eq!(um.show(s, "ActiveState"), "active", "{s}");
        assert_eq!(um.show(s, "UnitFileState"), "enabled", "{s}");
    }
    let unit = std::fs::read_to_string(um.unit_dir().join("claude-memd.service")).unwrap();
    assert!(
        unit.contains(&format!("ExecStart={bindir}/claude-memd\n")),
        "{unit}"
    );

    // Hooks registered for every event, the other hook and keys untouched.
    let after: Value =
        serde_json::from_str(&std::fs::read_to_string(settings(&um)).unwrap()).unwrap();
    let hook = format!("{bindir}/claude-hook");
    for event in [
        "SessionStart",
        "UserPromptSubmit",
        "PreToolUse",
        "PostToolUse",
        "Stop",
        "SubagentStop",
        "PreCompact",
        "SessionEnd",
    ] {
        assert!(
            after["hooks"][event].to_string().contains(&hook),
            "{event}: {after}"
        );
    }
    // Before a tool only Read and Edit start the hook.
    assert_eq!(after["hooks"]["PreToolUse"][0]["matcher"], "Read|Edit");
    assert_eq!(
        after["hooks"]["PostToolUse"][0]["hooks"][0]["command"],
        "/usr/local/bin/other-hook"
    );
    assert_eq!(after["model"], "opus");
    assert_eq!(after["permissions"], json!({"allow": ["Read"]}));
    assert_eq!(backups(&um).len(), 1);
    assert_eq!(
        std::fs::read_to_string(&backups(&um)[0]).unwrap(),
        THEIRS,
        "backup is the original"
    );

    // `claudectl mcp` registered in the user scope, next to their server; the real Claude
    // Code lists it and connects to it.
    let mcp: Value = serde_json::from_str(&std::fs::read_to_string(&claude_json).unwrap()).unwrap();
    assert_eq!(
        mcp["mcpServers"]["claude-daemons"]["command"],
        format!("{bindir}/claudectl")
    );
    assert_eq!(mcp["mcpServers"]["theirs"]["command"], "/bin/cat");
    assert_eq!(mcp["numStartups"], 7);
    let listed = Command::new(claude_bin())
        .args(["mcp", "list"])
        .env("HOME", um.home())
        .env("DISABLE_TELEMETRY", "1")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    let ours = listed
        .lines()
        .find(|l| l.starts_with(&format!("claude-daemons: {bindir}/claudectl mcp - ")));
    assert!(ours.is_some_and(|l| l.ends_with("Connected")), "{listed}");

    // Twice changes nothing: same bytes, no second backup.
    let bytes = std::fs::read(settings(&um)).unwrap();
    let json_bytes = std::fs::read(&claude_json).unwrap();
    ok(claudectl(&["install", "--now", "--bindir", bindir]));
    assert_eq!(std::fs::read(settings(&um)).unwrap(), bytes);
    assert_eq!(std::fs::read(&claude_json).unwrap(), json_bytes);
    assert_eq!(backups(&um).len(), 1);

    // Status: listening before use, running after a request (which activates memd).
    let status = ok(claudectl(&["status"]));
    assert!(
        status.contains("listening; starts on first use"),
        "{status}"
    );
    let (code, _) = http::get_json(&um.runtime_dir().join("claude/memd.sock"), "/v1/health");
    assert_eq!(code, 200);
    um.wait_for(
        "claude-memd.service",
        "ActiveState",
        "active",
        Duration::from_secs(10),
    );
    // Logs come from the journal under a user manager.
    let logs = ok(claudectl(&["logs", "memd", "-n", "200"]));
    assert!(logs.contains("claude-memd ready on"), "{logs}");
    let status = ok(claudectl(&["status", "--json"]));
    let status: Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status[0]["health"]["activation"], "systemd", "{status}");

    // Doctor agrees, once it is pointed at the Claude Code the tests use.
    let doctor = Command::new(env!("CARGO_BIN_EXE_claudectl"))
        .args(["doctor", "--json"])
        .env("CLAUDE_DAEMONS_MEMORY_VIEWER_PORT", "0")
        .env("CLAUDE_DAEMONS_SUPERVISOR_CLAUDE_BIN", claude_bin())
        .output()
        .unwrap();
    let checks: Value = serde_json::from_slice(&doctor.stdout).unwrap();
    let failed: Vec<&Value> = checks
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] != true)
        .collect();
    assert!(
        failed.is_empty() && doctor.status.success(),
        "doctor: {failed:?}"
    );

    // Uninstall: units gone, sockets stopped, settings mean exactly what they meant before.
    ok(claudectl(&["uninstall"]));
    assert!(!um.unit_dir().join("claude-memd.socket").exists());
    assert_ne!(um.show("claude-memd.socket", "ActiveState"), "active");
    let restored: Value =
        serde_json::from_str(&std::fs::read_to_string(settings(&um)).unwrap()).unwrap();
    let original: Value = serde_json::from_str(THEIRS).unwrap();
    assert_eq!(restored, original);
    // Claude Code adds its own keys to ~/.claude.json (`mcp list` above did): ours must be
    // exactly as before.
    let restored: Value =
        serde_json::from_str(&std::fs::read_to_string(&claude_json).unwrap()).unwrap();
    let theirs: Value = serde_json::from_str(their_json).unwrap();
    assert_eq!(restored["mcpServers"], theirs["mcpServers"]);
    assert_eq!(restored["numStartups"], 7);

    // Doctor now names what is missing, with the fix, and fails.
    let doctor = claudectl(&["doctor"]);
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert!(!doctor.status.success());
    assert!(
        text.contains("✗ hooks registered") && text.contains("fix: claudectl install"),
        "{text}"
    );
}

fn claude_bin() -> PathBuf {
    Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or(env!("CARGO_MANIFEST_DIR").into()))
        .join("tests/claude-code/node_modules/.bin/claude")
}

#[test]
fn corrupt_settings_are_refused_and_nothing_changes() {
    if !user_manager::inside() {
        return user_manager::run_inside_namespace(
            "corrupt_settings_are_refused_and_nothing_changes",
        );
    }
    let um = UserManager::start();
    std::fs::create_dir_all(um.home().join(".claude")).unwrap();
    let corrupt = "{\"hooks\": {\"Stop\": [}\n";
    std::fs::write(settings(&um), corrupt).unwrap();
    let out = claudectl(&["install", "--now", "--bindir", bindir().to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&settings(&um).display().to_string()),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was changed"), "{stderr}");
    assert_eq!(std::fs::read_to_string(settings(&um)).unwrap(), corrupt);
    assert!(
        !um.unit_dir().join("claude-memd.socket").exists(),
        "no units written"
    );
    assert!(backups(&um).is_empty());
}

#[test]
fn read_only_config_dir_is_refused_before_anything_changes() {
    // As an unprivileged user (root writes through permission bits): ~/.config is read-only.
    let dir = tempfile::Builder::new()
        .prefix("cd-ro")
        .tempdir_in("/tmp")
        .unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(home.join(".claude")).unwrap();
    std::fs::create_dir_all(home.join(".config")).unwrap();
    std::fs::write(home.join(".claude/settings.json"), THEIRS).unwrap();
    let chown = Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(chown.success());
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(home.join(".config"), std::fs::Permissions::from_mode(0o555)).unwrap();
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            env!("CARGO_BIN_EXE_claudectl"),
        ])
        .args(["install", "--now", "--bindir", bindir().to_str().unwrap()])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .output()
        .expect(
            "setpriv (util-linux) is missing: run scripts/test, which installs what the tests need",
        );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "install into a read-only config dir must fail"
    );
    assert!(
        stderr.contains(".config") && stderr.contains("nothing was changed"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(home.join(".claude/settings.json")).unwrap(),
        THEIRS
    );
    assert!(
        !home.join(".claude.json").exists(),
        "no MCP registration written"
    );
    assert!(!home.join(".config/systemd").exists(), "no units written");
    assert!(!home.join(".local/state").exists(), "no state written");
}
