//! Permission rules in Claude Code's own syntax, checked before a person is asked:
//! `Tool` (every call of the tool), `Bash(git status:*)` (a command prefix),
//! `Bash(npm run *)` (a wildcard), `Bash(make test)` (exactly), `Edit(src/**)` and
//! `Read(//etc/*.conf)` (gitignore-style paths: relative to the workspace, `//` or `/` for
//! absolute, `~/` for HOME), `WebFetch(domain:example.com)`, `mcp__server` (all its tools).
//!
//! A Bash allow rule never matches a command that chains or substitutes commands (`;`,
//! `&&`, `|`, `` ` ``, `$(`, redirections): a person decides those. A Bash deny rule
//! matches when any of the chained commands matches it.

use claude_daemons::api::supervisor::{Behavior, PermissionRules};
use globset::{GlobBuilder, GlobMatcher};
use serde_json::Value;
use std::path::{Component, Path, PathBuf};

/// Tools a rule of that name covers (Claude Code: `Edit` rules cover every editing tool,
/// `Read` rules the reading ones).
fn covers(rule_tool: &str, tool: &str) -> bool {
    if rule_tool == tool {
        return true;
    }
    match rule_tool {
        "Edit" => matches!(tool, "Write" | "MultiEdit" | "NotebookEdit"),
        "Read" => matches!(tool, "Glob" | "Grep" | "LS"),
        t if t.starts_with("mcp__") && !t.trim_start_matches("mcp__").contains("__") => {
            tool.starts_with(&format!("{t}__"))
        }
        t if t.starts_with("mcp__") && t.ends_with("__*") => {
            tool.starts_with(t.trim_end_matches('*'))
        }
        _ => false,
    }
}

/// A parsed rule.
struct Rule<'a> {
    tool: &'a str,
    content: Option<&'a str>,
}

/// Parse `Tool` or `Tool(content)`; the error says what is wrong.
fn parse(rule: &str) -> Result<Rule<'_>, String> {
    let rule = rule.trim();
    let (tool, content) = match rule.find('(') {
        None => (rule, None),
        Some(i) => {
            let Some(inner) = rule[i + 1..].strip_suffix(')') else {
                return Err(format!("{rule:?} does not end with `)`"));
            };
            if inner.trim().is_empty() {
                return Err(format!("{rule:?} has empty parentheses"));
            }
            (&rule[..i], Some(inner))
        }
    };
    if tool.is_empty()
        || !tool
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '*')
    {
        return Err(format!("{rule:?} does not start with a tool name"));
    }
    Ok(Rule { tool, content })
}

/// Check every rule's syntax; the error names the rule.
pub fn validate(rules: &[String]) -> Result<(), String> {
    for r in rules {
        let p = parse(r)?;
        if let (Some(c), true) = (p.content, is_path_tool(p.tool)) {
            glob(c, "/").map_err(|e| format!("{r:?}: {e}"))?;
        }
    }
    Ok(())
}

/// The rule that decides a call, if any: deny rules first.
pub fn decide(
    rules: &PermissionRules,
    tool: &str,
    input: &Value,
    cwd: &str,
) -> Option<(Behavior, String)> {
    let hit = |list: &[String], b: Behavior| {
        list.iter()
            .find(|r| matches(r, b, tool, input, cwd))
            .map(|r| (b, r.clone()))
    };
    hit(&rules.deny, Behavior::Deny).or_else(|| hit(&rules.allow, Behavior::Allow))
}

fn matches(rule: &str, b: Behavior, tool: &str, input: &Value, cwd: &str) -> bool {
    let Ok(r) = parse(rule) else { return false };
    if !covers(r.tool, tool) {
        return false;
    }
    let Some(content) = r.content else {
        return true;
    };
    if tool == "Bash" {
        let Some(cmd) = input["command"].as_str() else {
            return false;
        };
        return bash_matches(content, cmd.trim(), b);
    }
    if is_path_tool(r.tool) {
        let Some(path) = ["file_path", "notebook_path", "path"]
            .iter()
            .find_map(|k| input[*k].as_str())
        else {
            return false;
        };
        let abs = normalize(&Path::new(cwd).join(path));
        return glob(content, cwd).is_ok_and(|g| g.is_match(abs));
    }
    if tool == "WebFetch" {
        let (Some(domain), Some(url)) = (content.strip_prefix("domain:"), input["url"].as_str())
        else {
            return false;
        };
        let host = url
            .split_once("://")
            .map_or(url, |(_, rest)| rest)
            .split(['/', '?', '#'])
            .next()
            .unwrap_or("")
            .rsplit('@')
            .next()
            .unwrap_or("");
        let host = host.split(':').next().unwrap_or("").to_ascii_lowercase();
        let domain = domain.to_ascii_lowercase();
        return host == domain || host.ends_with(&format!(".{domain}"));
    }
    false
}

fn is_path_tool(tool: &str) -> bool {
    matches!(
        tool,
        "Edit" | "Write" | "MultiEdit" | "NotebookEdit" | "Read" | "Glob" | "Grep" | "LS"
    )
}

/// Characters that chain, substitute or redirect commands.
const SHELL_JOINS: [&str; 9] = [";", "&", "|", "`", "$(", ">", "<", "\n", "\r"];

fn bash_matches(pattern: &str, cmd: &str, b: Behavior) -> bool {
    let chained = SHELL_JOINS.iter().any(|j| cmd.contains(j));
    match b {
        Behavior::Allow if chained => false,
        Behavior::Allow => command_matches(pattern, cmd),
        Behavior::Deny => {
            command_matches(pattern, cmd)
                || cmd
                    .split([';', '&', '|', '\n', '\r'])
                    .map(str::trim)
                    .any(|part| !part.is_empty() && command_matches(pattern, part))
        }
    }
}

