//! The Debian package for real: built from the binaries the tests already built, installed
//! with `dpkg -i`, run under a real `systemd --user` from the packaged units, and removed with
//! `dpkg -r`. (tests/packaging_rpm.rs and packaging_arch.rs build the other distributions'
//! packages and compare their file lists with this one's; tests/package_recipes.rs checks the
//! recipes statically.)

#[path = "support/http.rs"]
mod http;
#[path = "support/package_files.rs"]
mod package_files;
#[path = "support/repo.rs"]
mod repo;
#[path = "support/user_manager.rs"]
mod user_manager;

use package_files::*;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// cargo-deb: `$CARGO_DEB`, then PATH, then the root scripts/test installs it into.
fn cargo_deb() -> PathBuf {
    if let Some(p) = std::env::var_os("CARGO_DEB") {
        return p.into();
    }
    let on_path: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("cargo-deb"))
                .collect()
        })
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/var/tmp/cargo-deb-root/bin/cargo-deb")])
        .find(|p| p.is_file())
        .expect(
            "cargo-deb is missing (not on PATH nor in /var/tmp/cargo-deb-root): run scripts/test, which installs what the tests need",
        )
}

/// Where the outer run leaves the .deb for the inner run (its child, in a new mount
/// namespace): named after the outer process.
fn deb_dir(outer_pid: u32) -> PathBuf {
    std::env::temp_dir().join(format!("claude-daemons-deb.{outer_pid}"))
}

/// Builds the .deb from the debug binaries `cargo test` just built (no second build).
fn build_deb(out: &Path) -> PathBuf {
    // target/debug/claude-memd → target
    let bin = Path::new(env!("CARGO_BIN_EXE_claude-memd"));
    let target_dir = bin.parent().unwrap().parent().unwrap();
    let _ = std::fs::remove_dir_all(out);
    std::fs::create_dir_all(out).unwrap();
    let started = std::time::Instant::now();
    let result = Command::new(cargo_deb())
        .args([
            "--no-build",
            "--profile",
            "dev",
            "--strip",
            "--fast",
            "--no-dbgsym",
        ])
        .arg("--manifest-path")
        .arg(root().join("Cargo.toml"))
        .arg("--output")
        .arg(out)
        .env("CARGO_TARGET_DIR", target_dir)
        .output()
        .expect("run cargo-deb");
    assert!(
        result.status.success(),
        "cargo-deb: {}{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
    println!("cargo-deb took {:?}", started.elapsed());
    let debs: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .collect();
    assert_eq!(debs.len(), 1, "{debs:?}");
    debs[0].clone()
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn installed() -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", PACKAGE])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

/// Removes the package when dropped, so a failing test leaves no package behind.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        if installed() {
            let out = Command::new("dpkg").args(["-r", PACKAGE]).output();
            eprintln!("cleanup: dpkg -r {PACKAGE}: {out:?}");
        }
    }
}

