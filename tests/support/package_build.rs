//! Building the RPM and Arch packages for real (tests/packaging_rpm.rs, packaging_arch.rs):
//! from a source tarball of the repository, like a distribution's build, with cargo pointed at
//! the debug build `cargo test` already made, so that cargo has nothing left to do. Needs the
//! distributions' tools installed (scripts/test); a missing tool is a failure, never a skip.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The programs every package ships; each answers `--version`.
pub const PROGRAMS: [&str; 5] = [
    "claude-memd",
    "claude-supervisord",
    "claude-meshd",
    "claude-hook",
    "claudectl",
];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The cargo target dir `cargo test` built into (`…/debug/claude-memd` → `…`).
pub fn target_dir() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_claude-memd"));
    bin.parent().unwrap().parent().unwrap().to_path_buf()
}

/// `tool` from PATH, or a failure naming the Debian package that provides it.
pub fn require(tool: &str, apt_package: &str) -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{tool} (Debian package {apt_package}) is missing: run scripts/test, which installs what the tests need"
            )
        })
}

/// Runs `cmd`, fails with its output unless it succeeds, and returns stdout + stderr.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed: {text}");
    text
}

/// Takes out of `cmd`'s environment what cargo sets for running this test (CARGO_MANIFEST_DIR,
/// CARGO_PKG_NAME, …, and OUT_DIR since the package has a build script): the cargo a package
/// build runs would otherwise see them, and build scripts that watch them (ring's watches
/// OUT_DIR) would run again and rebuild everything above them.
pub fn without_test_env(cmd: &mut Command) -> &mut Command {
    const SET_BY_CARGO: [&str; 10] = [
        "OUT_DIR",
        "CARGO",
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_MANIFEST_LINKS",
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
        "CARGO_RUSTC_CURRENT_DIR",
    ];
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if SET_BY_CARGO.contains(&key.as_ref())
            || ["CARGO_PKG_", "CARGO_BIN_EXE_", "CARGO_CFG_"]
                .iter()
                .any(|p| key.starts_with(p))
        {
            cmd.env_remove(key.as_ref());
        }
    }
    cmd
}

/// Writes `dir/<top>.tar.gz` holding the repository's files (tracked and new, not ignored)
/// under `<top>/`, as a release tarball would. Modification times are kept: cargo finds the
/// extracted copy as fresh as the tree `cargo test` built (it hashes a package's path
/// relative to its workspace and compares mtimes), which is what makes its build a no-op.
pub fn source_tarball(dir: &Path, top: &str) -> PathBuf {
    // safe.directory: CI runs as root, the checkout may belong to another user; this only reads.
    let listed = Command::new("git")
        .args([
            "-c",
            "safe.directory=*",
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(repo())
        .output()
        .expect("git ls-files (the source tarball is made from the repository's files)");
    assert!(listed.status.success(), "git ls-files: {listed:?}");
    // Files deleted in the worktree but not yet in the index are not part of the source.
    let files: Vec<u8> = listed
        .stdout
        .split(|b| *b == 0)
        .filter(|f| !f.is_empty())
        .filter(|f| repo().join(std::str::from_utf8(f).unwrap()).exists())
        .flat_map(|f| f.iter().copied().chain([0]))
        .collect();
    let tarball = dir.join(format!("{top}.tar.gz"));
    let mut tar = Command::new("tar")
        .arg("--create")
        .arg("--gzip")
        .arg("--file")
        .arg(&tarball)
        .arg(format!("--transform=s,^,{top}/,"))
        .args(["--null", "--files-from=-"])
        .current_dir(repo())
        .stdin(Stdio::piped())
        .spawn()
        .expect("tar");
    use std::io::Write;
    tar.stdin.take().unwrap().write_all(&files).unwrap();
    assert!(tar.wait().unwrap().success(), "tar of the sources failed");
    tarball
}

/// Fails if cargo compiled anything during a package build: the build must reuse what
/// `cargo test` built, or CI would pay for a second build of everything.
pub fn assert_cargo_did_nothing(build_log: &str, what: &str) {
    let compiled: Vec<&str> = build_log
        .lines()
        .filter(|l| l.trim_start().starts_with("Compiling "))
        .collect();
    assert!(
        compiled.is_empty(),
        "{what}: cargo rebuilt {compiled:?} instead of reusing the debug build of `cargo test` \
         in {}: a feature, environment variable or profile differs between the two builds",
        target_dir().display()
    );
}

/// Runs each packaged program in `bindir` with `--version`.
pub fn assert_programs_run(bindir: &Path) {
    for program in PROGRAMS {
        let out = run(Command::new(bindir.join(program)).arg("--version"));
        assert!(
            out.contains(env!("CARGO_PKG_VERSION")),
            "{program} --version: {out}"
        );
    }
}
