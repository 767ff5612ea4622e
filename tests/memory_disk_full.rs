//! A full disk: claude-memd's state directory on a small tmpfs (mounted by the test in a
//! private mount namespace, so nothing outside sees it) that fills up. Hooks still exit 0 at
//! once; claude-memd refuses with 507 and a reason instead of failing half-way; what it
//! refuses waits in the spool while the spool can be written and is counted as lost when
//! not; once space returns everything is stored with no restart, and the database passes
//! `PRAGMA integrity_check`.

#[path = "support/hook.rs"]
mod hook;
#[path = "support/memd.rs"]
mod memd;
#[path = "support/repo.rs"]
mod repo;
#[path = "support/user_manager.rs"]
mod user_manager;

use claude_daemons::spool::Spool;
use memd::{hook_bin, Memd};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A hook may take its deadline (300 ms) plus what a loaded machine adds to starting it.
const QUICK: Duration = Duration::from_secs(3);

fn free_bytes(dir: &Path) -> u64 {
    let c = std::ffi::CString::new(dir.to_str().unwrap()).unwrap();
    // SAFETY: statvfs into a zeroed struct we own.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut st) }, 0);
    st.f_bavail as u64 * st.f_frsize as u64
}

fn event(m: &Memd, i: usize) -> Value {
    json!({
        "session_id": "full-1", "cwd": m.dir.path().join("work"),
        "hook_event_name": if i % 2 == 0 { "PostToolUse" } else { "Stop" },
        "tool_name": "Read", "tool_use_id": format!("toolu_full_{i}"),
        "tool_input": {"file_path": "/w/a.rs"}, "tool_response": {"type": "text"},
        "last_assistant_message": format!("answer {i}"), "test_marker": format!("full-{i}"),
    })
}

/// Run claude-hook; it must exit 0 silently and at once.
fn hook(m: &Memd, payload: &Value) {
    let started = Instant::now();
    let mut cmd = Command::new(hook_bin());
    cmd.envs(m.env());
    hook::run_silent(cmd, payload.to_string().as_bytes());
    assert!(
        started.elapsed() < QUICK,
        "hook took {:?}",
        started.elapsed()
    );
}

/// Fill the filesystem of `dir` until `leave` bytes are free (0: until ENOSPC).
fn fill(dir: &Path, name: &str, leave: u64) {
    let mut f = std::fs::File::create(dir.join(name)).unwrap();
    let chunk = vec![0x55u8; 64 << 10];
    loop {
        let free = free_bytes(dir);
        if leave > 0 && free <= leave {
            return;
        }
        let n = if leave > 0 {
            chunk.len().min((free - leave) as usize)
        } else {
            chunk.len()
        };
        match f.write(&chunk[..n]) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => return,
            Err(e) => panic!("filling: {e}"),
        }
    }
}

fn markers(m: &Memd) -> Vec<String> {
    let db = m.db();
    let mut q = db
        .prepare(
            "SELECT json_extract(payload, '$.test_marker') FROM events
             WHERE json_extract(payload, '$.test_marker') IS NOT NULL ORDER BY 1",
        )
        .unwrap();
    q.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn mount_tmpfs(at: &Path, size: &str) {
    let ok = Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            &format!("size={size},mode=0700"),
            "tmpfs",
        ])
        .arg(at)
        .status()
        .expect("mount(8)")
        .success();
    assert!(ok, "mount tmpfs on {}", at.display());
}

/// claude-memd with `reserve_mb` as its disk reserve, started on a tmpfs of `size` mounted
/// on its state directory; and that directory.
fn on_tmpfs(reserve_mb: u64, size: &str) -> (Memd, PathBuf) {
    let mut m = Memd::prepare(&format!("[memory]\ndisk_reserve_mb = {reserve_mb}\n"));
    let state = m.dir.path().join("state");
    mount_tmpfs(&state, size);
    std::fs::create_dir_all(m.dir.path().join("work")).unwrap();
    m.spawn();
    (m, state)
}

