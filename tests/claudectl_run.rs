//! `claudectl run`: the three daemons in the foreground with no service manager; Ctrl-C
//! (SIGINT) stops them all cleanly; their logs land in files `claudectl logs` reads.

#[path = "support/daemon.rs"]
mod daemon;
#[path = "support/http.rs"]
mod http;

use daemon::{Dirs, KillOnDrop};
use std::time::{Duration, Instant};

#[test]
fn run_serves_all_three_then_stops_cleanly_and_logs_to_files() {
    let dirs = Dirs::new();
    let child = dirs
        .command("claudectl")
        .args(["run", "--bindir"])
        .arg(
            std::path::Path::new(daemon::bin("claude-memd"))
                .parent()
                .unwrap(),
        )
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let child = KillOnDrop(Some(child));
    let deadline = Instant::now() + Duration::from_secs(15);
    for short in ["memd", "supervisord", "meshd"] {
        let socket = dirs.runtime().join(format!("{short}.sock"));
        while !daemon::is_socket(&socket)
            || claude_daemons::http::UnixClient::new(&socket)
                .get("/v1/health")
                .is_err()
        {
            assert!(Instant::now() < deadline, "{short} did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
        let (code, h) = http::get_json(&socket, "/v1/health");
        assert_eq!(code, 200);
        assert_eq!(
            h["idle_timeout_secs"],
            serde_json::Value::Null,
            "nothing would restart them"
        );
    }
    let status = dirs.command("claudectl").arg("status").output().unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "{text}");
    // Each daemon's own figures, from its health details.
    for figure in ["queue: 0 pending", "children: 0/", "broker: local"] {
        assert!(text.contains(figure), "{figure:?} missing from:\n{text}");
    }

    unsafe { libc::kill(child.pid(), libc::SIGINT) };
    let code = child.wait().code();
    assert_eq!(code, Some(0), "Ctrl-C is a clean stop");
    for short in ["memd", "supervisord", "meshd"] {
        let socket = dirs.runtime().join(format!("{short}.sock"));
        assert!(
            std::os::unix::net::UnixStream::connect(&socket).is_err(),
            "{short} still answers"
        );
    }

    let logs = dirs
        .command("claudectl")
        .args(["logs", "--files", "-n", "100"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&logs.stdout);
    assert!(
        logs.status.success(),
        "{}",
        String::from_utf8_lossy(&logs.stderr)
    );
    for program in ["claude-memd", "claude-supervisord", "claude-meshd"] {
        assert!(
            text.contains(&format!("{program} ready on")),
            "{program} in {text}"
        );
        assert!(
            text.contains(&format!("{program} exited cleanly")),
            "{program} in {text}"
        );
    }
    assert!(!text.contains('\x1b'), "no terminal colours in log files");
}
