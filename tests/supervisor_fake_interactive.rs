//! Interactive sessions against the fake child's interactive mode
//! (examples/fake_claude_parts/interactive.rs): the trust dialog answered on screen, answers
//! through the Stop hook (claude-hook supervisor-stop), a dialog nobody knows and a prompt
//! that never shows failing the spawn with the screen in the error, a huge screen, and asks
//! while a person types (refused or waiting, as configured).

#[path = "supervisor_support/fake.rs"]
mod fake;
#[path = "supervisor_support/mod.rs"]
mod support;

use claude_daemons::api::supervisor::{AttachFrame, ATTACH_PROTOCOL};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};
use support::Supervisor;

fn ask(s: &Supervisor, key: &str, prompt: &str) -> (u16, Value) {
    s.ask(
        key,
        json!({"prompt": prompt, "cwd": s.work.display().to_string(), "kind": "interactive"}),
    )
}

/// Attach as the typist over a raw upgraded connection; the connection is the attachment.
fn attach(s: &Supervisor, key: &str) -> UnixStream {
    let mut c = UnixStream::connect(&s.socket).unwrap();
    write!(
        c,
        "GET /v1/sessions/{key}/attach HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: {ATTACH_PROTOCOL}\r\n\r\n"
    )
    .unwrap();
    let mut r = BufReader::new(c.try_clone().unwrap());
    let mut status = String::new();
    r.read_line(&mut status).unwrap();
    assert!(status.contains(" 101 "), "{status}");
    c
}

#[test]
fn the_fake_answers_through_its_stop_hook_after_the_trust_dialog() {
    let s = fake::start("", "normal");
    let (st, r) = ask(&s, "i", "hello");
    assert_eq!(st, 200, "{r}\n{}", s.log());
    assert_eq!(r["result"], "echo: hello");
    let (st, r) = ask(&s, "i", "again");
    assert_eq!(
        (st, r["result"].as_str()),
        (200, Some("echo: again")),
        "{r}"
    );
    let (st, v) = s.get("/v1/sessions/i/screen");
    assert_eq!(st, 200, "{v}");
    assert!(v["text"].as_str().unwrap().contains("● echo: again"), "{v}");
    assert_eq!(
        (v["rows"].as_u64(), v["cols"].as_u64()),
        (Some(50), Some(200))
    );
    // A headless session has no screen.
    assert_eq!(
        s.ask(
            "h",
            json!({"prompt": "x", "cwd": s.work.display().to_string()})
        )
        .0,
        200
    );
    assert_eq!(s.get("/v1/sessions/h/screen").0, 404);
    // A Stop hook payload for another session is refused.
    let (st, _) = s.post(
        "/v1/sessions/i/stop-hook",
        &json!({"session_id": "00000000-0000-4000-8000-000000000000"}),
    );
    assert_eq!(st, 409);
    // The fake skips the channel as Claude Code does with its feature flag off: typed.
    assert_eq!(s.session("i")["input"], "typing");
    // The channel routes refuse another session's server, and keys without a terminal.
    let id = s.session("i")["session_id"].as_str().unwrap().to_string();
    let (st, _) = s.post(
        "/v1/sessions/i/channel/reply?session_id=00000000-0000-4000-8000-000000000000",
        &json!({"text": "x"}),
    );
    assert_eq!(st, 409);
    let (st, v) = s.post(
        &format!("/v1/sessions/i/channel/reply?session_id={id}"),
        &json!({"final": "not a text"}),
    );
    assert_eq!(st, 400, "{v}");
    let (st, _) = s.post(
        &format!("/v1/sessions/h/channel/reply?session_id={id}"),
        &json!({"text": "x"}),
    );
    assert_eq!(st, 404);
    let (st, r) = ask(&s, "i", "still typed");
    assert_eq!(
        (st, r["result"].as_str()),
        (200, Some("echo: still typed")),
        "{r}"
    );
}

