//! The RPM package for real: `rpmbuild -bb packaging/rpm/claude-daemons.spec` from a source
//! tarball of the repository, with the spec's `cargo_profile`/`cargo_target_dir` macros
//! pointing cargo at the debug build `cargo test` made (cargo does nothing). Then the
//! package's file list (`rpm -qlp`) against the Debian package's, and an install into a
//! scratch root (`rpm -i --root`, scriptlets run) whose programs run and whose sockets the
//! %post scriptlet enabled for every user, then `rpm -e`.

#[path = "support/package_build.rs"]
mod package_build;
#[path = "support/package_files.rs"]
mod package_files;
#[path = "support/repo.rs"]
mod repo;

use package_build::*;
use package_files::*;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Where Fedora's systemd package installs the helper its rpm macros call.
const HELPER: &str = "/usr/lib/systemd/systemd-update-helper";

/// Fedora's systemd-rpm-macros, which Debian's rpm lacks, as `--define`s. They expand to the
/// same scriptlets as the definitions in systemd's src/rpm/macros.systemd.in, from which
/// Fedora's package is built (with `{{SYSTEMD_UPDATE_HELPER_PATH}}` = [`HELPER`]):
/// `%_userunitdir` is /usr/lib/systemd/user, `%_userpresetdir` /usr/lib/systemd/user-preset;
/// `%systemd_user_post` calls the helper's install-user-units on the first install ($1 = 1),
/// `%systemd_user_preun` its remove-user-units on the last removal ($1 = 0). `%_docdir_fmt`
/// is Fedora's rpm default (docs in /usr/share/doc/NAME; Debian's rpm has NAME-VERSION).
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

/// Builds the spec in `top` (its SOURCES hold the tarball) and returns the package; with
/// `dist`, a later release of the same version (`Release: 1%{?dist}`).
fn rpmbuild(top: &Path, dist: Option<&str>) -> PathBuf {
    let started = Instant::now();
    let mut rpmbuild = Command::new("rpmbuild");
    without_test_env(&mut rpmbuild);
    // --nodeps: the BuildRequires are Fedora's package names, which Debian's empty rpm
    // database cannot satisfy. --nocheck: %check runs unit tests `cargo test` runs anyway.
    rpmbuild.args(["-bb", "--nodeps", "--nocheck"]);
    let defines = [
        format!("_topdir {}", top.display()),
        "cargo_profile dev".to_string(),
        format!("cargo_target_dir {}", target_dir().display()),
        // Fast compression: the payload format is not what is being tested.
        "_binary_payload w1.gzdio".to_string(),
    ];
    let dist = dist.map(|d| format!("dist {d}"));
    for define in defines.into_iter().chain(fedora_macros()).chain(dist) {
        rpmbuild.arg("--define").arg(define);
    }
    let log = run(rpmbuild.arg(root().join("packaging/rpm/claude-daemons.spec")));
    println!("rpmbuild -bb: {:?}", started.elapsed());
    assert_cargo_did_nothing(&log, "rpmbuild");
    assert!(!log.contains("warning:"), "rpmbuild warned:\n{log}");
    let written: Vec<&str> = log
        .lines()
        .filter_map(|l| l.strip_prefix("Wrote: "))
        .collect();
    assert_eq!(written.len(), 1, "one package: {written:?}");
    PathBuf::from(written[0])
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
    require("unshare", "util-linux");
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

    let rpm = &rpmbuild(&top, None);

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

    // Installed into a scratch root, scriptlets and all: rpm runs them chrooted there.
    let root_dir = tmp.path().join("root");
    scaffold_root(&root_dir);
    let wants = root_dir.join("etc/systemd/user/sockets.target.wants");
    rpm_in_root(&root_dir, &["-i", "--nodeps"], rpm);
    for path in &files {
        let installed = root_dir.join(path.trim_start_matches('/'));
        assert!(installed.is_file(), "{path} not installed");
    }
    assert_programs_run(&root_dir.join("usr/bin"));
    // %post ($1 = 1) applied the presets: the package's "enable" won over "disable *".
    for socket in SOCKETS {
        let target = std::fs::read_link(wants.join(socket))
            .unwrap_or_else(|e| panic!("{socket} not enabled by %post: {e}"));
        assert_eq!(target, Path::new("/usr/lib/systemd/user").join(socket));
    }

    // An upgrade applies no preset: what an administrator disabled stays disabled.
    run(Command::new("systemctl")
        .arg("--root")
        .arg(&root_dir)
        .args(["--global", "disable", "claude-meshd.socket"]));
    let upgrade = rpmbuild(&top, Some(".upgrade"));
    rpm_in_root(&root_dir, &["-U", "--nodeps"], &upgrade);
    let release = run(Command::new("rpm").arg("--root").arg(&root_dir).args([
        "-q",
        "--qf",
        "%{RELEASE}",
        PACKAGE,
    ]));
    assert!(release.starts_with("1.upgrade"), "{release}");
    assert!(
        wants
            .join("claude-meshd.socket")
            .symlink_metadata()
            .is_err(),
        "the upgrade enabled claude-meshd.socket again"
    );
    for socket in ["claude-memd.socket", "claude-supervisord.socket"] {
        assert!(
            wants.join(socket).symlink_metadata().is_ok(),
            "the upgrade disabled {socket}"
        );
    }

    // %preun ($1 = 0) disables them for every user; rpm -e takes every file back out.
    rpm_in_root(&root_dir, &["-e", "--nodeps"], Path::new(PACKAGE));
    for socket in SOCKETS {
        assert!(
            wants.join(socket).symlink_metadata().is_err(),
            "{socket} still enabled after rpm -e"
        );
    }
    for path in &files {
        assert!(
            !root_dir.join(path.trim_start_matches('/')).exists(),
            "{path} left behind by rpm -e"
        );
    }
}

