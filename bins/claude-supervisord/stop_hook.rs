//! How an interactive turn ends and what it said, without scraping the screen: the Stop hook
//! the supervisor registers for its interactive children (`--settings`), which runs
//! `claude-hook supervisor-stop` to post the hook's payload back over the supervisor's socket,
//! and the session's transcript (jsonl), read as it grows, whose assistant messages become
//! the turn's stream-json lines.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// The hook program: `claude-hook` beside our own executable (the packages install them
/// together), else the one on PATH.
pub fn hook_program() -> PathBuf {
    crate::child_spec::sibling_program("claude-hook")
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The `--settings` of an interactive child: one Stop hook calling back with its key.
pub fn settings(hook: &Path, socket: &Path, key: &str) -> Value {
    let command = format!(
        "{} supervisor-stop --socket {} --key {}",
        shell_quote(&hook.display().to_string()),
        shell_quote(&socket.display().to_string()),
        shell_quote(key)
    );
    json!({"hooks": {"Stop": [{"hooks": [{"type": "command", "command": command, "timeout": 10}]}]}})
}

/// A transcript, read as it grows.
pub use crate::file_tail::FileTail as Transcript;

/// A transcript entry of the model's as the stream-json line `-p` would print for it.
pub fn assistant_line(entry: &Value) -> Option<String> {
    if entry["type"] != "assistant" || entry["isSidechain"] == true {
        return None;
    }
    let line = json!({
        "type": "assistant",
        "message": entry["message"],
        "parent_tool_use_id": null,
        "session_id": entry["sessionId"],
        "uuid": entry["uuid"],
    });
    Some(line.to_string())
}

/// The text of an assistant entry's text blocks.
pub fn assistant_text(entry: &Value) -> Option<String> {
    if entry["type"] != "assistant" {
        return None;
    }
    let text: Vec<&str> = entry["message"]["content"]
        .as_array()?
        .iter()
        .filter(|b| b["type"] == "text")
        .filter_map(|b| b["text"].as_str())
        .collect();
    (!text.is_empty()).then(|| text.join("\n"))
}

/// Whether an entry is Claude Code's note that the user interrupted the turn.
pub fn is_interruption(entry: &Value) -> bool {
    if entry["type"] != "user" {
        return false;
    }
    let c = &entry["message"]["content"];
    let has = |s: &str| s.starts_with("[Request interrupted by user");
    match c {
        Value::String(s) => has(s),
        Value::Array(blocks) => blocks.iter().any(|b| b["text"].as_str().is_some_and(has)),
        _ => false,
    }
}

/// Token usage summed over assistant entries (input, output, cache).
pub fn add_usage(total: &mut Value, entry: &Value) {
    let Some(u) = entry["message"]["usage"].as_object() else {
        return;
    };
    for k in [
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    ] {
        let add = u.get(k).and_then(Value::as_u64).unwrap_or(0);
        let cur = total[k].as_u64().unwrap_or(0);
        total[k] = json!(cur + add);
    }
}

/// The `result` line that ends a turn, as `-p` would print it (cost is not known to an
/// interactive session).
pub struct Ending<'a> {
    pub session_id: &'a str,
    pub text: Option<String>,
    pub subtype: &'a str,
    pub duration_ms: u64,
    pub num_turns: u64,
    pub usage: &'a Value,
}

impl Ending<'_> {
    pub fn line(&self) -> String {
        json!({
            "type": "result",
            "subtype": self.subtype,
            "is_error": self.subtype != "success",
            "result": self.text,
            "session_id": self.session_id,
            "duration_ms": self.duration_ms,
            "num_turns": self.num_turns,
            "usage": self.usage,
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transcript_is_read_in_whole_entries_from_where_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.jsonl");
        std::fs::write(&p, "{\"type\":\"user\",\"old\":true}\n").unwrap();
        let mut t = Transcript::at_end(Some(p.clone()));
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        let a = json!({"type": "assistant", "sessionId": "s", "uuid": "u",
            "message": {"content": [{"type": "text", "text": "hi"}], "usage": {"output_tokens": 3}}});
        write!(f, "{a}\n{{\"type\":\"user\",\"message\":{{\"content\":\"[Request interrupted by user]\"}}}}\n{{\"par").unwrap();
        let got = t.read_json();
        assert_eq!(got.len(), 2);
        assert_eq!(assistant_text(&got[0]).as_deref(), Some("hi"));
        assert!(assistant_line(&got[0])
            .unwrap()
            .contains("\"type\":\"assistant\""));
        assert!(is_interruption(&got[1]));
        let mut usage = json!({});
        add_usage(&mut usage, &got[0]);
        assert_eq!(usage["output_tokens"], 3);
        writeln!(f, "tial\":1}}").unwrap();
        assert_eq!(t.read_json(), vec![json!({"partial": 1})]);
    }

    #[test]
    fn the_hook_command_quotes_what_it_passes() {
        let s = settings(
            Path::new("/o'k/claude-hook"),
            Path::new("/run/s.sock"),
            "a::b",
        );
        let cmd = s["hooks"]["Stop"][0]["hooks"][0]["command"]
            .as_str()
            .unwrap();
        assert_eq!(
            cmd,
            r"'/o'\''k/claude-hook' supervisor-stop --socket '/run/s.sock' --key 'a::b'"
        );
    }
}
