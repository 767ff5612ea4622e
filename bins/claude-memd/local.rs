//! The local observation builder: deterministic, no network. It reads what the tool call
//! says about itself (input and response) and writes typed observations a person can scan:
//! `change` for edits with the files modified, `discovery` for reads and searches with the
//! files read, commands with their outcome.

use crate::edit_diff;
use crate::provider::{EventRow, NewObservation, NewSummary, Provider, ProviderError, TurnFacts};
use claude_daemons::api::memory::SummaryText;
use serde_json::Value;
use std::path::Path;

/// The default provider.
#[derive(Debug, Default)]
pub struct LocalBuilder;

/// Longest single fact or narrative kept.
const MAX_TEXT: usize = 300;

/// The `tool_name` of a note saved through `claudectl mcp` (`POST /v1/hook`, PostToolUse):
/// no Claude Code tool is called this.
pub const MANUAL_MEMORY_TOOL: &str = "claude-daemons:save_memory";

fn clip(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('…');
    out
}

fn first_line(s: &str) -> &str {
    s.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
}

fn str_at<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|k| v.get(k).and_then(Value::as_str))
}

/// A path as the user thinks of it: relative to the working directory when inside it.
fn shown(path: &str, cwd: &str) -> String {
    Path::new(path)
        .strip_prefix(cwd)
        .ok()
        .filter(|p| !p.as_os_str().is_empty())
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| path.to_string())
}

fn lines(s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        s.lines().count()
    }
}

impl Provider for LocalBuilder {
    fn name(&self) -> &'static str {
        "local"
    }

    fn observe(&mut self, ev: &EventRow) -> Result<Vec<NewObservation>, ProviderError> {
        let input = &ev.input;
        let Some(tool) = input.tool_name.as_deref() else {
            return Ok(Vec::new());
        };
        let null = Value::Null;
        let ti = input.tool_input.as_ref().unwrap_or(&null);
        let tr = input.tool_response.as_ref().unwrap_or(&null);
        let cwd = input.cwd.as_str();
        Ok(build(tool, ti, tr, cwd).into_iter().collect())
    }

    fn summarize(
        &mut self,
        stop: &EventRow,
        turn: &TurnFacts,
    ) -> Result<Option<NewSummary>, ProviderError> {
        let last = stop
            .input
            .last_assistant_message
            .as_deref()
            .map(|m| clip(m, 600))
            .filter(|m| !m.is_empty());
        if turn.prompts.is_empty() && turn.titles.is_empty() && last.is_none() {
            return Ok(None);
        }
        let list = |items: &[String], max: usize| -> Option<String> {
            if items.is_empty() {
                return None;
            }
            let mut s = items
                .iter()
                .take(max)
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join("; ");
            if items.len() > max {
                s.push_str(&format!("; and {} more", items.len() - max));
            }
            Some(s)
        };
        let changed: Vec<String> = turn
            .titles
            .iter()
            .filter(|t| !t.starts_with("Read ") && !t.starts_with("Searched"))
            .cloned()
            .collect();
        Ok(Some(NewSummary {
            text: SummaryText {
                request: turn.prompts.first().map(|p| clip(p, 500)),
                investigated: list(&turn.files_read, 10).map(|f| format!("Read {f}")),
                learned: last,
                completed: list(&changed, 8),
                next_steps: (!turn.failures.is_empty())
                    .then(|| format!("Look at what failed: {}", turn.failures.join("; "))),
                notes: Some(format!(
                    "{} tool uses, {} files read, {} files modified",
                    turn.titles.len(),
                    turn.files_read.len(),
                    turn.files_modified.len()
                )),
                files_read: turn.files_read.clone(),
                files_edited: turn.files_modified.clone(),
            },
            source: "local",
            model: None,
        }))
    }
}