/// What a Fedora root has that the scriptlets use, in an empty directory: `/bin/sh` and
/// `systemctl` (with their libraries, bind-mounted from this machine by [`rpm_in_root`]),
/// Fedora's catch-all preset and a systemd-update-helper.
///
/// Debian's systemd has no systemd-update-helper, so the root gets one whose two verbs do
/// what Fedora's do (systemd's src/rpm/systemd-update-helper.in): install-user-units is
/// `systemctl --no-reload preset --global UNITS`; remove-user-units is `systemctl --global
/// disable UNITS` and then, only where systemd runs as PID 1, the same per running user
/// manager — never the case in a chroot.
fn scaffold_root(root: &Path) {
    for dir in [
        "usr/bin",
        "usr/lib64",
        "usr/lib/x86_64-linux-gnu",
        "usr/lib/systemd/user-preset",
        "dev",
        "tmp",
        "var/tmp",
    ] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    for (link, target) in [
        ("bin", "usr/bin"),
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
    ] {
        std::os::unix::fs::symlink(target, root.join(link)).unwrap();
    }
    // Mount points for the bind mounts.
    for file in ["usr/bin/sh", "usr/bin/systemctl", "dev/null"] {
        std::fs::write(root.join(file), "").unwrap();
    }
    // Fedora ends its presets with this (99-default-disable.preset, from fedora-release).
    std::fs::write(
        root.join("usr/lib/systemd/user-preset/99-default-disable.preset"),
        "disable *\n",
    )
    .unwrap();
    let helper = root.join(HELPER.trim_start_matches('/'));
    std::fs::write(
        &helper,
        "#!/bin/sh\nset -eu\nverb=$1\nshift\ncase $verb in\n\
         install-user-units) systemctl --no-reload preset --global \"$@\" ;;\n\
         remove-user-units) systemctl --global disable \"$@\" ;;\n\
         *) echo \"unknown verb $verb\" >&2; exit 3 ;;\n\
         esac\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// `rpm --root ROOT ARGS… PACKAGE` in a private mount namespace in which this machine's shell,
/// systemctl and libraries are bind-mounted into the root (read-only, gone when rpm exits).
fn rpm_in_root(root: &Path, args: &[&str], package: &Path) -> String {
    const SCRIPT: &str = r#"set -e
root=$1
shift
bind() { mount --bind "$1" "$root$2" && mount -o remount,bind,ro "$root$2"; }
bind "$(readlink -f /bin/sh)" /usr/bin/sh
bind /usr/bin/systemctl /usr/bin/systemctl
bind /usr/lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu
bind /usr/lib64 /usr/lib64
mount --bind /dev/null "$root/dev/null"
exec rpm --root "$root" "$@"
"#;
    run(Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            SCRIPT,
            "sh",
        ])
        .arg(root)
        .args(args)
        .arg(package))
}