/// The whole life of the package on this machine. Runs inside the user-manager harness and
/// holds its lock from before `dpkg -i` until after `dpkg -r`, so no other user-manager test
/// sees the packaged units (or their enablement) meanwhile. The packaged claude-memd.socket
/// listens on 127.0.0.1:37777 for real: the other tests never bind it (they set
/// `CLAUDE_DAEMONS_MEMORY_VIEWER_PORT=0` or rewrite the port of the units they install),
/// cargo runs test binaries one at a time, and the other tests of this file only read files.
#[test]
fn deb_installs_runs_under_systemd_and_removes_cleanly() {
    if !user_manager::inside() {
        let dir = deb_dir(std::process::id());
        build_deb(&dir);
        let result = std::panic::catch_unwind(|| {
            user_manager::run_inside_namespace(
                "deb_installs_runs_under_systemd_and_removes_cleanly",
            )
        });
        let _ = std::fs::remove_dir_all(&dir);
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
        return;
    }
    let um = user_manager::UserManager::start();
    // SAFETY: getppid(2) cannot fail.
    let outer = unsafe { libc::getppid() } as u32;
    let deb = std::fs::read_dir(deb_dir(outer))
        .expect("the outer run's .deb")
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .expect("a .deb");

    if installed() {
        let maintainer = run(Command::new("dpkg-query").args(["-W", "-f=${Maintainer}", PACKAGE]));
        assert!(
            maintainer.contains("dev@claude-daemons.invalid"),
            "{PACKAGE} is installed from elsewhere ({maintainer}); this test installs and \
             removes it, so remove it first"
        );
        run(Command::new("dpkg").args(["-r", PACKAGE]));
    }
    let guard = Installed;
    run(Command::new("dpkg").arg("-i").arg(&deb));
    assert!(installed());

    // The file list: exactly the metadata's assets, plus the copyright cargo-deb writes.
    let listed = run(Command::new("dpkg").args(["-L", PACKAGE]));
    let files: Vec<&str> = listed.lines().filter(|l| Path::new(l).is_file()).collect();
    let expected = deb_paths();
    for path in &expected {
        let gz = format!("{path}.gz");
        assert!(
            files.contains(&path.as_str()) || files.contains(&gz.as_str()),
            "{path} not installed; dpkg -L:\n{listed}"
        );
    }
    let extra: Vec<&&str> = files
        .iter()
        .filter(|f| {
            !expected
                .iter()
                .any(|p| f.strip_suffix(".gz").unwrap_or(f) == p)
        })
        .filter(|f| **f != "/usr/share/doc/claude-daemons/copyright")
        .collect();
    assert!(
        extra.is_empty(),
        "unexpected files in the package: {extra:?}"
    );
    let version = run(Command::new("/usr/bin/claudectl").arg("--version"));
    assert!(version.contains(env!("CARGO_PKG_VERSION")), "{version}");
    let version = run(Command::new("/usr/bin/claude-hook").arg("--version"));
    assert!(version.contains(env!("CARGO_PKG_VERSION")), "{version}");

    // postinst enabled the sockets for every user, without a running system manager.
    for socket in SOCKETS {
        let link = Path::new("/etc/systemd/user/sockets.target.wants").join(socket);
        let target = std::fs::read_link(&link).unwrap_or_else(|e| panic!("{link:?}: {e}"));
        assert_eq!(target, Path::new("/usr/lib/systemd/user").join(socket));
    }

    // The user manager picks the packaged units up from /usr/lib/systemd/user, enabled.
    um.daemon_reload();
    if let Err(e) = std::net::TcpListener::bind("127.0.0.1:37777") {
        panic!("127.0.0.1:37777, where the packaged claude-memd.socket listens, is taken: {e}");
    }
    for short in ["memd", "supervisord", "meshd"] {
        let socket = format!("claude-{short}.socket");
        let service = format!("claude-{short}.service");
        assert_eq!(um.systemctl_ok(&["is-enabled", &socket]).trim(), "enabled");
        assert_eq!(
            um.show(&socket, "FragmentPath"),
            format!("/usr/lib/systemd/user/{socket}")
        );
        assert_eq!(
            um.show(&service, "FragmentPath"),
            format!("/usr/lib/systemd/user/{service}")
        );
        // The first request activates the packaged binary.
        um.systemctl_ok(&["start", &socket]);
        assert_eq!(um.show(&service, "ActiveState"), "inactive", "{service}");
        let sock = um.runtime_dir().join(format!("claude/{short}.sock"));
        let (status, health) = http::get_json(&sock, "/v1/health");
        assert_eq!(status, 200, "{health}");
        assert_eq!(health["activation"], "systemd", "{health}");
        let pid = health["pid"].as_u64().expect("pid");
        assert_eq!(
            std::fs::read_link(format!("/proc/{pid}/exe")).unwrap(),
            Path::new("/usr/bin").join(format!("claude-{short}")),
            "the packaged binary serves"
        );
        assert_eq!(um.show(&service, "ActiveState"), "active", "{service}");
    }
    // The viewer's loopback listener comes from the same packaged socket unit.
    let (status, body) = http::tcp_request(37777, "GET", "/v1/health", &["host: 127.0.0.1:37777"]);
    assert_eq!(status, 200, "{body}");
    for short in ["memd", "supervisord", "meshd"] {
        let (socket, service) = (
            format!("claude-{short}.socket"),
            format!("claude-{short}.service"),
        );
        um.systemctl_ok(&["stop", &socket, &service]);
        um.wait_for(&service, "ActiveState", "inactive", Duration::from_secs(30));
    }

    // dpkg -r takes everything back out, enablement included.
    run(Command::new("dpkg").args(["-r", PACKAGE]));
    assert!(!installed());
    for path in &expected {
        assert!(
            !Path::new(path).exists() && !Path::new(&format!("{path}.gz")).exists(),
            "{path} left behind"
        );
    }
    for socket in SOCKETS {
        let link = Path::new("/etc/systemd/user/sockets.target.wants").join(socket);
        assert!(link.symlink_metadata().is_err(), "{link:?} left behind");
    }
    // -r leaves dpkg's record of the package (config-files state: it has maintainer
    // scripts); purge it so the machine is as before.
    run(Command::new("dpkg").args(["--purge", PACKAGE]));
    drop(guard);
    drop(um);
}
