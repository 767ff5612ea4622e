//! The package recipes agree with each other: the Debian package's file list
//! (`[package.metadata.deb]`) holds every program, unit, man page and completion, and the RPM
//! spec, the Arch PKGBUILD and the Homebrew formula install the same set (each parsed from its
//! `install` lines). These are static checks; tests/packaging.rs builds and installs the .deb.

#[path = "support/package_files.rs"]
mod package_files;

use package_files::*;

use std::collections::BTreeSet;
use std::process::Command;

#[test]
fn deb_holds_every_program_unit_page_and_completion() {
    let deb = deb_set();
    let all = everything();
    assert_eq!(
        deb,
        all,
        "[package.metadata.deb] assets differ from the repository: missing {:?}, extra {:?}",
        all.difference(&deb).collect::<Vec<_>>(),
        deb.difference(&all).collect::<Vec<_>>()
    );
    for script in ["postinst", "prerm", "postrm"] {
        let text = read(&format!("packaging/deb/{script}"));
        assert!(text.starts_with("#!/bin/sh\n"), "{script}");
        let status = Command::new("sh")
            .arg("-n")
            .arg(root().join("packaging/deb").join(script))
            .status()
            .unwrap();
        assert!(status.success(), "{script}: sh -n");
    }
    let postinst = read("packaging/deb/postinst");
    let prerm = read("packaging/deb/prerm");
    for socket in SOCKETS {
        assert!(
            postinst.contains(socket) && prerm.contains(socket),
            "{socket}"
        );
    }
    assert!(postinst.contains("systemctl --global enable"));
    assert!(prerm.contains("systemctl --global disable"));
}

#[test]
fn rpm_spec_installs_what_the_deb_installs() {
    let spec = read("packaging/rpm/claude-daemons.spec");
    let vars = [
        ("%{buildroot}", ""),
        ("%{_bindir}", "/usr/bin"),
        ("%{_userunitdir}", "/usr/lib/systemd/user"),
        ("%{_mandir}", "/usr/share/man"),
        ("%{_datadir}", "/usr/share"),
        ("%{_docdir}", "/usr/share/doc"),
        ("%{name}", PACKAGE),
    ];
    let installed = install_lines(&spec, &vars);
    assert_eq!(
        installed,
        deb_set(),
        "packaging/rpm/claude-daemons.spec %install"
    );

    // Every installed file is claimed by %files (rpmbuild fails on unpackaged files).
    let files = spec.split("\n%files\n").nth(1).expect("%files");
    let patterns: Vec<String> = files
        .lines()
        .take_while(|l| !l.starts_with("%changelog"))
        .filter(|l| l.starts_with("%{"))
        .map(|l| {
            let mut l = l.to_string();
            for (var, value) in &vars {
                l = l.replace(var, value);
            }
            l
        })
        .collect();
    let claimed: BTreeSet<String> = installed_rpm_paths(&spec, &vars)
        .into_iter()
        .filter(|p| patterns.iter().any(|pat| wildcard(pat, p)))
        .map(|p| canonical(&p))
        .collect();
    assert_eq!(
        claimed, installed,
        "%files does not claim every installed file"
    );
    for macro_ in ["%systemd_user_post", "%systemd_user_preun"] {
        let line = spec
            .lines()
            .find(|l| l.starts_with(macro_))
            .unwrap_or_else(|| panic!("no {macro_}"));
        for socket in SOCKETS {
            assert!(line.contains(socket), "{macro_} lacks {socket}");
        }
    }
}

/// The spec's installed paths before canonicalization, to match against %files globs.
fn installed_rpm_paths(spec: &str, vars: &[(&str, &str)]) -> Vec<String> {
    let mut out = Vec::new();
    for line in spec.lines().filter(|l| l.starts_with("install ")) {
        let mut line = line.to_string();
        for (var, value) in vars {
            line = line.replace(var, value);
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.iter().position(|w| *w == "-t") {
            Some(i) => {
                for src in &words[i + 2..] {
                    out.extend(sources(src).iter().map(|n| format!("{}/{n}", words[i + 1])));
                }
            }
            None => out.push(words.last().unwrap().to_string()),
        }
    }
    out
}

#[test]
fn pkgbuild_installs_what_the_deb_installs() {
    let pkgbuild = read("packaging/arch/PKGBUILD");
    let vars = [("$pkgdir", ""), ("$pkgname", PACKAGE)];
    assert_eq!(
        install_lines(&pkgbuild, &vars),
        deb_set(),
        "packaging/arch/PKGBUILD package()"
    );
    let function = |name: &str| {
        let start = pkgbuild
            .find(&format!("\n{name}() {{\n"))
            .unwrap_or_else(|| panic!("no {name}()"));
        let body = &pkgbuild[start..];
        body[..body.find("\n}\n").unwrap()].to_string()
    };
    assert!(function("prepare").contains("cargo fetch --locked"));
    assert!(function("build").contains("cargo build --frozen --release"));
    assert!(function("check").contains("cargo test --frozen"));
}

#[test]
fn homebrew_formula_installs_what_the_deb_installs() {
    let formula = read("packaging/homebrew/claude-daemons.rb");
    let mut set = BTreeSet::new();
    let mut plists = BTreeSet::new();
    for line in formula.lines().map(str::trim) {
        let Some((receiver, args)) = line.split_once(".install ") else {
            continue;
        };
        let quoted: Vec<&str> = args.split('"').skip(1).step_by(2).collect();
        let names: Vec<String> = match args.contains("=>") {
            true => vec![quoted[1].to_string()],
            false => quoted.iter().flat_map(|q| sources(q)).collect(),
        };
        let kind = match receiver {
            "bin" => "bin",
            "man1" => "man1",
            "man5" => "man5",
            "man7" => "man7",
            "bash_completion" => "bash",
            "zsh_completion" => "zsh",
            "fish_completion" => "fish",
            "doc" => "doc",
            "(pkgshare/\"launchd\")" => {
                plists.extend(names);
                continue;
            }
            _ => panic!("{line}: a destination this test does not know"),
        };
        set.extend(names.iter().map(|n| format!("{kind}/{n}")));
    }
    let without_units: BTreeSet<String> = deb_set()
        .into_iter()
        .filter(|e| !e.starts_with("unit/"))
        .collect();
    assert_eq!(set, without_units, "packaging/homebrew/claude-daemons.rb");
    let all_plists: BTreeSet<String> = sources("units/launchd/*.plist").into_iter().collect();
    assert_eq!(
        plists, all_plists,
        "the formula installs every launchd plist"
    );
    assert_eq!(all_plists.len(), 3, "one plist per daemon");
    let caveats = &formula[formula.find("def caveats").expect("caveats")..];
    assert!(
        caveats.contains("claudectl install"),
        "caveats tell to run claudectl install"
    );
}
