//! Static checks of the packaged units: `units/systemd/*` must pass `systemd-analyze verify`
//! and say what DESIGN.md promises; `units/launchd/*.plist` must parse and carry the keys
//! launchd needs for socket activation. The tools are required: a missing one is a failure.

#[path = "support/repo.rs"]
mod repo;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// (program, socket/fd name, built binary).
const DAEMONS: [(&str, &str, &str); 3] = [
    ("claude-memd", "memd", env!("CARGO_BIN_EXE_claude-memd")),
    (
        "claude-supervisord",
        "supervisord",
        env!("CARGO_BIN_EXE_claude-supervisord"),
    ),
    ("claude-meshd", "meshd", env!("CARGO_BIN_EXE_claude-meshd")),
];

/// Options that install a seccomp filter (an unprivileged user manager then implies
/// `NoNewPrivileges=`) or are themselves unfit for a service whose children are Claude Code.
const NOT_ON_SUPERVISOR: [&str; 9] = [
    "NoNewPrivileges",
    "MemoryDenyWriteExecute",
    "SystemCallFilter",
    "SystemCallArchitectures",
    "LockPersonality",
    "RestrictRealtime",
    "RestrictSUIDSGID",
    "RestrictNamespaces",
    "RestrictAddressFamilies",
];

/// Hardening for the daemons that never run Claude Code (memd, meshd).
const HARDENING: [(&str, &str); 7] = [
    ("NoNewPrivileges", "yes"),
    ("MemoryDenyWriteExecute", "yes"),
    ("LockPersonality", "yes"),
    ("RestrictRealtime", "yes"),
    ("RestrictSUIDSGID", "yes"),
    ("RestrictNamespaces", "yes"),
    ("SystemCallArchitectures", "native"),
];

fn units_dir(kind: &str) -> PathBuf {
    repo::root().join("units").join(kind)
}

/// A unit file as (section, key, value) triples, in order.
struct Unit(Vec<(String, String, String)>);

impl Unit {
    fn load(name: &str) -> Unit {
        let path = units_dir("systemd").join(name);
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        let mut section = String::new();
        let mut entries = vec![];
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.to_string();
                continue;
            }
            let (key, value) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("{name}: {line}"));
            entries.push((
                section.clone(),
                key.trim().to_string(),
                value.trim().to_string(),
            ));
        }
        Unit(entries)
    }

    /// Every value of `key` in `section`.
    fn all(&self, section: &str, key: &str) -> Vec<&str> {
        let matches = self.0.iter().filter(|(s, k, _)| s == section && k == key);
        matches.map(|(_, _, v)| v.as_str()).collect()
    }

    /// The single value of `key` in `section`.
    fn one(&self, section: &str, key: &str) -> &str {
        match self.all(section, key)[..] {
            [value] => value,
            ref other => panic!("[{section}] {key}: expected one value, found {other:?}"),
        }
    }

    fn has_section(&self, section: &str) -> bool {
        self.0.iter().any(|(s, _, _)| s == section)
    }
}

fn run(cmd: &mut Command, what: &str) -> Output {
    cmd.output().unwrap_or_else(|e| {
        panic!("cannot run {what} ({e}): run scripts/test, which installs what the tests need")
    })
}

