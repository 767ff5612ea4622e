//! Registering `claudectl mcp` with Claude Code in the user scope: the top-level
//! `mcpServers` object of `~/.claude.json` (where the pinned CLI's `claude mcp add -s user`
//! writes, as `{"type": "stdio", "command", "args", "env"}`), or of
//! `$CLAUDE_CONFIG_DIR/.claude.json` when that is set.
//!
//! The file is Claude Code's own state (projects, account, history): everything else in it is
//! kept, running install twice changes nothing, every write keeps a timestamped private
//! backup, an unparsable file is refused, and uninstall puts back what was there before.
//! Each change is made under Claude Code's own lock on the file, to a fresh read of it.

use crate::claude_config_lock::ClaudeConfigLock;
use crate::mcp::SERVER_NAME;
use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// What install replaced, kept in the state directory for uninstall.
#[derive(Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct McpRecord {
    /// Whether install created the `mcpServers` object.
    pub created_servers_key: bool,
    /// The entry that was under our name before install (someone else's), to restore.
    pub previous: Option<Value>,
}

impl McpRecord {
    fn path(state_dir: &Path) -> PathBuf {
        state_dir.join("claude-mcp-install.json")
    }

    fn load(state_dir: &Path) -> Option<McpRecord> {
        serde_json::from_str(&std::fs::read_to_string(McpRecord::path(state_dir)).ok()?).ok()
    }

    fn save(&self, state_dir: &Path) -> Result<()> {
        std::fs::create_dir_all(state_dir)?;
        std::fs::write(
            McpRecord::path(state_dir),
            serde_json::to_string_pretty(self).expect("record serializes"),
        )
        .context("cannot write the MCP install record")
    }
}

/// What a registration call did.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// Nothing to do.
    Unchanged,
    /// Written; the previous file was copied to the backup.
    Written(Option<PathBuf>),
}

/// `~/.claude.json`, loaded.
pub struct ClaudeJson {
    path: PathBuf,
    original: Option<String>,
    value: Map<String, Value>,
}

/// Our entry: `claudectl mcp` from `bindir`.
pub fn entry(claudectl: &Path) -> Value {
    json!({"type": "stdio", "command": claudectl.display().to_string(), "args": ["mcp"], "env": {}})
}

/// How long to wait for a running Claude Code to finish its own write of the file.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

fn is_ours(entry: &Value) -> bool {
    entry["args"] == json!(["mcp"])
        && entry["command"]
            .as_str()
            .and_then(|c| Path::new(c).file_name())
            .is_some_and(|n| n == "claudectl")
}

impl ClaudeJson {
    /// The file Claude Code reads user-scope MCP servers from.
    pub fn path_for(home: &Path) -> PathBuf {
        match std::env::var_os("CLAUDE_CONFIG_DIR").filter(|d| !d.is_empty()) {
            Some(dir) => PathBuf::from(dir).join(".claude.json"),
            None => home.join(".claude.json"),
        }
    }

    /// Load; a missing file is an empty object, anything else unparsable is refused.
    pub fn load(path: &Path) -> Result<ClaudeJson> {
        let original = match std::fs::read_to_string(path) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let value = match original.as_deref().filter(|t| !t.trim().is_empty()) {
            None => Map::new(),
            Some(text) => match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(map)) => map,
                Ok(_) => bail!(
                    "{}: expected a JSON object; nothing was changed",
                    path.display()
                ),
                Err(e) => bail!(
                    "{}:{}:{}: not valid JSON ({e}); fix or move it aside — nothing was changed",
                    path.display(),
                    e.line(),
                    e.column()
                ),
            },
        };
        if value.get("mcpServers").is_some_and(|s| !s.is_object()) {
            bail!(
                "{}: \"mcpServers\" is not an object; nothing was changed",
                path.display()
            );
        }
        Ok(ClaudeJson {
            path: path.into(),
            original,
            value,
        })
    }

    /// Whether some `claudectl mcp` is registered.
    pub fn is_registered(&self) -> bool {
        self.value
            .get("mcpServers")
            .and_then(Value::as_object)
            .is_some_and(|servers| servers.values().any(is_ours))
    }

    /// Register `claudectl` (its full path) and save.
    pub fn register(&mut self, claudectl: &Path, state_dir: &Path) -> Result<Outcome> {
        let _lock = self.lock_and_reload()?;
        let mut record = McpRecord::load(state_dir).unwrap_or_default();
        let created = !self.value.contains_key("mcpServers");
        let servers = self
            .value
            .entry("mcpServers")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("checked at load");
        if let Some(old) = servers.get(SERVER_NAME).filter(|e| !is_ours(e)) {
            record.previous = Some(old.clone());
        }
        record.created_servers_key |= created;
        servers.insert(SERVER_NAME.into(), entry(claudectl));
        // The record first: if the write fails, uninstall still knows what to undo.
        record.save(state_dir)?;
        self.save()
    }

    /// Take our registration out (restoring what it replaced) and save.
    pub fn unregister(&mut self, state_dir: &Path) -> Result<Outcome> {
        let _lock = self.lock_and_reload()?;
        let record = McpRecord::load(state_dir).unwrap_or_default();
        if let Some(servers) = self
            .value
            .get_mut("mcpServers")
            .and_then(Value::as_object_mut)
        {
            if servers.get(SERVER_NAME).is_some_and(is_ours) {
                match &record.previous {
                    Some(prev) => servers.insert(SERVER_NAME.into(), prev.clone()),
                    None => servers.remove(SERVER_NAME),
                };
            }
            if servers.is_empty() && record.created_servers_key {
                self.value.remove("mcpServers");
            }
        }
        let outcome = self.save()?;
        let _ = std::fs::remove_file(McpRecord::path(state_dir));
        Ok(outcome)
    }

    /// Take Claude Code's lock on the file and read it again under it: a running Claude
    /// Code may have rewritten it since `load`, and its next write re-reads ours.
    fn lock_and_reload(&mut self) -> Result<ClaudeConfigLock> {
        let lock = ClaudeConfigLock::acquire(&self.path, LOCK_WAIT)?;
        *self = ClaudeJson::load(&self.path)?;
        Ok(lock)
    }

    fn save(&self) -> Result<Outcome> {
        let before = self
            .original
            .as_deref()
            .and_then(|t| serde_json::from_str::<Value>(t).ok())
            .unwrap_or_else(|| json!({}));
        if before == Value::Object(self.value.clone()) {
            return Ok(Outcome::Unchanged);
        }
        let mut text = serde_json::to_string_pretty(&self.value).expect("JSON serializes");
        text.push('\n');
        let backup =
            crate::user_file::replace_with_backup(&self.path, self.original.as_deref(), &text)?;
        Ok(Outcome::Written(backup))
    }
}

