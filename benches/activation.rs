//! Cold start by socket activation under a real `systemd --user` (private mount namespace,
//! as in tests/systemd_user.rs): daemon not running → first response, with an existing
//! database to open. Baseline in the same run: the same manager spawning a trivial process
//! per connection (`Accept=yes` + `sh` reading the 4 request lines our client sends), i.e.
//! what any activation costs here. Also the
//! resident memory of each idle, activated daemon.
//!
//! `cargo bench --bench activation` (as root)

#[path = "../tests/support/repo.rs"]
mod repo;
#[path = "support.rs"]
mod support;
#[path = "../tests/support/user_manager.rs"]
mod user_manager;

use claude_daemons::http::UnixClient;
use std::time::{Duration, Instant};
use support::{report, Samples};
use user_manager::{Tweaks, UserManager};

const RUNS: usize = 40;

const BASELINE_SOCKET: &str = "[Socket]\nListenStream=%t/baseline.sock\nAccept=yes\n";
const BASELINE_SERVICE: &str = "[Service]\nStandardInput=socket\nStandardOutput=socket\n\
ExecStart=/bin/sh -c 'read -r a; read -r b; read -r c; read -r d; printf \"HTTP/1.1 200 OK\\\\r\\\\ncontent-length: 0\\\\r\\\\nconnection: close\\\\r\\\\n\\\\r\\\\n\"'\n";

fn main() {
    if std::env::var_os("CD_USER_MANAGER_INNER").is_none() {
        let ns = std::fs::read_link("/proc/self/ns/mnt").unwrap();
        let status = std::process::Command::new("unshare")
            .args(["-m", "--propagation", "private"])
            .arg(std::env::current_exe().unwrap())
            .env("CD_USER_MANAGER_INNER", ns)
            .status()
            .expect("unshare (util-linux) is required");
        std::process::exit(status.code().unwrap_or(1));
    }
    let um = UserManager::start();
    let bins = [
        ("claude-memd", env!("CARGO_BIN_EXE_claude-memd")),
        (
            "claude-supervisord",
            env!("CARGO_BIN_EXE_claude-supervisord"),
        ),
        ("claude-meshd", env!("CARGO_BIN_EXE_claude-meshd")),
    ];
    let tweaks = Tweaks {
        env: vec![
            (
                "CLAUDE_DAEMONS_STATE_DIR".into(),
                um.scratch().join("state").display().to_string(),
            ),
            ("RUST_LOG".into(), "warn".into()),
        ],
        replace: vec![
            ("127.0.0.1:37777".into(), "127.0.0.1:0".into()),
            // 40 stop/start cycles in a few seconds would hit the default start limit
            // (5 per 10 s), which fails the socket unit.
            ("[Unit]\n".into(), "[Unit]\nStartLimitBurst=1000\n".into()),
            // ... and the socket's trigger limit (20 per 2 s).
            (
                "[Socket]\n".into(),
                "[Socket]\nTriggerLimitBurst=1000\n".into(),
            ),
        ],
        ..Tweaks::default()
    };
    um.install_units(
        &["claude-memd", "claude-supervisord", "claude-meshd"],
        &bins,
        &tweaks,
    );
    um.write_unit("baseline.socket", BASELINE_SOCKET);
    um.write_unit("baseline@.service", BASELINE_SERVICE);
    um.daemon_reload();
    for s in [
        "claude-memd.socket",
        "claude-supervisord.socket",
        "claude-meshd.socket",
        "baseline.socket",
    ] {
        um.systemctl_ok(&["start", s]);
    }
    let rt = um.runtime_dir();
    let memd = UnixClient::new(rt.join("claude/memd.sock")).timeout(Duration::from_secs(10));
    let baseline = UnixClient::new(rt.join("baseline.sock")).timeout(Duration::from_secs(10));

    // The first activation creates and migrates the database; the measured ones open it.
    assert_eq!(memd.get("/v1/health").unwrap().status, 200);
    let (mut cold, mut warm, mut base) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..RUNS {
        um.systemctl_ok(&["stop", "claude-memd.service"]);
        let t = Instant::now();
        let r = memd.get("/v1/health").unwrap_or_else(|e| {
            let st = um.systemctl(&[
                "status",
                "--no-pager",
                "claude-memd.service",
                "claude-memd.socket",
            ]);
            panic!("run {i}: {e}\n{}", String::from_utf8_lossy(&st.stdout))
        });
        cold.push(t.elapsed());
        assert_eq!(r.status, 200);
        let t = Instant::now();
        memd.get("/v1/health").unwrap();
        warm.push(t.elapsed());
        let t = Instant::now();
        let r = baseline.get("/").unwrap();
        base.push(t.elapsed());
        assert_eq!(r.status, 200);
    }
    let (cold, warm, base) = (Samples::new(cold), Samples::new(warm), Samples::new(base));
    println!(
        "claude-memd socket activation under systemd --user {} (release build)",
        systemd_version()
    );
    report("baseline: Accept=yes sh per connection", &base, None);
    report(
        "cold: activate + open db + first response",
        &cold,
        Some(("baseline", &base)),
    );
    report(
        "warm: next request, same process",
        &warm,
        Some(("baseline", &base)),
    );

    // Idle, activated daemons: memory after one request and a moment of rest.
    for (program, short) in [
        ("claude-memd", "memd"),
        ("claude-supervisord", "supervisord"),
        ("claude-meshd", "meshd"),
    ] {
        let c = UnixClient::new(rt.join(format!("claude/{short}.sock")));
        let h: serde_json::Value = c.get("/v1/health").unwrap().json().unwrap();
        std::thread::sleep(Duration::from_millis(500));
        let pid = h["pid"].as_u64().unwrap() as u32;
        println!(
            "{program:<20} idle RSS after activation: {:>6} KiB",
            support::rss_kib(pid)
        );
    }
}

fn systemd_version() -> String {
    let out = std::process::Command::new("systemctl")
        .arg("--version")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}
