//! Static checks of the package recipes: the Debian package's file list
//! (`[package.metadata.deb]`) holds every program, unit, man page and completion; the RPM spec
//! and the PKGBUILD as shipped build a locked release; the Homebrew formula (which cannot be
//! built here) is valid Ruby and installs the same set. tests/packaging.rs builds and installs
//! the .deb, tests/packaging_rpm.rs and packaging_arch.rs build the others and compare their
//! real file lists with it.

#[path = "support/package_files.rs"]
mod package_files;
#[path = "support/repo.rs"]
mod repo;

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

/// The spec as shipped builds a release with cargo's `--locked`/`--frozen` (the CI build in
/// tests/packaging_rpm.rs overrides the profile and target dir): what `rpmspec -P` makes of
/// %prep, %build, %check and %install with no macro defined.
#[test]
fn rpm_spec_builds_a_locked_release_by_default() {
    let parsed = Command::new("rpmspec")
        .arg("-P")
        .arg(root().join("packaging/rpm/claude-daemons.spec"))
        .output()
        .expect("rpmspec (Debian package rpm) is missing: run scripts/test, which installs what the tests need");
    assert!(parsed.status.success(), "rpmspec -P: {parsed:?}");
    let spec = String::from_utf8(parsed.stdout).unwrap();
    // (rpmspec -P does not print every section header: look for the commands themselves.)
    for command in [
        "\ncargo fetch --locked\n",
        "\nexport CARGO_TARGET_DIR=target\ncargo build --frozen --profile release\n",
        "\nexport CARGO_TARGET_DIR=target\ncargo test --frozen --profile release --lib --bins ",
    ] {
        assert!(spec.contains(command), "no {command:?} in\n{spec}");
    }
    let install = spec
        .lines()
        .find(|l| l.starts_with("install -Dm755 "))
        .expect("the programs' install line");
    for program in programs() {
        assert!(
            install.contains(&format!(" target/release/{program}")),
            "%install: {program}\n{install}"
        );
    }
}

/// The programs of Cargo.toml's [[bin]] tables.
fn programs() -> Vec<String> {
    everything()
        .into_iter()
        .filter_map(|e| e.strip_prefix("bin/").map(String::from))
        .collect()
}

/// The PKGBUILD as shipped builds a release with `--locked`/`--frozen` and check() runs the
/// tests (tests/packaging_arch.rs builds it with the profile and target dir overridden).
#[test]
fn pkgbuild_builds_a_locked_release_by_default() {
    let pkgbuild = read("packaging/arch/PKGBUILD");
    let defaults = Command::new("bash")
        .arg("-c")
        .arg("source \"$1\" && echo \"$_cargo_profile $_cargo_target_dir $(_cargo_out)\"")
        .arg("bash")
        .arg(root().join("packaging/arch/PKGBUILD"))
        .env_remove("_cargo_profile")
        .env_remove("_cargo_target_dir")
        .output()
        .unwrap();
    assert!(defaults.status.success(), "{defaults:?}");
    assert_eq!(
        String::from_utf8_lossy(&defaults.stdout).trim(),
        "release target target/release"
    );
    let function = |name: &str| {
        let start = pkgbuild
            .find(&format!("\n{name}() {{\n"))
            .unwrap_or_else(|| panic!("no {name}()"));
        let body = &pkgbuild[start..];
        body[..body.find("\n}\n").unwrap()].to_string()
    };
    assert!(function("prepare").contains("cargo fetch --locked"));
    assert!(function("build").contains("cargo build --frozen --profile \"$_cargo_profile\""));
    assert!(function("check").contains("cargo test --frozen"));
    for program in programs() {
        assert!(
            function("package").contains(&format!("\"$out/{program}\"")),
            "package() installs {program}"
        );
    }
}

#[test]
fn homebrew_formula_installs_what_the_deb_installs() {
    let formula = read("packaging/homebrew/claude-daemons.rb");
    // brew cannot run here (Linux, no network); Ruby can at least parse the formula.
    let syntax = Command::new("ruby")
        .arg("-c")
        .arg(root().join("packaging/homebrew/claude-daemons.rb"))
        .output()
        .expect("ruby is missing: run scripts/test, which installs what the tests need");
    assert!(
        syntax.status.success(),
        "ruby -c packaging/homebrew/claude-daemons.rb: {}",
        String::from_utf8_lossy(&syntax.stderr)
    );
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