/// Runs `systemd-analyze --user verify` on copies of `files` (name, contents) and returns
/// its output. `%t` needs `XDG_RUNTIME_DIR`, which gets a private directory.
fn verify(files: &[(String, String)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let (units, runtime) = (dir.path().join("units"), dir.path().join("run"));
    fs::create_dir_all(&units).unwrap();
    fs::create_dir_all(&runtime).unwrap();
    for (name, text) in files {
        fs::write(units.join(name), text).unwrap();
    }
    let mut cmd = Command::new("systemd-analyze");
    cmd.args(["--user", "verify", "--man=no", "--recursive-errors=no"])
        .args(files.iter().map(|(name, _)| units.join(name)))
        .env("XDG_RUNTIME_DIR", &runtime)
        .current_dir(&units);
    run(&mut cmd, "systemd-analyze (systemd package)")
}

/// Asserts that `verify` accepted the units: exit 0 and nothing said about them.
fn assert_verified(out: &Output, names: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let about_units: Vec<&str> = stderr
        .lines()
        .filter(|l| names.iter().any(|n| l.contains(n)))
        .collect();
    assert!(
        out.status.success() && about_units.is_empty(),
        "systemd-analyze verify {names:?}: {}\n{stderr}",
        out.status
    );
}

#[test]
fn systemd_units_pass_systemd_analyze_verify() {
    for (program, _, binary) in DAEMONS {
        // The packaged path /usr/bin/<program> does not exist here: verify checks that
        // ExecStart= is executable, so point it at the binary cargo built.
        let mut files = vec![];
        for kind in ["socket", "service"] {
            let name = format!("{program}.{kind}");
            let text = fs::read_to_string(units_dir("systemd").join(&name)).unwrap();
            let packaged = format!("ExecStart=/usr/bin/{program}");
            assert!(
                text.contains(&packaged) || kind == "socket",
                "{name}: no {packaged}"
            );
            files.push((
                name,
                text.replace(&packaged, &format!("ExecStart={binary}")),
            ));
        }
        let out = verify(&files);
        assert_verified(
            &out,
            &[&format!("{program}.socket"), &format!("{program}.service")],
        );
    }
}

#[test]
fn verify_check_catches_broken_units() {
    // Proves that the check above can fail. systemd 252 exits 1 for each of these, after
    // "Unknown key 'BogusKey' in section [Service], ignoring.", "Command … is not
    // executable", and "service … not loaded, socket cannot be started."
    let cases = [
        (
            "claude-x.service",
            "[Service]\nExecStart=/bin/true\nBogusKey=1\n",
            "BogusKey",
        ),
        (
            "claude-x.service",
            "[Service]\nExecStart=/nonexistent/x\n",
            "not executable",
        ),
        (
            "claude-x.socket",
            "[Socket]\nListenStream=%t/x.sock\n",
            "not loaded",
        ),
    ];
    for (name, text, error) in cases {
        let out = verify(&[(name.to_string(), text.to_string())]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(error),
            "{name}: {stderr}"
        );
    }
}

#[test]
fn systemd_unit_files_are_exactly_the_six() {
    let found: BTreeSet<String> = fs::read_dir(units_dir("systemd"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let expected: BTreeSet<String> = DAEMONS
        .iter()
        .flat_map(|(p, _, _)| [format!("{p}.socket"), format!("{p}.service")])
        .collect();
    assert_eq!(found, expected);
}

#[test]
fn sockets_are_private_and_named() {
    for (program, short, _) in DAEMONS {
        let socket = Unit::load(&format!("{program}.socket"));
        let mut listen = vec![format!("%t/claude/{short}.sock")];
        if short == "memd" {
            listen.push("127.0.0.1:37777".to_string()); // the viewer, loopback only
        }
        assert_eq!(socket.all("Socket", "ListenStream"), listen, "{program}");
        assert_eq!(socket.one("Socket", "SocketMode"), "0600", "{program}");
        assert_eq!(socket.one("Socket", "DirectoryMode"), "0700", "{program}");
        assert_eq!(
            socket.one("Socket", "FileDescriptorName"),
            short,
            "{program}"
        );
        assert!(socket.all("Socket", "RemoveOnStop").is_empty(), "{program}");
        assert!(
            socket.all("Socket", "Accept").iter().all(|v| *v == "no"),
            "{program}"
        );
        assert_eq!(
            socket.one("Install", "WantedBy"),
            "sockets.target",
            "{program}"
        );
    }
}

#[test]
fn services_are_notify_watchdogged_and_restart_only_on_failure() {
    for (program, _, _) in DAEMONS {
        let service = Unit::load(&format!("{program}.service"));
        let socket = format!("{program}.socket");
        assert_eq!(service.one("Unit", "Requires"), socket);
        assert_eq!(service.one("Unit", "After"), socket);
        assert_eq!(
            service.one("Unit", "Documentation").split(' ').next(),
            Some(&*format!("man:{program}(1)"))
        );
        // Daemon defaults (idle timeouts) come from the binary; systemd never adds flags.
        assert_eq!(
            service.one("Service", "ExecStart"),
            format!("/usr/bin/{program}")
        );
        assert_eq!(service.one("Service", "Type"), "notify");
        assert_eq!(service.one("Service", "NotifyAccess"), "main");
        let watchdog: u64 = service.one("Service", "WatchdogSec").parse().unwrap();
        assert!(
            (10..=120).contains(&watchdog),
            "{program}: WatchdogSec={watchdog}"
        );
        // Restart=always would restart a daemon that exited 0 because it was idle.
        assert_eq!(service.one("Service", "Restart"), "on-failure");
        assert!(matches!(
            service.one("Service", "KillMode"),
            "mixed" | "control-group"
        ));
        assert!(!service.one("Service", "TimeoutStopSec").is_empty());
        assert_eq!(service.one("Service", "UMask"), "0077");
        // Only the socket is enabled.
        assert!(
            !service.has_section("Install"),
            "{program}.service has [Install]"
        );
        let prevent = service.one("Service", "RestartPreventExitStatus");
        assert!(
            prevent.split(' ').any(|s| s == "78"),
            "{program}: EX_CONFIG restarts"
        );
    }
}

#[test]
fn hardening_suits_each_daemon() {
    let meshd = Unit::load("claude-meshd.service");
    let prevent = meshd.one("Service", "RestartPreventExitStatus");
    assert!(
        prevent.split(' ').any(|s| s == "4"),
        "host fingerprint refusal (exit 4) restarts"
    );
    for program in ["claude-memd", "claude-meshd"] {
        let service = Unit::load(&format!("{program}.service"));
        for (key, value) in HARDENING {
            assert_eq!(service.one("Service", key), value, "{program}: {key}");
        }
    }
    // Claude Code children inherit all of it: Node's JIT needs W^X off, sudo needs setuid.
    let supervisord = Unit::load("claude-supervisord.service");
    for key in NOT_ON_SUPERVISOR {
        assert!(
            supervisord.all("Service", key).is_empty(),
            "claude-supervisord: {key}"
        );
    }
}

/// A plist as JSON, through Python's plistlib (the format launchd reads).
fn load_plist(path: &Path) -> serde_json::Value {
    let script =
        "import json,plistlib,sys; json.dump(plistlib.load(open(sys.argv[1],'rb')),sys.stdout)";
    let out = run(
        Command::new("python3").args(["-c", script]).arg(path),
        "python3",
    );
    assert!(
        out.status.success(),
        "{path:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn launchd_plists_activate_on_a_private_socket() {
    let files: BTreeSet<String> = fs::read_dir(units_dir("launchd"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let expected = DAEMONS.map(|(_, short, _)| format!("dev.claude-daemons.{short}.plist"));
    assert_eq!(files, expected.into_iter().collect());

    for (program, short, _) in DAEMONS {
        let path = units_dir("launchd").join(format!("dev.claude-daemons.{short}.plist"));
        let plist = load_plist(&path);
        assert_eq!(plist["Label"], format!("dev.claude-daemons.{short}"));
        let args = plist["ProgramArguments"]
            .as_array()
            .expect("ProgramArguments");
        assert!(
            args[0].as_str().unwrap().ends_with(&format!("/{program}")),
            "{args:?}"
        );
        assert_eq!(plist["RunAtLoad"], false, "{short}: on demand only");
        assert!(
            plist.get("KeepAlive").is_none(),
            "{short}: KeepAlive defeats idle exit"
        );
        assert!(
            plist["StandardErrorPath"].is_string(),
            "{short}: StandardErrorPath"
        );
        assert_eq!(
            plist["Umask"], 63,
            "{short}: Umask 0077, as the systemd units"
        );

        // The key is the name passed to launch_activate_socket; one entry or an array.
        let sockets = &plist["Sockets"][short];
        let entries = match sockets.as_array() {
            Some(list) => list.clone(),
            None => vec![sockets.clone()],
        };
        let unix = entries.iter().find(|e| e["SockPathName"].is_string());
        let unix = unix.unwrap_or_else(|| panic!("{short}: no Unix socket in {sockets}"));
        assert_eq!(unix["SockPathMode"], 384, "{short}: socket must be 0600");
        let path = unix["SockPathName"].as_str().unwrap();
        assert!(path.ends_with(&format!("/{short}.sock")), "{path}");
        // macOS limits socket paths to 104 bytes: even the largest uid must fit.
        assert!(path.replace("@UID@", "4294967294").len() < 104, "{path}");

        let tcp: Vec<_> = entries
            .iter()
            .filter(|e| e.get("SockServiceName").is_some())
            .collect();
        if short == "memd" {
            assert_eq!(tcp.len(), 1, "memd: one viewer socket");
            assert_eq!(
                tcp[0]["SockNodeName"], "127.0.0.1",
                "viewer is loopback only"
            );
            assert_eq!(tcp[0]["SockServiceName"], "37777");
        } else {
            assert!(tcp.is_empty(), "{short}: no TCP socket");
        }
    }
}