#[test]
fn a_full_disk_spools_refuses_with_507_and_recovers_without_restart() {
    if !user_manager::inside() {
        return user_manager::run_inside_namespace(
            "a_full_disk_spools_refuses_with_507_and_recovers_without_restart",
        );
    }
    let (mut m, state) = on_tmpfs(8, "32m");
    let pid = m.child.as_ref().unwrap().id();
    for i in 0..4 {
        hook(&m, &event(&m, i));
    }
    // Stored, directly or (when a loaded machine makes a hook miss its deadline) through
    // the spool, which the daemon drains while it runs.
    let spool = Spool::new(&state);
    let deadline = Instant::now() + Duration::from_secs(60);
    while markers(&m).len() < 4 || !spool.list().unwrap().is_empty() {
        assert!(
            Instant::now() < deadline,
            "stored while there is room: {:?}; {}",
            markers(&m),
            m.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(markers(&m).len(), 4, "stored once while there is room");

    // Below the reserve: refused with 507 and why, and the hooks' events wait in the spool.
    fill(&state, "filler-1", 4 << 20);
    let r = m
        .client(Duration::from_secs(20))
        .post_json("/v1/hook", event(&m, 99).to_string().as_bytes())
        .unwrap();
    let body = String::from_utf8_lossy(&r.body).into_owned();
    assert_eq!(r.status, 507, "{body}");
    assert!(body.contains("disk nearly full"), "{body}");
    for i in 4..24 {
        hook(&m, &event(&m, i));
    }
    assert_eq!(spool.usage().unwrap().events, 20, "all spooled");
    assert_eq!(markers(&m).len(), 4, "nothing stored half-way");

    // Completely full: the spool cannot take them either; they are counted as lost.
    fill(&state, "filler-2", 0);
    for i in 24..27 {
        hook(&m, &event(&m, i));
    }
    let u = spool.usage().unwrap();
    assert_eq!((u.events, u.lost), (20, 3), "{u:?}");
    let (_, health) = m.get("/v1/health");
    assert_eq!(health["spool"]["lost"], 3, "{health}");

    // Space returns: the same process stores everything, once.
    std::fs::remove_file(state.join("filler-2")).unwrap();
    std::fs::remove_file(state.join("filler-1")).unwrap();
    for i in 27..30 {
        hook(&m, &event(&m, i));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = markers(&m);
        if got.len() >= 27 && spool.list().unwrap().is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} stored, {} spooled: {}",
            got.len(),
            spool.list().unwrap().len(),
            m.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let got = markers(&m);
    let mut expected: Vec<String> = (0..24).chain(27..30).map(|i| format!("full-{i}")).collect();
    expected.sort();
    assert_eq!(got, expected, "each stored once, the lost ones not at all");
    assert_eq!(m.child.as_ref().unwrap().id(), pid, "no restart");
    assert!(m.child.as_mut().unwrap().try_wait().unwrap().is_none());
    let verdict: String = m
        .db()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(verdict, "ok");
    assert!(!m.log().contains("panicked"), "{}", m.log());
    m.kill9();
    let _ = Command::new("umount").arg(&state).status();
}

#[test]
fn without_a_reserve_a_full_disk_is_507_not_a_corrupt_database() {
    if !user_manager::inside() {
        return user_manager::run_inside_namespace(
            "without_a_reserve_a_full_disk_is_507_not_a_corrupt_database",
        );
    }
    let (mut m, state) = on_tmpfs(0, "16m");
    hook(&m, &event(&m, 0));
    fill(&state, "filler", 0);
    // Big events, so that the WAL must grow: SQLite itself runs out of space.
    let mut refused = 0;
    for i in 1..40 {
        let mut e = event(&m, i);
        e["tool_response"] = json!({"type": "text", "text": "y".repeat(200_000)});
        let r = m
            .client(Duration::from_secs(20))
            .post_json("/v1/hook", e.to_string().as_bytes())
            .unwrap();
        let body = String::from_utf8_lossy(&r.body).into_owned();
        assert!(r.status == 200 || r.status == 507, "{}: {body}", r.status);
        if r.status == 507 {
            assert!(body.contains("disk full"), "{body}");
            refused += 1;
        }
    }
    assert!(refused > 0, "the disk never filled up");
    std::fs::remove_file(state.join("filler")).unwrap();
    let r = m
        .client(Duration::from_secs(20))
        .post_json("/v1/hook", event(&m, 50).to_string().as_bytes())
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let verdict: String = m
        .db()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(verdict, "ok");
    assert!(m.child.as_mut().unwrap().try_wait().unwrap().is_none());
    m.kill9();
    let _ = Command::new("umount").arg(&state).status();
}