fn build(tool: &str, ti: &Value, tr: &Value, cwd: &str) -> Option<NewObservation> {
    let path = str_at(ti, &["file_path", "notebook_path", "path"]).map(str::to_string);
    let shown_path = path.as_deref().map(|p| shown(p, cwd)).unwrap_or_default();
    let mut o = NewObservation {
        kind: "discovery",
        ..NewObservation::default()
    };
    match tool {
        "Edit" | "MultiEdit" | "NotebookEdit" => {
            let path = path?;
            o.kind = "change";
            o.title = format!("Edited {shown_path}");
            o.concepts = vec!["what-changed"];
            let edits: Vec<(&str, &str)> = match ti.get("edits").and_then(Value::as_array) {
                Some(list) => list
                    .iter()
                    .map(|e| {
                        (
                            str_at(e, &["old_string"]).unwrap_or(""),
                            str_at(e, &["new_string"]).unwrap_or(""),
                        )
                    })
                    .collect(),
                None => vec![(
                    str_at(ti, &["old_string"]).unwrap_or(""),
                    str_at(ti, &["new_string", "new_source"]).unwrap_or(""),
                )],
            };
            let changes: Vec<edit_diff::Change> = edits
                .iter()
                .map(|(old, new)| edit_diff::diff(old, new))
                .collect();
            for ((old, new), c) in edits.iter().zip(&changes) {
                o.facts.push(edit_diff::fact(lines(old), lines(new), c));
            }
            o.narrative = Some(edit_diff::capped(&changes)).filter(|d| !d.is_empty());
            if ti.get("replace_all").and_then(Value::as_bool) == Some(true) {
                o.facts.push("All occurrences replaced".into());
            }
            o.subtitle = Some(format!("{} edit(s) in {}", edits.len(), path));
            o.files_modified = vec![path];
        }
        "Write" => {
            let path = path?;
            let content = str_at(ti, &["content"]).unwrap_or("");
            let created = str_at(tr, &["type"]) == Some("create");
            o.kind = "change";
            o.title = format!("{} {shown_path}", if created { "Created" } else { "Wrote" });
            o.concepts = vec!["what-changed"];
            o.facts.push(format!(
                "{} line(s), {} bytes written",
                lines(content),
                content.len()
            ));
            // Overwriting a file Claude Code had read: the response holds the old text.
            match str_at(tr, &["originalFile"]).filter(|_| !created) {
                Some(before) => {
                    let c = edit_diff::diff(before, content);
                    o.facts
                        .push(edit_diff::fact(lines(before), lines(content), &c));
                    o.narrative = Some(edit_diff::capped(&[c])).filter(|d| !d.is_empty());
                }
                None => {
                    if let Some(l) = Some(first_line(content)).filter(|l| !l.is_empty()) {
                        o.facts.push(format!("Starts with `{}`", clip(l, 80)));
                    }
                    o.narrative = Some(edit_diff::head(content)).filter(|d| !d.is_empty());
                }
            }
            o.subtitle = Some(path.clone());
            o.files_modified = vec![path];
        }
        "Read" => {
            let path = path?;
            o.title = format!("Read {shown_path}");
            o.concepts = vec!["how-it-works"];
            let file = tr.get("file").unwrap_or(&Value::Null);
            if let (Some(n), Some(total)) = (
                file.get("numLines").and_then(Value::as_u64),
                file.get("totalLines").and_then(Value::as_u64),
            ) {
                let start = file.get("startLine").and_then(Value::as_u64).unwrap_or(1);
                o.facts
                    .push(format!("Lines {start}–{} of {total}", start + n.max(1) - 1));
            }
            if let Some(l) = str_at(file, &["content"])
                .map(first_line)
                .filter(|l| !l.is_empty())
            {
                o.facts.push(format!("First line: `{}`", clip(l, 100)));
            }
            o.subtitle = Some(path.clone());
            o.files_read = vec![path];
        }
        "Grep" | "Glob" => {
            let pattern = str_at(ti, &["pattern"]).unwrap_or("");
            let files: Vec<String> = tr
                .get("filenames")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .take(20)
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            let n = tr
                .get("numFiles")
                .and_then(Value::as_u64)
                .unwrap_or(files.len() as u64);
            o.title = if tool == "Grep" {
                format!("Searched for `{}`", clip(pattern, 60))
            } else {
                format!("Listed files matching `{}`", clip(pattern, 60))
            };
            if !shown_path.is_empty() {
                o.title.push_str(&format!(" in {shown_path}"));
            }
            o.facts.push(format!("{n} file(s) matched"));
            o.concepts = vec!["how-it-works"];
            o.files_read = files;
        }
        "Bash" => {
            let cmd = str_at(ti, &["command"]).unwrap_or("");
            let stderr = str_at(tr, &["stderr"]).unwrap_or("");
            let stdout = str_at(tr, &["stdout"]).unwrap_or("");
            let failed = tr.get("interrupted").and_then(Value::as_bool) == Some(true)
                || tr.get("is_error").and_then(Value::as_bool) == Some(true)
                || tr.as_str().is_some_and(|s| s.starts_with("Error"))
                || (stdout.is_empty() && !stderr.is_empty());
            o.kind = if mutating(cmd) { "change" } else { "discovery" };
            o.title = format!(
                "Ran `{}`{}",
                clip(first_line(cmd), 70),
                if failed { " (failed)" } else { "" }
            );
            if let Some(d) = str_at(ti, &["description"]) {
                o.subtitle = Some(clip(d, 120));
            }
            o.facts.push(if failed {
                format!("Failed: {}", clip(first_line(stderr), MAX_TEXT))
            } else {
                format!("Succeeded with {} line(s) of output", lines(stdout))
            });
            if let Some(l) = stdout.lines().rev().find(|l| !l.trim().is_empty()) {
                o.facts.push(format!("Last output: `{}`", clip(l, 120)));
            }
            o.narrative = Some(clip(cmd, MAX_TEXT));
            o.concepts = vec![if failed {
                "problem-solution"
            } else {
                "how-it-works"
            }];
        }
        "WebFetch" => {
            let url = str_at(ti, &["url"]).unwrap_or("");
            o.title = format!("Fetched {}", clip(url, 100));
            if let Some(p) = str_at(ti, &["prompt"]) {
                o.facts.push(format!("Looking for: {}", clip(p, MAX_TEXT)));
            }
        }
        "WebSearch" => {
            o.title = format!(
                "Searched the web for `{}`",
                clip(str_at(ti, &["query"]).unwrap_or(""), 80)
            );
        }
        "Task" | "Agent" => {
            o.title = format!(
                "Delegated: {}",
                clip(str_at(ti, &["description", "prompt"]).unwrap_or(tool), 80)
            );
            if let Some(p) = str_at(ti, &["prompt"]) {
                o.narrative = Some(clip(p, MAX_TEXT));
            }
        }
        // `claudectl mcp`'s save_memory: the model's own note, stored as it wrote it.
        MANUAL_MEMORY_TOOL => {
            o.kind = match str_at(ti, &["type"]) {
                Some("change") => "change",
                Some("bugfix") => "bugfix",
                Some("feature") => "feature",
                Some("refactor") => "refactor",
                Some("decision") => "decision",
                _ => "discovery",
            };
            let text = str_at(ti, &["text"]).unwrap_or_default();
            let title = str_at(ti, &["title"]).unwrap_or_else(|| first_line(text));
            o.title = clip(title, 120);
            o.narrative = Some(clip(text, 4 * MAX_TEXT)).filter(|t| !t.is_empty());
            if let Some(facts) = ti.get("facts").and_then(Value::as_array) {
                o.facts = facts
                    .iter()
                    .filter_map(Value::as_str)
                    .take(10)
                    .map(|f| clip(f, MAX_TEXT))
                    .collect();
            }
        }
        other => {
            o.title = format!("Used {other}");
            if let Some(map) = ti.as_object() {
                let keys: Vec<&str> = map.keys().map(String::as_str).take(8).collect();
                if !keys.is_empty() {
                    o.facts.push(format!("Inputs: {}", keys.join(", ")));
                }
            }
            if let Some(p) = path {
                o.files_read = vec![p];
            }
        }
    }
    Some(o)
}

