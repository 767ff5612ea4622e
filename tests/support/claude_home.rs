//! A throw-away HOME for the real Claude Code in a terminal (reference/claude-code-contract.md):
//! onboarding done, the mock's API key approved, the feature flags channels need on 2.1.329
//! cached (read with `CLAUDE_CODE_GB_DISK_CACHE_WHEN_TELEMETRY_OFF=1`), and the workspace
//! trusted or not (an untrusted one shows the trust dialog at start).
#![allow(dead_code)]

use serde_json::json;
use std::path::Path;

/// The API key the mock's clients use (approved in `.claude.json`).
pub const MOCK_KEY: &str = "sk-ant-mock-key";

/// Write `$home/.claude.json`; with `trusted`, `cwd` needs no trust dialog.
pub fn seed(home: &Path, cwd: &Path, trusted: bool) {
    std::fs::create_dir_all(home.join(".claude")).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let mut projects = serde_json::Map::new();
    if trusted {
        projects.insert(
            cwd.display().to_string(),
            json!({"hasTrustDialogAccepted": true, "hasCompletedProjectOnboarding": true}),
        );
    }
    let claude_json = json!({
        "hasCompletedOnboarding": true,
        "theme": "dark",
        // Channels need these GrowthBook flags; offline they default to off.
        "cachedGrowthBookFeatures": {"tengu_harbor": true, "tengu_harbor_permissions": true},
        "cachedGrowthBookFeaturesAt": now,
        "customApiKeyResponses": {"approved": [MOCK_KEY], "rejected": []},
        "projects": projects,
    });
    std::fs::write(home.join(".claude.json"), claude_json.to_string()).unwrap();
}
