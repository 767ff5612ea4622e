//! The RPM package for real: `rpmbuild -bb packaging/rpm/claude-daemons.spec` from a source
//! tarball of the repository, with the spec's `cargo_profile`/`cargo_target_dir` macros
//! pointing cargo at the debug build `cargo test` made (cargo does nothing). Then the
//! package's file list (`rpm -qlp`) against the Debian package's, its scriptlets, and an
//! install into a scratch root (`rpm -i --root`) whose programs run.

#[path = "support/package_build.rs"]
mod package_build;
#[path = "support/package_files.rs"]
mod package_files;

use package_build::*;
use package_files::*;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Fedora's systemd-rpm-macros, which Debian's rpm lacks, as `--define`s. They expand to the
/// same scriptlets as the definitions in systemd's src/rpm/macros.systemd.in (from which
/// Fedora's package is built; `{{SYSTEMD_UPDATE_HELPER_PATH}}` is
/// /usr/lib/systemd/systemd-update-helper there): `%_userunitdir` is /usr/lib/systemd/user,
/// `%_userpresetdir` /usr/lib/systemd/user-preset; `%systemd_user_post` calls the helper's
/// install-user-units on the first install ($1 = 1) and `%systemd_user_preun` its
/// remove-user-units on the last removal ($1 = 0). `%_docdir_fmt` is rpm's own default on
/// Fedora (docs in /usr/share/doc/NAME, not NAME-VERSION as Debian's rpm has it).
const HELPER: &str = "/usr/lib/systemd/systemd-update-helper";

fn fedora_macros() -> Vec<String> {
    let scriptlet = |cond: &str, verb: &str| {
        format!("if [ $1 {cond} ] && [ -x \"{HELPER}\" ]; then {HELPER} {verb} %{{?*}} || : ; fi")
    };
    vec![
        "_userunitdir /usr/lib/systemd/user".into(),
        "_userpresetdir /usr/lib/systemd/user-preset".into(),
        format!(
            "systemd_user_post() {}",
            scriptlet("-eq 1", "install-user-units")
        ),
        format!(
            "systemd_user_preun() {}",
            scriptlet("-eq 0", "remove-user-units")
        ),
        "_docdir_fmt %%{NAME}".into(),
    ]
}

fn rpm_query(rpm: &Path, format: &str) -> String {
    run(Command::new("rpm")
        .arg("-qp")
        .arg("--qf")
        .arg(format)
        .arg(rpm))
}

