//! The distribution packages. The Debian package's file list (`[package.metadata.deb]` in
//! Cargo.toml) is the reference: it must hold every program, unit, man page and completion,
//! and the RPM spec, the Arch PKGBUILD and the Homebrew formula must install the same set
//! (each parsed from its `install` lines). Then the .deb is built from the binaries the tests
//! already built, installed with `dpkg -i`, run under a real `systemd --user` from the
//! packaged units, and removed with `dpkg -r`.

#[path = "support/http.rs"]
mod http;
#[path = "support/user_manager.rs"]
mod user_manager;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const PACKAGE: &str = "claude-daemons";
const SOCKETS: [&str; 3] = [
    "claude-memd.socket",
    "claude-supervisord.socket",
    "claude-meshd.socket",
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// `*` matches any run of characters (no `/`), everything else itself.
fn wildcard(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            let Some(rest) = name.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len()).any(|i| rest.is_char_boundary(i) && wildcard(tail, &rest[i..]))
        }
    }
}

/// The file names a source path of a package stands for: build outputs (`target/release/…`)
/// as they are, anything else expanded against the repository (a pattern matching nothing
/// is an error: the package would fail to build).
fn sources(src: &str) -> Vec<String> {
    let (dir, pattern) = src.rsplit_once('/').unwrap_or((".", src));
    if dir == "target/release" {
        return vec![pattern.to_string()];
    }
    let mut names: Vec<String> = std::fs::read_dir(root().join(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| wildcard(pattern, n))
        .collect();
    assert!(!names.is_empty(), "{src} matches no file");
    names.sort();
    names
}

/// An installed path as `kind/name`, so that distributions' different directories for the
/// same thing (zsh's vendor-completions and site-functions) compare equal.
fn canonical(path: &str) -> String {
    let (dir, name) = path.rsplit_once('/').unwrap();
    let kind = match dir {
        "/usr/bin" => "bin",
        "/usr/lib/systemd/user" => "unit",
        "/usr/share/man/man1" => "man1",
        "/usr/share/man/man5" => "man5",
        "/usr/share/man/man7" => "man7",
        "/usr/share/bash-completion/completions" => "bash",
        "/usr/share/zsh/vendor-completions" | "/usr/share/zsh/site-functions" => "zsh",
        "/usr/share/fish/vendor_completions.d" => "fish",
        "/usr/share/doc/claude-daemons" => "doc",
        _ => panic!("{path}: a destination this test does not know"),
    };
    // Packagers compress man pages.
    format!("{kind}/{}", name.strip_suffix(".gz").unwrap_or(name))
}

/// `[package.metadata.deb] assets` as absolute installed paths.
fn deb_paths() -> Vec<String> {
    let manifest: toml::Value = toml::from_str(&read("Cargo.toml")).unwrap();
    let assets = manifest["package"]["metadata"]["deb"]["assets"]
        .as_array()
        .expect("[package.metadata.deb] assets");
    let mut paths = Vec::new();
    for asset in assets {
        let [src, dest, _mode] = asset.as_array().unwrap().as_slice() else {
            panic!("asset {asset} is not [source, destination, mode]");
        };
        let (src, dest) = (src.as_str().unwrap(), dest.as_str().unwrap());
        if let Some(dir) = dest.strip_suffix('/') {
            paths.extend(sources(src).iter().map(|n| format!("/{dir}/{n}")));
        } else {
            assert_eq!(sources(src).len(), 1, "{src} → {dest}: one file expected");
            paths.push(format!("/{dest}"));
        }
    }
    paths
}

fn deb_set() -> BTreeSet<String> {
    deb_paths().iter().map(|p| canonical(p)).collect()
}

/// Destinations of the shell `install` lines of a spec or PKGBUILD (`install -Dm MODE -t DIR
/// SOURCES…` or `install -Dm MODE SOURCE DEST`), with `vars` substituted.
fn install_lines(text: &str, vars: &[(&str, &str)]) -> BTreeSet<String> {
    let mut set = BTreeSet::new();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("install "))
    {
        let mut line = line.replace('"', "");
        for (var, value) in vars {
            line = line.replace(var, value);
        }
        assert!(
            !line.contains('$') && !line.contains("%{"),
            "unknown variable in {line:?}"
        );
        let mut words = line.split_whitespace().skip(1).peekable();
        let mut target_dir = None;
        let mut args = Vec::new();
        while let Some(w) = words.next() {
            match w {
                "-t" => target_dir = words.next(),
                w if w.starts_with('-') => {}
                w => args.push(w),
            }
        }
        match target_dir {
            Some(dir) => {
                for src in args {
                    set.extend(
                        sources(src)
                            .iter()
                            .map(|n| canonical(&format!("{dir}/{n}"))),
                    );
                }
            }
            None => {
                let [src, dest] = args.as_slice() else {
                    panic!("{line:?}: expected SOURCE DEST");
                };
                assert_eq!(sources(src).len(), 1, "{line:?}");
                set.insert(canonical(dest));
            }
        }
    }
    set
}

/// Every program, unit, page and completion of the repository.
fn everything() -> BTreeSet<String> {
    let manifest: toml::Value = toml::from_str(&read("Cargo.toml")).unwrap();
    let mut set: BTreeSet<String> = manifest["bin"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| format!("bin/{}", b["name"].as_str().unwrap()))
        .collect();
    set.extend(
        sources("units/systemd/*")
            .iter()
            .map(|n| format!("unit/{n}")),
    );
    for page in sources("man/*") {
        let section = page.rsplit('.').next().unwrap();
        set.insert(format!("man{section}/{page}"));
    }
    set.extend(["bash/claudectl", "zsh/_claudectl", "fish/claudectl.fish"].map(String::from));
    set.insert("doc/README.md".into());
    set
}

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

// ---------------------------------------------------------------------------------------
// Build, install, run, remove.

/// cargo-deb: `$CARGO_DEB`, then PATH, then the root .ci/run installs it into.
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
            "cargo-deb is required to build the Debian package: \
             cargo install cargo-deb --locked --root /var/tmp/cargo-deb-root (see .ci/run)",
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
