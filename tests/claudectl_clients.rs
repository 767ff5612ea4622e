//! `claudectl mem|sup|mesh` against the real daemons in temporary directories: every
//! subcommand, its `--json` output, and the exit codes (3 daemon unreachable, 4 refused,
//! 2 usage).

#[path = "claudectl_support/mod.rs"]
mod ctl_support;
#[path = "supervisor_support/fake.rs"]
mod fake;
#[path = "support/memd.rs"]
mod memd;
#[path = "support/meshd.rs"]
mod meshd;
#[path = "supervisor_support/mod.rs"]
mod support;

use ctl_support::{command as ctl_cmd, ctl};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Run, expect exit 0, return stdout.
fn ok(runtime: &Path, args: &[&str]) -> String {
    let out = ctl(runtime, args);
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "claudectl {args:?}\nstdout: {stdout}\nstderr: {stderr}"
    );
    stdout
}

/// Run with `--json` appended, expect exit 0, parse stdout.
fn ok_json(runtime: &Path, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    let out = ok(runtime, &a);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{a:?}: not JSON ({e}): {out}"))
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Run and expect a failure with `code`; return stderr.
fn fails(runtime: &Path, args: &[&str], code: i32) -> String {
    let out = ctl(runtime, args);
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(code),
        "claudectl {args:?}\nstdout: {stdout}\nstderr: {stderr}"
    );
    stderr
}