/// Whether a shell command changes things (rather than looks at them).
fn mutating(cmd: &str) -> bool {
    const VERBS: &[&str] = &[
        "git commit",
        "git push",
        "git merge",
        "git rebase",
        "git checkout",
        "git switch",
        "git reset",
        "git apply",
        "git mv",
        "git rm",
        "git add",
        "mv ",
        "rm ",
        "cp ",
        "mkdir ",
        "touch ",
        "chmod ",
        "ln ",
        "sed -i",
        "npm install",
        "npm i ",
        "cargo add",
        "pip install",
        "tee ",
        "patch ",
    ];
    cmd.split(['&', ';', '|'])
        .map(str::trim)
        .any(|part| VERBS.iter().any(|v| part.starts_with(v)) || part.contains(" > "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use claude_daemons::claude::{HookEvent, HookInput};
    use serde_json::json;

    fn event(tool: &str, ti: Value, tr: Value) -> EventRow {
        let raw = json!({"session_id": "s", "hook_event_name": "PostToolUse", "cwd": "/w",
            "tool_name": tool, "tool_input": ti, "tool_response": tr, "tool_use_id": "t1"});
        EventRow {
            id: 1,
            event: HookEvent::PostToolUse,
            session_id: "s".into(),
            project: "/w".into(),
            project_name: "w".into(),
            prompt_number: Some(1),
            input: serde_json::from_value::<HookInput>(raw).unwrap(),
            attempts: 1,
        }
    }

    fn one(tool: &str, ti: Value, tr: Value) -> NewObservation {
        let mut v = LocalBuilder.observe(&event(tool, ti, tr)).unwrap();
        assert_eq!(v.len(), 1);
        v.remove(0)
    }

    #[test]
    fn a_manual_memory_keeps_its_words() {
        let o = one(
            MANUAL_MEMORY_TOOL,
            json!({"title": "Deploys need the VPN", "text": "Run `make deploy` only on the VPN.", "type": "decision", "facts": ["vpn: corp"]}),
            Value::Null,
        );
        assert_eq!(o.kind, "decision");
        assert_eq!(o.title, "Deploys need the VPN");
        assert_eq!(
            o.narrative.as_deref(),
            Some("Run `make deploy` only on the VPN.")
        );
        assert_eq!(o.facts, vec!["vpn: corp".to_string()]);
        let untitled = one(
            MANUAL_MEMORY_TOOL,
            json!({"text": "first\nsecond"}),
            Value::Null,
        );
        assert_eq!(
            (untitled.kind, untitled.title.as_str()),
            ("discovery", "first")
        );
    }

    #[test]
    fn edit_is_a_change_with_files_modified() {
        let o = one(
            "Edit",
            json!({"file_path": "/w/src/lib.rs", "old_string": "a\nb", "new_string": "c"}),
            json!({}),
        );
        assert_eq!(o.kind, "change");
        assert_eq!(o.title, "Edited src/lib.rs");
        assert_eq!(o.files_modified, vec!["/w/src/lib.rs"]);
        assert!(
            o.facts[0].contains("2 line(s) with 1 line(s)"),
            "{:?}",
            o.facts
        );
    }

    /// The example: the added line, the one thing that changed, is in the facts and
    /// the narrative (a unified diff), so search finds it.
    #[test]
    fn an_edit_records_the_lines_it_changed() {
        let o = one(
            "Edit",
            json!({"file_path": "/w/cfg.py", "old_string": "expires = 3600",
                   "new_string": "expires = 3600\nrefresh_at = expires - 60"}),
            json!({}),
        );
        assert_eq!(
            o.facts[0],
            "Replaced 1 line(s) with 2 line(s): +`refresh_at = expires - 60`"
        );
        assert_eq!(
            o.narrative.as_deref(),
            Some("@@ -1 +1,2 @@\n expires = 3600\n+refresh_at = expires - 60\n")
        );
        let m = one(
            "MultiEdit",
            json!({"file_path": "/w/a.rs", "edits": [
                {"old_string": "let a = 1;", "new_string": "let a = 2;"},
                {"old_string": "fn old_name() {}", "new_string": "fn new_name() {}"}]}),
            json!({}),
        );
        assert_eq!(
            m.facts[1],
            "Replaced 1 line(s) with 1 line(s): -`fn old_name() {}` +`fn new_name() {}`"
        );
        let n = m.narrative.unwrap();
        assert!(
            n.contains("-let a = 1;\n+let a = 2;") && n.contains("+fn new_name() {}"),
            "{n}"
        );
        let nb = one(
            "NotebookEdit",
            json!({"notebook_path": "/w/n.ipynb", "cell_id": "c1", "new_source": "df = load()\ndf.plot()"}),
            json!({}),
        );
        assert!(nb.narrative.unwrap().contains("+df.plot()"));
    }

    #[test]
    fn write_records_the_head_of_a_new_file_and_the_diff_of_an_old_one() {
        let content: String = (1..=100).map(|i| format!("line {i}\n")).collect();
        let w = one(
            "Write",
            json!({"file_path": "/w/new.txt", "content": content}),
            json!({"type": "create"}),
        );
        assert_eq!(w.title, "Created new.txt");
        assert_eq!(
            w.facts[0],
            format!("100 line(s), {} bytes written", content.len())
        );
        let n = w.narrative.unwrap();
        assert!(n.starts_with("+line 1\n+line 2\n"), "{n}");
        assert!(n.ends_with("… (60 more diff lines)\n"), "{n}");
        let u = one(
            "Write",
            json!({"file_path": "/w/old.txt", "content": "a\nB\nc\n"}),
            json!({"type": "update", "originalFile": "a\nb\nc\n"}),
        );
        assert_eq!(u.title, "Wrote old.txt");
        assert_eq!(u.facts[1], "Replaced 3 line(s) with 3 line(s): -`b` +`B`");
        assert!(u.narrative.unwrap().contains("-b\n+B"));
    }

    #[test]
    fn read_and_grep_are_discoveries_with_files_read() {
        let o = one(
            "Read",
            json!({"file_path": "/w/notes.txt"}),
            json!({"type": "text", "file": {"filePath": "/w/notes.txt", "content": "hello\nworld", "numLines": 2, "startLine": 1, "totalLines": 2}}),
        );
        assert_eq!((o.kind, o.title.as_str()), ("discovery", "Read notes.txt"));
        assert_eq!(o.files_read, vec!["/w/notes.txt"]);
        assert!(
            o.facts.iter().any(|f| f == "Lines 1–2 of 2"),
            "{:?}",
            o.facts
        );
        let g = one(
            "Grep",
            json!({"pattern": "fn main"}),
            json!({"filenames": ["/w/a.rs", "/w/b.rs"], "numFiles": 2}),
        );
        assert_eq!(g.title, "Searched for `fn main`");
        assert_eq!(g.files_read.len(), 2);
    }

    #[test]
    fn bash_reports_its_outcome() {
        let ok = one(
            "Bash",
            json!({"command": "cargo test", "description": "Run tests"}),
            json!({"stdout": "running 3 tests\ntest result: ok", "stderr": "", "interrupted": false}),
        );
        assert_eq!(ok.title, "Ran `cargo test`");
        assert_eq!(ok.kind, "discovery");
        assert!(ok.facts[1].contains("test result: ok"));
        let bad = one(
            "Bash",
            json!({"command": "rm missing"}),
            json!({"stdout": "", "stderr": "rm: cannot remove 'missing'", "interrupted": false}),
        );
        assert_eq!(bad.title, "Ran `rm missing` (failed)");
        assert_eq!(bad.kind, "change");
        assert!(bad.facts[0].starts_with("Failed: rm: cannot remove"));
    }

    #[test]
    fn summary_from_the_turn() {
        let ev = event("Read", json!({}), json!({}));
        let mut stop = ev.clone();
        stop.input.last_assistant_message = Some("All tests pass now.".into());
        let turn = TurnFacts {
            prompts: vec!["fix the parser".into()],
            titles: vec!["Read a.rs".into(), "Edited a.rs".into()],
            files_read: vec!["/w/a.rs".into()],
            files_modified: vec!["/w/a.rs".into()],
            failures: vec![],
        };
        let s = LocalBuilder.summarize(&stop, &turn).unwrap().unwrap();
        assert_eq!(s.text.request.as_deref(), Some("fix the parser"));
        assert_eq!(s.text.completed.as_deref(), Some("Edited a.rs"));
        assert_eq!(s.text.learned.as_deref(), Some("All tests pass now."));
        assert_eq!(
            LocalBuilder.summarize(&ev, &TurnFacts::default()).unwrap(),
            None
        );
    }
}