#[test]
fn a_child_that_skips_the_channel_fails_to_start_when_the_channel_is_required() {
    let s = fake::start(
        "crash_limit = 1\ninteractive_input = \"channel\"\n",
        "normal",
    );
    let (st, r) = ask(&s, "c", "hello");
    assert_eq!(st, 502, "{r}");
    assert_eq!(r["error"], "spawn_failed");
    let m = r["message"].as_str().unwrap();
    assert!(
        m.contains("skipped the channel") && m.contains("not currently available"),
        "{m}"
    );
}

#[test]
fn an_unknown_dialog_fails_the_spawn_with_the_screen_text() {
    let s = fake::start("crash_limit = 1\n", "unknown-dialog");
    let t = Instant::now();
    let (st, r) = ask(&s, "d", "hello");
    assert_eq!(st, 502, "{r}");
    assert_eq!(r["error"], "spawn_failed");
    let m = r["message"].as_str().unwrap();
    assert!(
        m.contains("does not know") && m.contains("Pick a colour"),
        "{m}"
    );
    assert!(t.elapsed() < Duration::from_secs(60));
    assert_eq!(s.session("d")["state"], "failed");
}

#[test]
fn a_prompt_that_never_shows_times_out_with_the_screen() {
    let s = fake::start("crash_limit = 1\n", "no-prompt");
    let (st, r) = ask(&s, "n", "hello");
    assert_eq!(st, 502, "{r}");
    let m = r["message"].as_str().unwrap();
    assert!(
        m.contains("did not answer its handshake within 2 s") && m.contains("Loading"),
        "{m}"
    );
}

#[test]
fn a_huge_screen_does_not_stop_the_session() {
    let s = fake::start("", "normal");
    let (st, r) = ask(&s, "h", "huge");
    assert_eq!((st, r["result"].as_str()), (200, Some("echo: huge")), "{r}");
    let (st, r) = ask(&s, "h", "after");
    assert_eq!(
        (st, r["result"].as_str()),
        (200, Some("echo: after")),
        "{r}"
    );
    let (_, v) = s.get("/v1/sessions/h/screen");
    assert!(
        v["text"].as_str().unwrap().len() < 50 * 201 * 4,
        "only the visible screen"
    );
}

#[test]
fn asks_are_refused_while_a_person_types_when_so_configured() {
    let s = fake::start("attached_asks = \"refuse\"\n", "normal");
    assert_eq!(ask(&s, "p", "hello").0, 200);
    let mut c = attach(&s, "p");
    let (st, r) = ask(&s, "p", "now");
    assert_eq!(st, 409, "{r}");
    assert!(r["message"].as_str().unwrap().contains("typing"), "{r}");
    // The typist's keys reach the child.
    c.write_all(&AttachFrame::Input(b"typed by hand".to_vec()).encode())
        .unwrap();
    s.wait_for("the keys on screen", Duration::from_secs(20), |s| {
        s.get("/v1/sessions/p/screen").1["text"]
            .as_str()
            .unwrap()
            .contains("❯ typed by hand")
    });
    c.write_all(&AttachFrame::Input(vec![0x03]).encode())
        .unwrap();
    drop(c);
    s.wait_for("the typist to go", Duration::from_secs(20), |s| {
        s.get("/v1/sessions/p/screen").1["typist"] == false
    });
    let (st, r) = ask(&s, "p", "later");
    assert_eq!(
        (st, r["result"].as_str()),
        (200, Some("echo: later")),
        "{r}"
    );
}

#[test]
fn asks_wait_for_a_person_to_detach_by_default() {
    let s = fake::start("", "normal");
    assert_eq!(ask(&s, "w", "hello").0, 200);
    let c = attach(&s, "w");
    std::thread::scope(|sc| {
        let t = sc.spawn(|| ask(&s, "w", "queued"));
        std::thread::sleep(Duration::from_millis(500));
        assert!(!t.is_finished(), "the ask waits while a person types");
        drop(c);
        let (st, r) = t.join().unwrap();
        assert_eq!(
            (st, r["result"].as_str()),
            (200, Some("echo: queued")),
            "{r}"
        );
    });
}