#[test]
fn mem_commands_against_claude_memd() {
    let m = memd::Memd::start();
    let rt = m.dir.path().join("run");
    let repo = m.dir.path().join("shop");
    memd::git_init(&repo);
    let ev = |event: &str, extra: Value| {
        let mut v = json!({"session_id": "s-1", "cwd": repo, "hook_event_name": event});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (s, r) = m.post("/v1/hook", v.to_string().as_bytes());
        assert_eq!(s, 200, "{r}");
    };
    ev(
        "UserPromptSubmit",
        json!({"prompt": "speed up the checkout tokenizer"}),
    );
    for (i, f) in ["src/tokenizer.rs", "src/cart.rs"].iter().enumerate() {
        ev(
            "PostToolUse",
            json!({"tool_name": "Edit", "tool_use_id": format!("e{i}"),
                "tool_input": {"file_path": repo.join(f), "old_string": "slow", "new_string": "fast"}}),
        );
    }
    ev(
        "Stop",
        json!({"last_assistant_message": "The tokenizer avoids copies now."}),
    );
    m.wait_processed();

    // search: human view has the ID and the title; --json is the API's answer.
    let human = ok(&rt, &["mem", "search", "tokenizer"]);
    assert!(human.contains("tokenizer.rs"), "{human}");
    let found = ok_json(
        &rt,
        &["mem", "search", "tokenizer", "--record", "observation"],
    );
    let hits = found["results"].as_array().unwrap();
    assert_eq!(hits.len(), 1, "{found}");
    let id = hits[0]["id"].as_i64().unwrap();
    assert!(human.contains(&format!("#{id}")), "{human}");
    let none = ok(&rt, &["mem", "search", "zebra"]);
    assert!(none.contains("no matches"), "{none}");

    // show: one ID → the observation; several → an array.
    let obs = ok_json(&rt, &["mem", "show", &id.to_string()]);
    assert_eq!(obs["id"].as_i64(), Some(id));
    assert!(obs["files_modified"][0]
        .as_str()
        .unwrap()
        .ends_with("src/tokenizer.rs"));
    let human = ok(&rt, &["mem", "show", &id.to_string()]);
    assert!(
        human.contains(&format!("#{id} change")) && human.contains("modified:"),
        "{human}"
    );
    // `get` is what the SessionStart context tells the model to run.
    assert_eq!(ok(&rt, &["mem", "get", &id.to_string()]), human);
    let both = ok_json(
        &rt,
        &["mem", "show", &id.to_string(), &(id + 1).to_string()],
    );
    assert_eq!(both.as_array().map(Vec::len), Some(2), "{both}");

    // timeline around the anchor.
    let tl = ok_json(&rt, &["mem", "timeline", &id.to_string()]);
    let items = tl["items"].as_array().unwrap();
    assert!(items.len() >= 2, "{tl}");
    assert!(items
        .iter()
        .any(|i| i["anchor"] == true && i["id"].as_i64() == Some(id)));
    let human = ok(&rt, &["mem", "timeline", &id.to_string()]);
    assert!(
        human
            .lines()
            .any(|l| l.starts_with('▶') && l.contains(&format!("#{id} "))),
        "{human}"
    );

    // context for the project directory.
    let c = ok_json(
        &rt,
        &["mem", "context", "--project", repo.to_str().unwrap()],
    );
    assert!(c["observations"].as_u64().unwrap() >= 2, "{c}");
    let human = ok(
        &rt,
        &["mem", "context", "--project", repo.to_str().unwrap()],
    );
    assert!(human.contains(&format!("#{id}")), "{human}");

    // stats.
    let st = ok_json(&rt, &["mem", "stats"]);
    assert_eq!(st["byProject"]["shop"]["observations"], 2, "{st}");
    let human = ok(&rt, &["mem", "stats"]);
    assert!(
        human
            .lines()
            .any(|l| l.starts_with("shop") && l.contains(" 2 ")),
        "{human}"
    );

    // prune: nothing is 30 days old yet; backdate one observation and it goes.
    let p = ok_json(&rt, &["mem", "prune", "--older-than-days", "30"]);
    assert_eq!(p["observations"], 0, "{p}");
    m.db()
        .execute(
            "UPDATE observations SET created_at_epoch = created_at_epoch - 40 * 86400 WHERE id = ?1",
            [id],
        )
        .unwrap();
    let human = ok(&rt, &["mem", "prune", "--older-than-days", "30"]);
    assert!(human.contains("deleted 1 observations"), "{human}");
    let err = fails(&rt, &["mem", "show", &id.to_string()], 4);
    assert!(err.contains("HTTP 404"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    fails(&rt, &["mem", "prune", "--older-than-days", "0"], 2);
}

#[test]
fn sup_commands_against_claude_supervisord() {
    let s = fake::start("", "normal");
    let rt = s.dir.path().join("run");
    let work = s.work.display().to_string();

    let out = ok(&rt, &["sup", "ask", "k1", "hello", "--cwd", &work]);
    assert_eq!(out.trim(), "echo: hello");
    let r = ok_json(&rt, &["sup", "ask", "k1", "again"]);
    assert_eq!(
        (r["result"].as_str(), r["cold"].as_bool()),
        (Some("echo: again"), Some(false))
    );

    // --stream: the text as it is written, then the result; --json: one event per line.
    let out = ok(&rt, &["sup", "ask", "k1", "streamed", "--stream"]);
    assert!(out.contains("echo: streamed"), "{out}");
    let lines = ok(&rt, &["sup", "ask", "k1", "lines", "--stream", "--json"]);
    let events: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(events.len() >= 2, "{lines}");
    assert!(events.iter().any(|e| e["event"] == "message"), "{lines}");
    let last = events.last().unwrap();
    assert_eq!(last["event"], "result");
    assert_eq!(last["data"]["result"], "echo: lines");

    // A cwd other than the session's is refused by the daemon: exit 4 and its reason.
    let err = fails(&rt, &["sup", "ask", "k1", "x", "--cwd", "/"], 4);
    assert!(err.contains("conflict"), "{err}");

    let list = ok_json(&rt, &["sup", "sessions"]);
    let k1 = &list["sessions"][0];
    assert_eq!(
        (k1["key"].as_str(), k1["turns"].as_u64()),
        (Some("k1"), Some(4)),
        "{list}"
    );
    let human = ok(&rt, &["sup", "sessions"]);
    assert!(human.contains("k1") && human.contains(&work), "{human}");
    let err = fails(&rt, &["sup", "ask", "k1", "x", "--cwd", "/", "--stream"], 4);
    assert!(err.contains("conflict"), "{err}");
    // A 5xx (the child printed a result line that does not parse) is an error, exit 1.
    let err = fails(&rt, &["sup", "ask", "k1", "badresult"], 1);
    assert!(
        err.contains("HTTP 502") && err.contains("child_output"),
        "{err}"
    );

    // events: the ring replayed from 0 (the ask that failed above is the last event), then a
    // live follower sees the stop.
    let replay = ok(&rt, &["sup", "events", "--since", "0", "-n", "3", "--json"]);
    let kinds: Vec<String> = replay
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(kinds, ["spawned", "ready", "bad_output"], "{replay}");
    // The follower asks for what comes after the replayed events (--since), so the stop
    // reaches it even when its request is handled after the stop happened (its connection
    // counts as open work before the daemon subscribes it).
    let last: u64 = replay
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .max()
        .unwrap();
    let busy = |s: &support::Supervisor| s.get("/v1/health").1["busy"].as_u64().unwrap();
    let before = busy(&s);
    let since = last.to_string();
    let follower = ctl_cmd(&rt, &["sup", "events", "--since", &since, "-n", "1"])
        .spawn()
        .unwrap();
    s.wait_for("the follower's stream", Duration::from_secs(20), |s| {
        busy(s) > before
    });
    let out = ok(&rt, &["sup", "stop", "k1"]);
    assert!(out.contains("stopped its process"), "{out}");
    let t = Instant::now();
    let follower = follower.wait_with_output().unwrap();
    assert!(t.elapsed() < Duration::from_secs(20));
    assert_eq!(follower.status.code(), Some(0));
    let seen = String::from_utf8_lossy(&follower.stdout);
    assert!(seen.contains("k1"), "{seen}");
    assert!(seen.contains("stopped"), "{seen}");

    let r = ok_json(&rt, &["sup", "stop", "k1", "--forget"]);
    assert_eq!(r, json!({"stopped": false, "forgotten": true}));
    let err = fails(&rt, &["sup", "stop", "no/such"], 1);
    assert!(err.contains("invalid session key"), "{err}");
}

#[test]
fn mesh_commands_against_claude_meshd() {
    let dir = tempfile::Builder::new()
        .prefix("cm")
        .tempdir_in("/tmp")
        .unwrap();
    let m = meshd::Meshd::start(dir.path(), &[]);
    let rt = dir.path().join("r");
    m.register("sess-a", "alice", &["ops"], &[]);
    m.register("sess-b", "bob", &["ops"], &[]);

    let peers = ok_json(&rt, &["mesh", "peers"]);
    // One member (this daemon) with its two sessions.
    assert_eq!(peers.as_array().unwrap().len(), 1, "{peers}");
    assert_eq!(peers[0]["sessions"].as_array().unwrap().len(), 2, "{peers}");
    let human = ok(&rt, &["mesh", "peers"]);
    assert!(human.contains("alice") && human.contains("bob"), "{human}");

    let sent = ok_json(
        &rt,
        &[
            "mesh",
            "send",
            "bob",
            "hello bob",
            "--id",
            "m1",
            "--priority",
            "now",
        ],
    );
    assert_eq!(sent["client_message_id"], "m1", "{sent}");
    let human = ok(&rt, &["mesh", "send", "@ops", "standup", "--id", "m2"]);
    assert!(human.contains("m2") && human.contains("@ops"), "{human}");
    // `-` reads the body from standard input.
    let mut piped = ctl_cmd(&rt, &["mesh", "send", "bob", "-", "--id", "m3"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    piped
        .stdin
        .take()
        .unwrap()
        .write_all(b"from stdin\n")
        .unwrap();
    assert!(piped.wait().unwrap().success());
    let err = fails(&rt, &["mesh", "send", "nobody", "x"], 4);
    assert!(err.contains("claude-meshd refused"), "{err}");

    m.wait_for(10, "both delivered", || {
        ok_json(&rt, &["mesh", "outbox", "list", "--state", "done"])
            .as_array()
            .unwrap()
            .len()
            == 3
    });
    let inbox = ok_json(&rt, &["mesh", "inbox", "--session", "sess-b"]);
    let bodies: Vec<&str> = inbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["body"].as_str().unwrap())
        .collect();
    assert!(
        bodies.contains(&"hello bob")
            && bodies.contains(&"standup")
            && bodies.contains(&"from stdin\n"),
        "{inbox}"
    );
    let human = ok(&rt, &["mesh", "inbox", "--session", "sess-b"]);
    assert!(
        human.contains("hello bob") && human.contains("[now]"),
        "{human}"
    );

    // profile: change, then show.
    let p = ok_json(
        &rt,
        &[
            "mesh",
            "profile",
            "sess-a",
            "--summary",
            "refactoring",
            "--capability",
            "rust,sql",
        ],
    );
    assert_eq!(p["capabilities"], json!(["rust", "sql"]), "{p}");
    let human = ok(&rt, &["mesh", "profile", "sess-a"]);
    assert!(human.contains("summary:      refactoring"), "{human}");
    fails(&rt, &["mesh", "profile", "nope"], 4);

    // outbox: a dead row is requeued under a new id.
    m.sql("UPDATE outbox SET state = 'dead', body = 'hello bob', last_error = 'broker said no' WHERE client_message_id = 'm1'");
    let human = ok(&rt, &["mesh", "outbox", "list", "--state", "dead"]);
    assert!(
        human.contains("m1") && human.contains("broker said no"),
        "{human}"
    );
    let r = ok_json(
        &rt,
        &["mesh", "outbox", "requeue", "m1", "--new-id", "m1-again"],
    );
    assert_eq!(
        (r["aborted"].as_str(), r["client_message_id"].as_str()),
        (Some("m1"), Some("m1-again")),
        "{r}"
    );
    let aborted = ok_json(&rt, &["mesh", "outbox", "list", "--state", "aborted"]);
    assert_eq!(aborted[0]["client_message_id"], "m1", "{aborted}");
    let err = fails(&rt, &["mesh", "outbox", "requeue", "m1"], 4);
    assert!(err.contains("HTTP 4"), "{err}");
}

#[test]
fn accept_host_records_the_new_host() {
    let dir = tempfile::Builder::new()
        .prefix("cm")
        .tempdir_in("/tmp")
        .unwrap();
    let mut m = meshd::Meshd::start(dir.path(), &[]);
    m.stop();
    // The state directory "moved" from another machine.
    let file = m.state.join("host-fingerprint.json");
    let mut rec: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let real = rec["fingerprint"].as_str().unwrap().to_string();
    rec["fingerprint"] = json!("0".repeat(64));
    std::fs::write(&file, rec.to_string()).unwrap();

    let bindir = PathBuf::from(env!("CARGO_BIN_EXE_claude-meshd"))
        .parent()
        .unwrap()
        .to_path_buf();
    let mut cmd = ctl_cmd(
        &dir.path().join("r"),
        &["mesh", "accept-host", "--bindir", bindir.to_str().unwrap()],
    );
    for (k, v) in &m.env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let rec: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(rec["fingerprint"], real.as_str());

    let out = ctl(
        dir.path(),
        &["mesh", "accept-host", "--bindir", "/nonexistent"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("/nonexistent/claude-meshd"));
}

#[test]
fn daemon_down_is_exit_3_naming_the_socket_and_usage_is_exit_2() {
    let dir = tempfile::Builder::new()
        .prefix("cd")
        .tempdir_in("/tmp")
        .unwrap();
    let rt = dir.path();
    for (args, sock) in [
        (&["mem", "stats"][..], "memd.sock"),
        (&["mem", "search", "x", "--json"][..], "memd.sock"),
        (&["sup", "sessions"][..], "supervisord.sock"),
        (&["sup", "events"][..], "supervisord.sock"),
        (
            &["sup", "ask", "k", "hi", "--stream"][..],
            "supervisord.sock",
        ),
        (&["mesh", "peers"][..], "meshd.sock"),
        (&["mesh", "send", "bob", "hi"][..], "meshd.sock"),
    ] {
        let err = fails(rt, args, 3);
        assert!(
            err.contains(&rt.join(sock).display().to_string()),
            "{args:?}: {err}"
        );
        assert!(
            err.contains("claudectl status") && err.contains("systemctl --user start"),
            "{err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
    for args in [
        &["mem", "frobnicate"][..],
        &["mem", "search"][..],
        &["mem", "timeline"][..],
        &["sup", "ask", "k"][..],
        &["sup", "sessions", "--bogus"][..],
        &["mesh", "send", "bob", "hi", "--priority", "urgent"][..],
        &["mesh", "outbox"][..],
    ] {
        fails(rt, args, 2);
    }
}

#[test]
fn a_reader_that_goes_away_ends_output_quietly() {
    // `claudectl completions bash | head -0`: the reader is gone before the first write.
    let mut fds = [0; 2];
    // SAFETY: pipe(2) fills both descriptors; each is owned by exactly one File below.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    use std::os::fd::FromRawFd;
    drop(unsafe { std::fs::File::from_raw_fd(fds[0]) });
    let write_end = unsafe { std::fs::File::from_raw_fd(fds[1]) };
    let out = Command::new(env!("CARGO_BIN_EXE_claudectl"))
        .args(["completions", "bash"])
        .stdout(Stdio::from(write_end))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{stderr}");
}
