//! Registering `claude-hook` in Claude Code's user settings (`~/.claude/settings.json`).
//!
//! The file is the user's: other hooks and keys must survive untouched (key order included),
//! running install twice must change nothing, every write keeps a timestamped backup of what
//! was there, and uninstall must leave the file as it was before install. A file we cannot
//! parse is refused, never overwritten.

use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The hook events claude-hook handles, with the matcher Claude Code expects for each.
pub const EVENTS: &[(&str, Option<&str>)] = &[
    ("SessionStart", Some("startup|resume|clear|compact")),
    ("UserPromptSubmit", None),
    // Only before reading or editing a file does memory have something to add; other tools
    // do not start the hook at all.
    ("PreToolUse", Some("Read|Edit")),
    ("PostToolUse", Some("*")),
    ("Stop", None),
    ("SubagentStop", None),
    ("PreCompact", None),
    ("SessionEnd", None),
];

/// Seconds Claude Code waits for the hook; claude-hook bounds its own waits well below.
const HOOK_TIMEOUT_SECS: u64 = 10;

/// What install added to the file besides our hook entries, kept in the state directory so
/// that uninstall (a later process, seeing only the installed file) can take back exactly
/// that — and not, say, an empty event list the user had before.
#[derive(Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Record {
    /// Event lists install created.
    pub created_events: BTreeSet<String>,
    /// Whether install created the `hooks` object.
    pub created_hooks_key: bool,
}

