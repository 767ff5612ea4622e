//! Proves the `support/user_manager.rs` harness itself: a real `systemd --user` and journald
//! start in a private mount namespace, run units, log to the journal, activate sockets, accept
//! the project's units, and leave nothing running behind.

#[path = "support/repo.rs"]
mod repo;
#[path = "support/user_manager.rs"]
mod user_manager;

use std::io::Read;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;
use user_manager::{Tweaks, UserManager};

#[test]
fn user_manager_runs_units_and_journals() {
    if !user_manager::inside() {
        return user_manager::run_inside_namespace("user_manager_runs_units_and_journals");
    }
    let um = UserManager::start();
    let pid = um.manager_pid();

    // A oneshot service: its stdout must reach our private journal.
    um.write_unit(
        "hello.service",
        "[Service]\nType=oneshot\nExecStart=/bin/sh -c 'echo hello-from-unit'\n",
    );
    // Socket activation with Accept=yes: each connection gets its own instance, with the
    // connection on stdin/stdout.
    um.write_unit(
        "smoke.socket",
        "[Socket]\nListenStream=%t/smoke.sock\nSocketMode=0600\nAccept=yes\n",
    );
    um.write_unit(
        "smoke@.service",
        "[Service]\nStandardInput=socket\nStandardOutput=socket\nExecStart=/bin/echo pong\n",
    );
    um.daemon_reload();

    um.systemctl_ok(&["start", "hello.service"]);
    assert_eq!(um.show("hello.service", "Result"), "success");
    assert_eq!(um.show("hello.service", "ActiveState"), "inactive");
    um.wait_for_journal(
        &["_SYSTEMD_USER_UNIT=hello.service"],
        "hello-from-unit",
        Duration::from_secs(60),
    );
    let by_identifier = um.journal(&["SYSLOG_IDENTIFIER=sh"]);
    assert!(
        by_identifier.iter().any(
            |e| e["MESSAGE"] == "hello-from-unit" && e["_SYSTEMD_USER_UNIT"] == "hello.service"
        ),
        "{by_identifier:?}"
    );

    um.systemctl_ok(&["start", "smoke.socket"]);
    um.wait_for(
        "smoke.socket",
        "SubState",
        "listening",
        Duration::from_secs(5),
    );
    let mut reply = String::new();
    UnixStream::connect(um.runtime_dir().join("smoke.sock"))
        .expect("connect to the activated socket")
        .read_to_string(&mut reply)
        .unwrap();
    assert_eq!(reply, "pong\n");
    assert_eq!(um.show("smoke.socket", "NAccepted"), "1");

    // The project's units load with their ExecStart= rewritten and the tweaks applied.
    let binaries = [
        ("claude-memd", env!("CARGO_BIN_EXE_claude-memd")),
        (
            "claude-supervisord",
            env!("CARGO_BIN_EXE_claude-supervisord"),
        ),
        ("claude-meshd", env!("CARGO_BIN_EXE_claude-meshd")),
    ];
    let tweaks = Tweaks {
        args: vec!["--idle-timeout".into(), "2".into()],
        env: vec![("CLAUDE_DAEMONS_STATE_DIR".into(), "/tmp/a dir".into())],
        watchdog_sec: Some(5),
        replace: vec![("127.0.0.1:37777".into(), "127.0.0.1:47777".into())],
    };
    um.install_units(
        &["claude-memd", "claude-supervisord", "claude-meshd"],
        &binaries,
        &tweaks,
    );
    for (name, binary) in binaries {
        let service = format!("{name}.service");
        assert_eq!(um.show(&service, "LoadState"), "loaded", "{service}");
        let exec = um.show(&service, "ExecStart");
        assert!(
            exec.contains(&format!("argv[]={binary} --idle-timeout 2 ;")),
            "{exec}"
        );
        let env = um.show(&service, "Environment");
        assert_eq!(env, "\"CLAUDE_DAEMONS_STATE_DIR=/tmp/a dir\"");
        // WatchdogUSec is only set while the service runs: check the installed file.
        let text = std::fs::read_to_string(um.unit_dir().join(&service)).unwrap();
        let watchdog: Vec<_> = text
            .lines()
            .filter(|l| l.starts_with("WatchdogSec="))
            .collect();
        assert_eq!(watchdog, ["WatchdogSec=5"], "{service}");
        assert_eq!(um.show(&format!("{name}.socket"), "LoadState"), "loaded");
    }
    let listen = um.show("claude-memd.socket", "Listen");
    assert!(listen.contains("127.0.0.1:47777 (Stream)"), "{listen}");

    // The manager runs in a cgroup of its own, so that it can be cleaned up.
    let cgroup = um.show("init.scope", "ControlGroup");
    let top = match cgroup.find("/cd-um-") {
        Some(at) => cgroup[..at + cgroup[at + 1..].find('/').unwrap() + 1].to_string(),
        None => panic!("manager not in its own cgroup: {cgroup}"),
    };
    drop(um);
    // Nothing outlives the harness: the manager is gone, and so is its cgroup tree.
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "systemd --user still running"
    );
    for mount in [
        "/sys/fs/cgroup",
        "/sys/fs/cgroup/systemd",
        "/sys/fs/cgroup/unified",
    ] {
        let left = format!("{mount}{top}");
        assert!(!Path::new(&left).exists(), "{left} left behind");
    }
}
