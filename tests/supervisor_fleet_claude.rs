//! A fleet of two claude-supervisord on a real nats-server driving the REAL Claude Code CLI
//! against the mock Messages API: host A is killed with `kill -9` (supervisor and child);
//! once its lease lapses, host B takes the session over from the transcript A stored,
//! resumes it with `--resume` in its own (mapped) workspace, and the model sees the earlier
//! turns; A restarted does not take it back.

#[path = "support/mock_anthropic.rs"]
mod mock_anthropic;
#[path = "support/nats.rs"]
mod nats;
#[path = "support/repo.rs"]
mod repo;
#[path = "supervisor_support/mod.rs"]
mod support;

use mock_anthropic::{newest_prompt, MockApi, Reply};
use nats::Nats;
use serde_json::{json, Value};
use std::ffi::OsString;
use std::path::Path;
use std::time::{Duration, Instant};
use support::{alive, Supervisor};

fn start(api: &MockApi, nats: &Nats, host: &str, extra: &str) -> Supervisor {
    let bin = mock_anthropic::claude_bin();
    let env: Vec<(&str, OsString)> = vec![
        ("ANTHROPIC_BASE_URL", api.base_url().into()),
        ("ANTHROPIC_API_KEY", "sk-ant-mock-key".into()),
        ("DISABLE_TELEMETRY", "1".into()),
        ("DISABLE_AUTOUPDATER", "1".into()),
        ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".into()),
    ];
    Supervisor::start(
        &format!(
            "claude_bin = \"{}\"\nbroker_url = \"{}\"\nfleet = \"f\"\nhost = \"{host}\"\nlease_secs = 3\n{extra}",
            bin.display(),
            nats.url()
        ),
        &env,
        &[],
    )
}

fn connected(s: &Supervisor, hosts: usize) {
    s.wait_for("the fleet", Duration::from_secs(60), |s| {
        let (st, f) = s.get("/v1/fleet");
        st == 200 && f["connected"] == true && f["hosts"].as_array().map(Vec::len) == Some(hosts)
    });
}

fn ask(s: &Supervisor, work: &Path, prompt: &str) -> (u16, Value) {
    s.ask(
        "conv",
        json!({"prompt": prompt, "cwd": work.display().to_string(), "allowed_tools": ["Read"]}),
    )
}

#[test]
fn a_dead_hosts_session_resumes_on_another_host_with_its_history() {
    let api = MockApi::start(|req| Reply::Text(format!("answer: {}", newest_prompt(req))));
    let dir = tempfile::tempdir().unwrap();
    let nats = Nats::start(dir.path());
    let mut a = start(&api, &nats, "a", "");
    // B's copy of A's workspace is elsewhere: the map says where.
    let b_work = dir.path().join("b-work");
    std::fs::create_dir_all(&b_work).unwrap();
    let b = start(
        &api,
        &nats,
        "b",
        &format!(
            "[supervisor.workspace_map]\n{:?} = {:?}\n",
            a.work.display().to_string(),
            b_work.display().to_string()
        ),
    );
    connected(&a, 2);
    connected(&b, 2);

    let a_work = a.work.clone();
    let (st, r) = ask(&a, &a_work, "first question");
    assert_eq!(st, 200, "{r}\n{}", a.log());
    assert_eq!(r["host"], "a");
    let sid = r["session_id"].as_str().unwrap().to_string();
    let (st, r) = ask(&a, &a_work, "second question");
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["result"], "answer: second question");
    // Stored before the answer: the placement names the transcript already.
    let (_, f) = b.get("/v1/fleet");
    let placed = &f["sessions"][0];
    assert_eq!(
        (&placed["key"], &placed["host"]),
        (&json!("conv"), &json!("a")),
        "{f}"
    );
    assert!(placed["transcript"].is_string(), "{f}");

    // kill -9 host A: its supervisor and its child.
    let child = a.session("conv")["pid"].as_u64().unwrap() as i32;
    let killed = Instant::now();
    unsafe {
        libc::kill(a.proc.id() as i32, libc::SIGKILL);
        libc::kill(child, libc::SIGKILL);
    }
    let _ = a.proc.wait();
    assert!(!alive(a.proc.id()));

    // Until A's lease lapses B cannot reach the owner (fails fast); then it takes over.
    let mut refusals = 0;
    let r = loop {
        let (st, r) = ask(&b, &a_work, "third question");
        if st == 200 {
            break r;
        }
        assert_eq!(
            (st, r["error"].as_str()),
            (503, Some("fleet_unavailable")),
            "{r}"
        );
        refusals += 1;
        assert!(killed.elapsed() < Duration::from_secs(120), "{}", b.log());
        std::thread::sleep(Duration::from_millis(100));
    };
    let failover = killed.elapsed();
    eprintln!(
        "failover: {} ms ({refusals} refusals)",
        failover.as_millis()
    );
    assert_eq!(r["host"], "b", "{r}");
    assert_eq!(r["result"], "answer: third question");
    assert_eq!(r["session_id"], sid, "the same Claude session, resumed");
    let seen = api.requests_containing("third question");
    assert!(
        seen.iter().any(|q| q.to_string().contains("first question")
            && q.to_string().contains("answer: second question")),
        "the model saw the turns run on A: {seen:?}"
    );
    let info = b.session("conv");
    assert_eq!(
        info["cwd"],
        b_work.display().to_string(),
        "mapped workspace"
    );
    let (_, status) = b.get("/v1/status");
    assert!(
        status["recent_events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "spawned" && e["detail"] == format!("--resume {sid}")),
        "{status}"
    );

    // A comes back: the session stays on B, whoever is asked.
    a.restart();
    connected(&a, 2);
    let (st, r) = ask(&a, &a_work, "fourth question");
    assert_eq!(st, 200, "{r}\n{}", a.log());
    assert_eq!(r["host"], "b");
    assert_eq!(r["session_id"], sid);
    let (_, status) = a.get("/v1/status");
    assert_eq!(status["children"], json!([]), "no second copy on A");
    let seen = api.requests_containing("fourth question");
    assert!(seen
        .iter()
        .all(|q| q.to_string().contains("answer: third question")));
}
