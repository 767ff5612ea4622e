//! The Arch package for real: `makepkg` with packaging/arch/PKGBUILD, from a source tarball
//! of the repository given as the PKGBUILD's source, with the PKGBUILD's `_cargo_profile` /
//! `_cargo_target_dir` pointing cargo at the debug build `cargo test` made. prepare()
//! (`cargo fetch --locked`), build() (`cargo build --frozen`) and package() run as written;
//! check() is skipped (--nocheck) only because it runs unit tests this CI runs anyway. Then
//! the package's file list (`pacman -Qlp`) against the Debian package's, and `pacman -U` into
//! a scratch root, whose programs run, and `pacman -R`.
//!
//! makepkg refuses to run as root, and CI runs as root. It runs here in a user namespace
//! (`unshare --user --map-user=65534`): makepkg sees the unprivileged uid 65534 and has no
//! capability on the host, while the files it creates — including cargo's lock and fingerprint
//! files in the shared target dir, owned by root — stay owned by root outside, so the target
//! dir is neither made writable for another user nor left with files root's next `cargo test`
//! cannot replace.

#[path = "support/package_build.rs"]
mod package_build;
#[path = "support/package_files.rs"]
mod package_files;
#[path = "support/repo.rs"]
mod repo;

use package_build::*;
use package_files::*;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

/// A directory of the test's environment, or `$HOME/<rel>` (cargo's and rustup's defaults,
/// which the build's own HOME would otherwise move).
fn home_dir(var: &str, rel: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(rel))
}

#[test]
fn arch_package_builds_with_makepkg() {
    require("makepkg", "makepkg");
    require("pacman", "pacman-package-manager");
    require("bsdtar", "libarchive-tools");
    require("fakeroot", "fakeroot");
    require("unshare", "util-linux");
    let tmp = tempfile::Builder::new()
        .prefix("cd-arch.")
        .tempdir_in("/var/tmp")
        .unwrap();
    let dir = |name: &str| {
        let d = tmp.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        d
    };
    // The PKGBUILD's source: `$pkgname-$pkgver.tar.gz::…`, found in SRCDEST, not downloaded.
    let started = Instant::now();
    source_tarball(
        &dir("sources"),
        &format!("{PACKAGE}-{}", env!("CARGO_PKG_VERSION")),
    );
    println!("source tarball: {:?}", started.elapsed());
    // makepkg builds the PKGBUILD of its working directory: a copy, so nothing lands in the
    // repository.
    let start_dir = dir("start");
    std::fs::copy(
        root().join("packaging/arch/PKGBUILD"),
        start_dir.join("PKGBUILD"),
    )
    .unwrap();

    // makepkg exports SOURCE_DATE_EPOCH (now, unless set) and the C parts of ring and
    // SQLite are rebuilt when it differs from what `cargo test` saw: scripts/test sets it.
    let reproducible = std::env::var_os("SOURCE_DATE_EPOCH").is_some();
    if !reproducible {
        eprintln!(
            "SOURCE_DATE_EPOCH is not set: makepkg sets it, so cargo rebuilds ring and SQLite \
             for the package (and `cargo test` again after it). Set it as scripts/test does."
        );
    }
    let started = Instant::now();
    let mut makepkg = Command::new("unshare");
    without_test_env(&mut makepkg)
        .args(["--user", "--map-user=65534", "--map-group=65534", "--"])
        .args([
            "makepkg",
            "--nodeps",
            "--nocheck",
            "--noconfirm",
            "--noprogressbar",
        ])
        // No compression: the archive format is not what is being tested.
        .arg("PKGEXT=.pkg.tar")
        .arg("_cargo_profile=dev")
        .arg(format!("_cargo_target_dir={}", target_dir().display()))
        .current_dir(&start_dir)
        .env("HOME", dir("home"))
        .env("CARGO_HOME", home_dir("CARGO_HOME", ".cargo"))
        .env("RUSTUP_HOME", home_dir("RUSTUP_HOME", ".rustup"))
        .env("SRCDEST", tmp.path().join("sources"))
        .env("BUILDDIR", dir("build"))
        .env("PKGDEST", dir("packages"))
        .env("LOGDEST", dir("logs"));
    let log = run(&mut makepkg);
    println!("makepkg: {:?}", started.elapsed());
    for step in ["prepare()", "build()", "package()"] {
        assert!(
            log.contains(&format!("Starting {step}")),
            "makepkg did not run {step}:\n{log}"
        );
    }
    if reproducible {
        assert_cargo_did_nothing(&log, "makepkg");
    }
    let packages: Vec<_> = std::fs::read_dir(tmp.path().join("packages"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(packages.len(), 1, "{packages:?}");
    let package = &packages[0];
    let name = package.file_name().unwrap().to_string_lossy();
    assert!(
        name.starts_with(&format!("{PACKAGE}-{}-1-", env!("CARGO_PKG_VERSION")))
            && name.contains(".pkg.tar"),
        "{name}"
    );

    // The file list: exactly the Debian package's, in Arch's places.
    let listed = run(Command::new("pacman").arg("-Qlp").arg(package));
    let files: BTreeSet<String> = listed
        .lines()
        .map(|l| {
            l.strip_prefix(&format!("{PACKAGE} "))
                .unwrap_or_else(|| panic!("pacman -Qlp line {l:?}"))
        })
        .filter(|p| !p.ends_with('/'))
        .map(canonical)
        .collect();
    assert_eq!(
        files,
        deb_set(),
        "pacman -Qlp differs from the Debian package's files:\n{listed}"
    );
    let info = run(Command::new("pacman").arg("-Qip").arg(package));
    assert!(info.contains("systemd"), "depends on systemd: {info}");

    // Installed with pacman into a scratch root (its own database; -dd: the dependencies
    // are Arch's packages), the programs run from there, and `pacman -R` takes it all out.
    let root_dir = dir("root");
    let pacman = |args: &[&str]| {
        let db = root_dir.join("var/lib/pacman");
        std::fs::create_dir_all(&db).unwrap();
        run(Command::new("pacman")
            .arg("--root")
            .arg(&root_dir)
            .arg("--dbpath")
            .arg(&db)
            .args(args))
    };
    pacman(&[
        "-U",
        "-dd",
        "--noconfirm",
        "--noprogressbar",
        package.to_str().unwrap(),
    ]);
    let paths: Vec<&str> = listed
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{PACKAGE} ")))
        .filter(|p| !p.ends_with('/'))
        .collect();
    for path in &paths {
        assert!(
            root_dir.join(path.trim_start_matches('/')).is_file(),
            "{path} not installed by pacman -U"
        );
    }
    let query = pacman(&["-Q", PACKAGE]);
    assert_eq!(
        query.trim(),
        format!("{PACKAGE} {}-1", env!("CARGO_PKG_VERSION"))
    );
    assert_programs_run(&root_dir.join("usr/bin"));
    pacman(&["-R", "--noconfirm", PACKAGE]);
    for path in &paths {
        assert!(
            !root_dir.join(path.trim_start_matches('/')).exists(),
            "{path} left behind by pacman -R"
        );
    }
}
