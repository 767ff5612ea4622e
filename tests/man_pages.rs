//! The section-1 man pages in `man/` are generated from the programs' clap definitions and
//! checked in; this test fails when they drift from the code, and when groff warns about
//! any page. Regenerate with `CLAUDE_DAEMONS_UPDATE_MAN=1 cargo test --test man_pages`.

#[path = "../bins/claudectl/cli.rs"]
#[allow(dead_code)]
mod claudectl_cli;

use clap::CommandFactory;
use std::path::{Path, PathBuf};

fn man_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("man")
}

/// Every generated page: (file name, contents).
fn generated() -> Vec<(String, Vec<u8>)> {
    let dir = tempfile::tempdir().unwrap();
    let commands = [claudectl_cli::Cli::command()];
    for cmd in commands {
        clap_mangen::generate_to(cmd, dir.path()).unwrap();
    }
    let mut pages: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    pages.sort();
    pages
}

#[test]
fn section_1_pages_match_the_code() {
    let pages = generated();
    assert!(pages.iter().any(|(n, _)| n == "claudectl.1"));
    if std::env::var_os("CLAUDE_DAEMONS_UPDATE_MAN").is_some() {
        std::fs::create_dir_all(man_dir()).unwrap();
        for (name, text) in &pages {
            std::fs::write(man_dir().join(name), text).unwrap();
        }
    }
    let mut stale = Vec::new();
    for (name, text) in &pages {
        let checked_in = std::fs::read(man_dir().join(name)).unwrap_or_default();
        if &checked_in != text {
            stale.push(name.clone());
        }
    }
    let extra: Vec<String> = std::fs::read_dir(man_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".1") && !pages.iter().any(|(p, _)| p == n))
        .collect();
    assert!(
        stale.is_empty() && extra.is_empty(),
        "man pages drifted from the code: {stale:?} differ, {extra:?} have no program; \
         run CLAUDE_DAEMONS_UPDATE_MAN=1 cargo test --test man_pages and commit man/"
    );
}

#[test]
fn every_page_renders_without_warnings() {
    let mut pages: Vec<PathBuf> = std::fs::read_dir(man_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == "1" || e == "5" || e == "7")
        })
        .collect();
    pages.sort();
    assert!(!pages.is_empty());
    for page in pages {
        let out = std::process::Command::new("groff")
            .args(["-ww", "-man", "-Tutf8", "-z"])
            .arg(&page)
            .output()
            .expect("groff is required to lint the man pages");
        let warnings = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && warnings.is_empty(),
            "{}: {warnings}",
            page.display()
        );
    }
}