/// The file holds the user's account and history: 0600, like Claude Code writes it.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_is_merged_idempotent_and_reversible() {
        let dir = tempfile::tempdir().unwrap();
        let (path, state) = (dir.path().join(".claude.json"), dir.path().join("state"));
        let before = r#"{"numStartups": 3, "mcpServers": {"other": {"command": "x"}, "claude-daemons": {"command": "/opt/theirs"}}, "projects": {}}"#;
        std::fs::write(&path, before).unwrap();
        let bin = Path::new("/usr/bin/claudectl");
        let first = ClaudeJson::load(&path)
            .unwrap()
            .register(bin, &state)
            .unwrap();
        assert!(matches!(first, Outcome::Written(Some(_))), "{first:?}");
        let mut again = ClaudeJson::load(&path).unwrap();
        assert_eq!(again.register(bin, &state).unwrap(), Outcome::Unchanged);
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v["mcpServers"]["other"]["command"], "x");
        assert_eq!(v["numStartups"], 3);
        assert_eq!(
            v["mcpServers"]["claude-daemons"]["command"],
            "/usr/bin/claudectl"
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        ClaudeJson::load(&path).unwrap().unregister(&state).unwrap();
        let after: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(after, serde_json::from_str::<Value>(before).unwrap());
    }

    #[test]
    fn a_fresh_file_is_created_and_removed_cleanly_and_bad_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (path, state) = (dir.path().join(".claude.json"), dir.path().join("state"));
        std::fs::write(&path, "{\"a\": 1}").unwrap();
        let bin = Path::new("/x/claudectl");
        ClaudeJson::load(&path)
            .unwrap()
            .register(bin, &state)
            .unwrap();
        ClaudeJson::load(&path).unwrap().unregister(&state).unwrap();
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v, json!({"a": 1}), "mcpServers we created is gone again");

        std::fs::write(&path, "{\"a\": ").unwrap();
        let err = ClaudeJson::load(&path).err().unwrap().to_string();
        assert!(
            err.contains(".claude.json:1:") && err.contains("nothing was changed"),
            "{err}"
        );
        std::fs::write(&path, "{\"mcpServers\": []}").unwrap();
        assert!(ClaudeJson::load(&path).is_err());
    }

    #[test]
    fn a_write_by_claude_code_after_load_is_kept_and_its_lock_is_respected() {
        let dir = tempfile::tempdir().unwrap();
        let (path, state) = (dir.path().join(".claude.json"), dir.path().join("state"));
        std::fs::write(&path, r#"{"numStartups": 1}"#).unwrap();
        let mut loaded = ClaudeJson::load(&path).unwrap();
        // Claude Code writes between our load and our write.
        std::fs::write(&path, r#"{"numStartups": 2, "projects": {"/p": {}}}"#).unwrap();
        loaded.register(Path::new("/x/claudectl"), &state).unwrap();
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v["numStartups"], 2, "{v}");
        assert_eq!(v["projects"], json!({"/p": {}}));
        assert_eq!(v["mcpServers"]["claude-daemons"]["command"], "/x/claudectl");
        assert!(!dir.path().join(".claude.json.lock").exists(), "released");

        // While Claude Code holds its lock, nothing is written.
        std::fs::create_dir(dir.path().join(".claude.json.lock")).unwrap();
        let before = std::fs::read(&path).unwrap();
        let err = ClaudeJson::load(&path)
            .unwrap()
            .unregister(&state)
            .unwrap_err();
        assert!(
            err.to_string().contains("held by a running Claude Code"),
            "{err}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }
}