impl Record {
    /// The record file in the state directory.
    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join("claude-settings-install.json")
    }

    /// Read the record; `None` when there is none (or it is unreadable).
    pub fn load(state_dir: &Path) -> Option<Record> {
        let text = std::fs::read_to_string(Record::path(state_dir)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Write the record.
    pub fn save(&self, state_dir: &Path) -> Result<()> {
        std::fs::create_dir_all(state_dir)?;
        let text = serde_json::to_string_pretty(self).expect("record serializes");
        std::fs::write(Record::path(state_dir), text).context("cannot write the install record")
    }
}

/// The settings file, loaded.
pub struct ClaudeSettings {
    path: PathBuf,
    original: Option<String>,
    value: Value,
    /// Whether the file had a `hooks` key before we touched it (then it stays, even empty).
    had_hooks: bool,
    /// Event lists that were present and empty in the file (they stay, empty).
    empty_events: Vec<String>,
}

/// Whether a hook command is ours: its program's file name is `claude-hook`.
fn is_ours(command: &str) -> bool {
    command
        .split_whitespace()
        .next()
        .and_then(|prog| Path::new(prog).file_name())
        .is_some_and(|name| name == "claude-hook")
}

impl ClaudeSettings {
    /// The user settings of Claude Code for `home`.
    pub fn path_for(home: &Path) -> PathBuf {
        home.join(".claude/settings.json")
    }

    /// Load `path`; a missing file is an empty object, anything unparsable is an error.
    pub fn load(path: &Path) -> Result<ClaudeSettings> {
        let original = match std::fs::read_to_string(path) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let value = match &original {
            Some(text) if !text.trim().is_empty() => {
                let value: Value = serde_json::from_str(text).map_err(|e| {
                    anyhow::anyhow!(
                        "{}:{}:{}: not valid JSON ({e}); fix or move it aside — nothing was changed",
                        path.display(),
                        e.line(),
                        e.column()
                    )
                })?;
                if !value.is_object() {
                    bail!(
                        "{}: expected a JSON object; nothing was changed",
                        path.display()
                    );
                }
                if value.get("hooks").is_some_and(|h| !h.is_object()) {
                    bail!(
                        "{}: \"hooks\" is not an object; nothing was changed",
                        path.display()
                    );
                }
                value
            }
            _ => json!({}),
        };
        Ok(ClaudeSettings {
            path: path.into(),
            original,
            had_hooks: value.get("hooks").is_some(),
            empty_events: value
                .get("hooks")
                .and_then(Value::as_object)
                .map(|h| {
                    h.iter()
                        .filter(|(_, v)| v.as_array().is_some_and(Vec::is_empty))
                        .map(|(k, _)| k.clone())
                        .collect()
                })
                .unwrap_or_default(),
            value,
        })
    }

    /// Register `command` for every event (replacing an older registration of ours), noting
    /// in `record` what had to be created.
    pub fn add_hooks(&mut self, command: &str, record: &mut Record) {
        self.remove_hooks(Some(record));
        let root = self.value.as_object_mut().expect("checked at load");
        record.created_hooks_key |= !root.contains_key("hooks");
        let hooks = root
            .entry("hooks")
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
            .expect("checked at load");
        for (event, matcher) in EVENTS {
            let mut group = Map::new();
            if let Some(m) = matcher {
                group.insert("matcher".into(), json!(m));
            }
            group.insert(
                "hooks".into(),
                json!([{"type": "command", "command": command, "timeout": HOOK_TIMEOUT_SECS}]),
            );
            if !hooks.contains_key(*event) {
                record.created_events.insert(event.to_string());
            }
            let list = hooks.entry(*event).or_insert_with(|| json!([]));
            if let Some(list) = list.as_array_mut() {
                list.push(Value::Object(group));
            }
        }
    }

    /// Remove every registration of ours, the groups that held only ours, and the event
    /// lists and `hooks` object install created (per `record`; without one, those that were
    /// not already empty when the file was loaded).
    pub fn remove_hooks(&mut self, record: Option<&Record>) {
        let root = self.value.as_object_mut().expect("checked at load");
        let Some(hooks) = root.get_mut("hooks").and_then(Value::as_object_mut) else {
            return;
        };
        for (_, groups) in hooks.iter_mut() {
            let Some(groups) = groups.as_array_mut() else {
                continue;
            };
            groups.retain_mut(|group| {
                let Some(list) = group.get_mut("hooks").and_then(Value::as_array_mut) else {
                    return true;
                };
                let before = list.len();
                list.retain(|h| !h["command"].as_str().is_some_and(is_ours));
                // Keep groups that were empty to begin with; drop those we emptied.
                !(list.is_empty() && before > 0)
            });
        }
        let created = |event: &String| match record {
            Some(r) => r.created_events.contains(event),
            None => !self.empty_events.contains(event),
        };
        hooks.retain(|event, groups| {
            !groups.as_array().is_some_and(Vec::is_empty) || !created(event)
        });
        let created_hooks = record.map_or(!self.had_hooks, |r| r.created_hooks_key);
        if hooks.is_empty() && created_hooks {
            root.remove("hooks");
        }
    }

    /// Whether some claude-hook is registered for every event.
    pub fn has_our_hooks(&self) -> bool {
        EVENTS.iter().all(|(event, _)| {
            self.value["hooks"][event].as_array().is_some_and(|groups| {
                groups.iter().any(|g| {
                    g["hooks"].as_array().is_some_and(|l| {
                        l.iter().any(|h| h["command"].as_str().is_some_and(is_ours))
                    })
                })
            })
        })
    }

    /// Whether the registration of ours matches `command` for every event.
    #[cfg(test)]
    pub fn has_hooks(&self, command: &str) -> bool {
        EVENTS.iter().all(|(event, _)| {
            self.value["hooks"][event].as_array().is_some_and(|groups| {
                groups.iter().any(|g| {
                    g["hooks"]
                        .as_array()
                        .is_some_and(|l| l.iter().any(|h| h["command"] == command))
                })
            })
        })
    }

    fn rendered(&self) -> String {
        let mut text = serde_json::to_string_pretty(&self.value).expect("JSON value serializes");
        text.push('\n');
        text
    }

    /// Whether saving would change the file's meaning.
    pub fn changed(&self) -> bool {
        let before = self
            .original
            .as_deref()
            .and_then(|t| serde_json::from_str::<Value>(t).ok())
            .unwrap_or_else(|| json!({}));
        before != self.value
    }

    /// Write the file (atomically) if its meaning changed, after a timestamped backup of the
    /// previous one.
    pub fn save(&self) -> Result<Saved> {
        if !self.changed() {
            return Ok(Saved::Unchanged);
        }
        let original = self.original.as_deref();
        let backup = crate::user_file::replace_with_backup(&self.path, original, &self.rendered())?;
        Ok(Saved::Written { backup })
    }
}

/// What [`ClaudeSettings::save`] did.
#[derive(Debug, PartialEq)]
pub enum Saved {
    /// The file already meant this; nothing was written.
    Unchanged,
    /// The file was written; the previous one, if any, was copied to `backup`.
    Written {
        /// The copy of the previous file.
        backup: Option<PathBuf>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(text: &str) -> (tempfile::TempDir, ClaudeSettings) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        std::fs::write(&path, text).unwrap();
        let s = ClaudeSettings::load(&path).unwrap();
        (dir, s)
    }

    const THEIRS: &str = r#"{"model": "opus", "hooks": {"PostToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "/usr/local/bin/other-hook"}]}]}, "env": {"A": "1"}}"#;

    #[test]
    fn add_keeps_other_hooks_and_keys_and_is_idempotent() {
        let (_d, mut s) = loaded(THEIRS);
        let mut record = Record::default();
        s.add_hooks("/opt/bin/claude-hook", &mut record);
        assert!(s.has_hooks("/opt/bin/claude-hook"));
        assert!(
            !record.created_events.contains("PostToolUse"),
            "it was there"
        );
        assert!(record.created_events.contains("Stop"));
        assert!(!record.created_hooks_key);
        assert_eq!(s.value["model"], "opus");
        assert_eq!(
            s.value["hooks"]["PostToolUse"][0]["hooks"][0]["command"],
            "/usr/local/bin/other-hook"
        );
        assert_eq!(
            s.value["hooks"]["SessionStart"][0]["matcher"],
            "startup|resume|clear|compact"
        );
        let once = s.value.clone();
        s.add_hooks("/opt/bin/claude-hook", &mut record);
        assert_eq!(s.value, once, "twice changes nothing");
        let keys: Vec<&String> = s.value.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["model", "hooks", "env"], "key order kept");
    }

    #[test]
    fn a_new_path_replaces_the_old_registration() {
        let (_d, mut s) = loaded(THEIRS);
        let mut record = Record::default();
        s.add_hooks("/old/claude-hook", &mut record);
        s.add_hooks("/new/claude-hook", &mut record);
        assert!(s.has_hooks("/new/claude-hook"));
        assert!(!s.value.to_string().contains("/old/claude-hook"));
    }

    #[test]
    fn remove_restores_the_original_meaning() {
        for original in [
            THEIRS,
            "{}",
            r#"{"hooks": {}}"#,
            r#"{"hooks": {"Stop": []}}"#,
        ] {
            let want: Value = serde_json::from_str(original).unwrap();
            // In one process, with the record, and as uninstall does it: a new load of the
            // installed file, with the record read back.
            let (dir, mut s) = loaded(original);
            let mut record = Record::default();
            s.add_hooks("/opt/bin/claude-hook", &mut record);
            s.save().unwrap();
            s.remove_hooks(Some(&record));
            assert_eq!(s.value, want, "{original}");
            record.save(dir.path()).unwrap();
            let mut later = ClaudeSettings::load(&dir.path().join("settings.json")).unwrap();
            later.remove_hooks(Record::load(dir.path()).as_ref());
            assert_eq!(later.value, want, "{original}");
        }
    }

    #[test]
    fn refuses_invalid_files_with_their_location() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        for bad in ["{\"hooks\": [", "[1, 2]", "{\"hooks\": 3}"] {
            std::fs::write(&path, bad).unwrap();
            let err = ClaudeSettings::load(&path).err().expect(bad).to_string();
            assert!(err.contains(&path.display().to_string()), "{err}");
            assert!(err.contains("nothing was changed"), "{err}");
        }
    }

    #[test]
    fn save_backs_up_and_skips_when_unchanged() {
        let (d, mut s) = loaded(THEIRS);
        assert_eq!(s.save().unwrap(), Saved::Unchanged);
        s.add_hooks("/opt/bin/claude-hook", &mut Record::default());
        let Saved::Written {
            backup: Some(backup),
        } = s.save().unwrap()
        else {
            panic!("expected a write with a backup")
        };
        assert_eq!(std::fs::read_to_string(backup).unwrap(), THEIRS);
        let again = ClaudeSettings::load(&d.path().join("settings.json")).unwrap();
        assert!(again.has_hooks("/opt/bin/claude-hook"));
        assert!(!again.changed());
    }

    #[test]
    fn ours_is_recognized_by_program_name() {
        assert!(is_ours("/usr/bin/claude-hook"));
        assert!(is_ours("claude-hook --flag"));
        assert!(!is_ours("/usr/bin/claude-hook-other"));
        assert!(!is_ours("/usr/local/bin/other-hook"));
    }
}
