//! The documentation's commands against the programs: every `claudectl …` the README and
//! docs/ show is a command `claudectl --help` lists, and every bench docs/benchmarks.md runs
//! is one Cargo.toml declares (and every declared bench is documented there).
#[path = "support/repo.rs"]
mod repo;

use std::collections::{BTreeSet, HashMap};
use std::process::Command;

/// The Markdown files whose commands are checked: the README and every page of docs/.
fn documents() -> Vec<(String, String)> {
    let root = repo::root();
    let mut files = vec![root.join("README.md")];
    let mut pages: Vec<_> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    files.extend(pages);
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p:?}: {e}"));
            let name = p.strip_prefix(&root).unwrap().display().to_string();
            (name, text)
        })
        .collect()
}

/// The code in a Markdown text: the lines of fenced blocks and the inline code spans, each
/// with its line number.
fn code(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut fenced = false;
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            out.push((i + 1, line.to_string()));
            continue;
        }
        let mut spans = line.split('`');
        spans.next();
        while let Some(span) = spans.next() {
            out.push((i + 1, span.to_string()));
            spans.next();
        }
    }
    out
}

/// The words after each `claudectl` in `code` (a program name, not `claudectl-mem-search`).
fn invocations(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("claudectl") {
        let before = rest[..at].chars().next_back();
        let after = &rest[at + "claudectl".len()..];
        rest = after;
        let starts_word = before.is_none_or(|c| !(c.is_alphanumeric() || c == '-' || c == '_'));
        if !starts_word || !after.starts_with(' ') {
            continue;
        }
        let words = after
            .split_whitespace()
            .map(|w| w.trim_end_matches([',', '.', ';', ':', ')']).to_string())
            .take_while(|w| !matches!(w.as_str(), "&&" | "||" | "|" | "#" | ";" | ">" | "2>&1"))
            .collect();
        out.push(words);
    }
    out
}

/// The subcommands `claudectl PATH --help` lists (empty for a leaf command).
fn subcommands(path: &[String]) -> BTreeSet<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_claudectl"))
        .args(path)
        .arg("--help")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "claudectl {} --help: {}",
        path.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    let help = String::from_utf8(out.stdout).unwrap();
    help.lines()
        .skip_while(|l| l.trim() != "Commands:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// Whether a word stands for something the reader fills in, or is a flag or an argument.
fn not_a_command(word: &str) -> bool {
    word.starts_with(['-', '<', '[', '$', '"', '\'', '…', '.', '{'])
        || word
            .chars()
            .any(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

#[test]
fn every_claudectl_command_in_the_docs_exists() {
    let mut known: HashMap<Vec<String>, BTreeSet<String>> = HashMap::new();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for (file, text) in documents() {
        for (line, code) in code(&text) {
            for words in invocations(&code) {
                let mut path: Vec<String> = Vec::new();
                for word in &words {
                    let subs = known
                        .entry(path.clone())
                        .or_insert_with(|| subcommands(&path))
                        .clone();
                    if subs.is_empty() || not_a_command(word) {
                        break;
                    }
                    // `mem|sup|mesh`: each alternative must exist; the walk follows the first.
                    let alternatives: Vec<&str> = word.split('|').collect();
                    let missing: Vec<&&str> = alternatives
                        .iter()
                        .filter(|a| !subs.contains(**a))
                        .collect();
                    if !missing.is_empty() {
                        wrong.push(format!(
                            "{file}:{line}: `claudectl {} {word}`: `claudectl {} --help` lists {:?}",
                            path.join(" "),
                            path.join(" "),
                            subs
                        ));
                        break;
                    }
                    path.push(alternatives[0].to_string());
                    checked += 1;
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "commands the docs show that claudectl does not have:\n{}",
        wrong.join("\n")
    );
    // A README without a single checked command means the parsing broke, not that all is well.
    assert!(
        checked > 20,
        "only {checked} claudectl subcommands found in the docs"
    );
}

/// The `[[bench]]` names in Cargo.toml.
fn cargo_benches() -> BTreeSet<String> {
    let manifest: toml::Value =
        toml::from_str(&std::fs::read_to_string(repo::root().join("Cargo.toml")).unwrap()).unwrap();
    manifest["bench"]
        .as_array()
        .expect("[[bench]] in Cargo.toml")
        .iter()
        .map(|b| b["name"].as_str().unwrap().to_string())
        .collect()
}

/// The kinds `claudectl bench` takes, from its help.
fn claudectl_bench_kinds() -> BTreeSet<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_claudectl"))
        .args(["bench", "-h"])
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    let list = help
        .split("[possible values: ")
        .nth(1)
        .and_then(|s| s.split(']').next())
        .unwrap_or_else(|| panic!("no possible values in `claudectl bench -h`:\n{help}"));
    list.split(", ").map(str::to_string).collect()
}

/// A word the reader fills in (`NAME`), a flag, or a comment: not a bench or kind name.
fn placeholder(word: &str) -> bool {
    !word.starts_with(|c: char| c.is_ascii_lowercase())
}

#[test]
fn benchmarks_md_runs_the_benches_that_exist_and_documents_them_all() {
    let page = std::fs::read_to_string(repo::root().join("docs/benchmarks.md")).unwrap();
    let benches = cargo_benches();
    let kinds = claudectl_bench_kinds();
    let mut wrong = Vec::new();
    let mut documented = BTreeSet::new();
    let mut kinds_used = 0;
    for (line, code) in code(&page) {
        let words: Vec<&str> = code.split_whitespace().collect();
        for (i, w) in words.iter().enumerate() {
            if *w == "--bench" {
                let name = words.get(i + 1).copied().unwrap_or("");
                if placeholder(name) {
                    continue;
                }
                if benches.contains(name) {
                    documented.insert(name.to_string());
                } else {
                    wrong.push(format!(
                        "docs/benchmarks.md:{line}: `cargo bench --bench {name}`: Cargo.toml has {benches:?}"
                    ));
                }
            }
            if w.ends_with("claudectl") && words.get(i + 1) == Some(&"bench") {
                if let Some(kind) = words.get(i + 2).filter(|k| !placeholder(k)) {
                    for k in kind.split('|') {
                        kinds_used += 1;
                        if !kinds.contains(k) {
                            wrong.push(format!(
                                "docs/benchmarks.md:{line}: `claudectl bench {k}`: it takes {kinds:?}"
                            ));
                        }
                    }
                }
            }
        }
    }
    for name in benches.difference(&documented) {
        wrong.push(format!(
            "Cargo.toml's bench {name} has no `cargo bench --bench {name}` in docs/benchmarks.md"
        ));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(
        kinds_used > 0,
        "docs/benchmarks.md shows no `claudectl bench KIND`"
    );
}