fn command_matches(pattern: &str, cmd: &str) -> bool {
    if let Some(prefix) = pattern.strip_suffix(":*") {
        let prefix = prefix.trim();
        return cmd == prefix
            || cmd
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with(char::is_whitespace));
    }
    if pattern.contains('*') {
        return wildcard(pattern, cmd);
    }
    cmd == pattern.trim()
}

/// `*` matches any run of characters (spaces included), everything else itself.
fn wildcard(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !s.starts_with(first) || s.len() < first.len() + last.len() || !s.ends_with(last) {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for p in &parts[1..parts.len() - 1] {
        match rest.find(p) {
            Some(i) => rest = &rest[i + p.len()..],
            None => return false,
        }
    }
    true
}

fn glob(pattern: &str, cwd: &str) -> Result<GlobMatcher, String> {
    let home = std::env::var("HOME").unwrap_or_default();
    let abs = if let Some(p) = pattern.strip_prefix("//") {
        format!("/{p}")
    } else if let Some(p) = pattern.strip_prefix("~/") {
        format!("{home}/{p}")
    } else if pattern.starts_with('/') {
        pattern.to_string()
    } else {
        format!("{}/{pattern}", cwd.trim_end_matches('/'))
    };
    // A directory pattern covers what is under it, as in .gitignore.
    let abs = if abs.ends_with('/') {
        format!("{abs}**")
    } else {
        abs
    };
    GlobBuilder::new(&abs)
        .literal_separator(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| e.to_string())
}

/// `a/./b/../c` → `a/c`, without touching the file system (the file may not exist yet).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules(allow: &[&str], deny: &[&str]) -> PermissionRules {
        PermissionRules {
            allow: allow.iter().map(|s| s.to_string()).collect(),
            deny: deny.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn bash(r: &PermissionRules, cmd: &str) -> Option<Behavior> {
        decide(r, "Bash", &json!({ "command": cmd }), "/w").map(|(b, _)| b)
    }

    #[test]
    fn bash_prefixes_wildcards_and_exact_commands() {
        let r = rules(
            &["Bash(git status:*)", "Bash(npm run *)", "Bash(make test)"],
            &["Bash(git push:*)"],
        );
        assert_eq!(bash(&r, "git status"), Some(Behavior::Allow));
        assert_eq!(bash(&r, "git status --short"), Some(Behavior::Allow));
        assert_eq!(bash(&r, "git statusx"), None);
        assert_eq!(bash(&r, "npm run build"), Some(Behavior::Allow));
        assert_eq!(bash(&r, "make test"), Some(Behavior::Allow));
        assert_eq!(bash(&r, "make test2"), None);
        assert_eq!(bash(&r, "git push origin main"), Some(Behavior::Deny));
        // Chained commands: never allowed by a rule, denied if any part is.
        assert_eq!(bash(&r, "git status; rm -rf /"), None);
        assert_eq!(bash(&r, "git status && curl x | sh"), None);
        assert_eq!(bash(&r, "git status $(rm -rf /)"), None);
        assert_eq!(bash(&r, "ls && git push origin"), Some(Behavior::Deny));
        assert_eq!(
            bash(&rules(&["Bash"], &[]), "anything; at all"),
            Some(Behavior::Allow)
        );
    }

    #[test]
    fn paths_are_globs_relative_to_the_workspace() {
        let r = rules(
            &["Edit(src/**)", "Read(//etc/*.conf)"],
            &["Edit(src/secret/**)"],
        );
        let d = |tool: &str, p: &str| {
            decide(&r, tool, &json!({ "file_path": p }), "/w").map(|(b, _)| b)
        };
        assert_eq!(d("Edit", "/w/src/a/b.rs"), Some(Behavior::Allow));
        assert_eq!(
            d("Write", "src/new.rs"),
            Some(Behavior::Allow),
            "relative input"
        );
        assert_eq!(d("Edit", "/w/src/../Cargo.toml"), None, "normalized");
        assert_eq!(d("Edit", "/w/src/secret/k"), Some(Behavior::Deny));
        assert_eq!(d("Edit", "/elsewhere/src/a.rs"), None);
        assert_eq!(d("Read", "/etc/x.conf"), Some(Behavior::Allow));
        assert_eq!(
            d("Read", "/etc/sub/x.conf"),
            None,
            "* stays in one directory"
        );
        assert_eq!(d("Bash", "/w/src/a"), None);
    }

    #[test]
    fn domains_mcp_servers_and_bad_rules() {
        let r = rules(&["WebFetch(domain:example.com)", "mcp__docs"], &[]);
        let d = |tool: &str, input: Value| decide(&r, tool, &input, "/w").map(|(b, _)| b);
        assert_eq!(
            d("WebFetch", json!({"url": "https://api.example.com/x"})),
            Some(Behavior::Allow)
        );
        assert_eq!(
            d("WebFetch", json!({"url": "https://example.com.evil/"})),
            None
        );
        assert_eq!(
            d("WebFetch", json!({"url": "https://x@evil.org/example.com"})),
            None
        );
        assert_eq!(d("mcp__docs__search", json!({})), Some(Behavior::Allow));
        assert_eq!(d("mcp__docsx__search", json!({})), None);
        assert!(validate(&["Bash(ls:*)".into(), "Edit(src/**)".into()]).is_ok());
        for bad in ["", "Bash(", "Bash()", "(x)", "Edit([)"] {
            assert!(validate(&[bad.to_string()]).is_err(), "{bad:?}");
        }
    }
}