#[test]
fn rpm_builds_with_rpmbuild_and_installs_into_a_root() {
    require("rpmbuild", "rpm");
    require("rpm", "rpm");
    require("systemctl", "systemd");
    let tmp = tempfile::Builder::new()
        .prefix("cd-rpm.")
        .tempdir_in("/var/tmp")
        .unwrap();
    let top = tmp.path().join("rpmbuild");
    std::fs::create_dir_all(top.join("SOURCES")).unwrap();
    let started = Instant::now();
    source_tarball(
        &top.join("SOURCES"),
        &format!("{PACKAGE}-{}", env!("CARGO_PKG_VERSION")),
    );
    println!("source tarball: {:?}", started.elapsed());

    let started = Instant::now();
    let mut rpmbuild = Command::new("rpmbuild");
    without_test_env(&mut rpmbuild);
    // --nodeps: the BuildRequires are Fedora's package names, which Debian's empty rpm
    // database cannot satisfy. --nocheck: %check runs unit tests `cargo test` runs anyway.
    rpmbuild.args(["-bb", "--nodeps", "--nocheck"]);
    let target = target_dir();
    let defines = [
        format!("_topdir {}", top.display()),
        "cargo_profile dev".to_string(),
        format!("cargo_target_dir {}", target.display()),
        // Fast compression: the payload format is not what is being tested.
        "_binary_payload w1.gzdio".to_string(),
    ];
    for define in defines.into_iter().chain(fedora_macros()) {
        rpmbuild.arg("--define").arg(define);
    }
    let log = run(rpmbuild.arg(root().join("packaging/rpm/claude-daemons.spec")));
    println!("rpmbuild -bb: {:?}", started.elapsed());
    assert_cargo_did_nothing(&log, "rpmbuild");
    assert!(!log.contains("warning:"), "rpmbuild warned:\n{log}");
    let rpms: Vec<_> = std::fs::read_dir(top.join("RPMS/x86_64"))
        .expect("RPMS/x86_64")
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(rpms.len(), 1, "{rpms:?}");
    let rpm = &rpms[0];

    // The file list: the Debian package's, in Fedora's places, plus the preset.
    let listed = rpm_query(rpm, "[%{FILENAMES}\t%{FILEMODES:perms}\n]");
    let mut files = BTreeSet::new();
    for line in listed.lines() {
        let (path, perms) = line.split_once('\t').unwrap();
        // Directories, and rpm's own links from build ids to the binaries.
        if perms.starts_with('d') || path.starts_with("/usr/lib/.build-id/") {
            continue;
        }
        if path.starts_with("/usr/bin/") {
            assert_eq!(perms, "-rwxr-xr-x", "{path}");
        } else {
            assert_eq!(perms, "-rw-r--r--", "{path}");
        }
        files.insert(path.to_string());
    }
    let mut expected = deb_set();
    expected.insert("preset/80-claude-daemons.preset".into());
    let canonical_files: BTreeSet<String> = files.iter().map(|p| canonical(p)).collect();
    assert_eq!(
        canonical_files, expected,
        "rpm -qlp differs from the Debian package's files:\n{listed}"
    );

    // The scriptlets: apply the presets to the sockets on the first install, disable them
    // for every user on the last removal.
    let sockets = SOCKETS.join(" ");
    let post = rpm_query(rpm, "%{POSTIN}");
    assert!(
        post.contains("$1 -eq 1") && post.contains(&format!("install-user-units {sockets}")),
        "%post: {post}"
    );
    let preun = rpm_query(rpm, "%{PREUN}");
    assert!(
        preun.contains("$1 -eq 0") && preun.contains(&format!("remove-user-units {sockets}")),
        "%preun: {preun}"
    );

    // Installed into a scratch root. The scriptlets cannot run there (rpm runs them chrooted,
    // and the root has no shell), so what the helper does is done below with --root.
    let root_dir = tmp.path().join("root");
    std::fs::create_dir(&root_dir).unwrap();
    run(Command::new("rpm")
        .args(["-i", "--nodeps", "--noscripts", "--root"])
        .arg(&root_dir)
        .arg(rpm));
    for path in &files {
        let installed = root_dir.join(path.trim_start_matches('/'));
        assert!(installed.is_file(), "{path} not installed");
    }
    assert_programs_run(&root_dir.join("usr/bin"));

    // systemd-update-helper install-user-units is `systemctl --no-reload preset --global
    // UNITS` (systemd's src/rpm/systemd-update-helper.in). Fedora ends its presets with
    // "disable *" (99-default-disable.preset): the package's own preset must win over it.
    let presets = root_dir.join("usr/lib/systemd/user-preset");
    std::fs::write(presets.join("99-default-disable.preset"), "disable *\n").unwrap();
    let wants = root_dir.join("etc/systemd/user/sockets.target.wants");
    let systemctl = |args: &[&str]| {
        run(Command::new("systemctl")
            .arg("--root")
            .arg(&root_dir)
            .args(["--no-reload", "--global"])
            .args(args)
            .args(SOCKETS))
    };
    systemctl(&["preset"]);
    for socket in SOCKETS {
        let target = std::fs::read_link(wants.join(socket))
            .unwrap_or_else(|e| panic!("{socket} not enabled by the preset: {e}"));
        assert_eq!(target, Path::new("/usr/lib/systemd/user").join(socket));
    }
    // remove-user-units: `systemctl --global disable UNITS` (then per running user manager).
    systemctl(&["disable"]);
    for socket in SOCKETS {
        assert!(
            wants.join(socket).symlink_metadata().is_err(),
            "{socket} still enabled"
        );
    }
    std::fs::remove_file(presets.join("99-default-disable.preset")).unwrap();

    run(Command::new("rpm")
        .args(["-e", "--nodeps", "--noscripts", "--root"])
        .arg(&root_dir)
        .arg(PACKAGE));
    for path in &files {
        assert!(
            !root_dir.join(path.trim_start_matches('/')).exists(),
            "{path} left behind by rpm -e"
        );
    }
}
