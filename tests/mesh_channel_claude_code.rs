//! The real Claude Code in an interactive session (a terminal: tmux), started through
//! `claudectl launch`, against the mock Messages API and a real claude-meshd: the session
//! sits idle at its prompt; another session sends it a message through meshd; Claude Code
//! starts a turn by itself whose last user message holds `<channel source="claude-daemons"
//! …>` with the body; the session's next prompt does not repeat it through the hook.
//!
//! HOME is seeded with the feature-flag cache channels need on 2.1.329
//! (reference/claude-code-contract.md). When Claude Code skips the channel, the test fails
//! with the reason from its debug log. The one-time development-channel dialog is answered
//! when it is on screen, not by timed keystrokes.

#[path = "support/claude_home.rs"]
mod claude_home;
#[path = "support/meshd.rs"]
mod meshd;
#[path = "support/mock_anthropic.rs"]
mod mock_anthropic;
#[path = "support/repo.rs"]
mod repo;

use meshd::Meshd;
use mock_anthropic::{claude_bin, has_tool_result, last_user_text, newest_prompt, MockApi, Reply};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const BODY: &str = "please look at ticket 4711";

/// A tmux server of our own (its socket in the test's directory), one window.
struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S").arg(&self.socket);
        c
    }

    fn start(dir: &Path, script: &Path) -> Tmux {
        let t = Tmux {
            socket: dir.join("tmux.sock"),
        };
        let out = t
            .cmd()
            .args([
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                "c",
                "-x",
                "160",
                "-y",
                "48",
            ])
            .arg(format!("sh {}", script.display()))
            .output()
            .unwrap_or_else(|e| {
                panic!("tmux is needed for this test ({e}): run scripts/test, which installs it")
            });
        assert!(
            out.status.success(),
            "tmux: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let _ = t
            .cmd()
            .args(["set-option", "-t", "c", "remain-on-exit", "on"])
            .output();
        t
    }

    fn screen(&self) -> String {
        let out = self
            .cmd()
            .args(["capture-pane", "-p", "-t", "c"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let out = self
            .cmd()
            .args(["send-keys", "-t", "c"])
            .args(keys)
            .output()
            .unwrap();
        assert!(out.status.success());
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").output();
    }
}

fn write_home(home: &Path, cwd: &Path) {
    claude_home::seed(home, cwd, true);
    let hook = json!([{"matcher": "*", "hooks": [{"type": "command",
        "command": env!("CARGO_BIN_EXE_claude-hook"), "timeout": 10}]}]);
    let settings = json!({"hooks": {
        "SessionStart": hook, "UserPromptSubmit": hook, "PostToolUse": hook,
        "Stop": hook, "SessionEnd": hook,
    }});
    std::fs::write(home.join(".claude/settings.json"), settings.to_string()).unwrap();
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Wait for `f`, answering dialogs on screen meanwhile; on timeout show the screen and
/// the debug log.
fn wait(t: &Tmux, debug: &Path, secs: u64, what: &str, mut f: impl FnMut(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let screen = t.screen();
        let log = std::fs::read_to_string(debug).unwrap_or_default();
        if let Some(line) = log
            .lines()
            .find(|l| l.contains("Channel notifications skipped"))
        {
            panic!("Claude Code did not register our channel: {line}\nscreen:\n{screen}");
        }
        if f(&screen) {
            return;
        }
        // The one-time development-channel dialog (and the trust dialog, if it comes):
        // the first option accepts.
        if screen.contains("Loading development channels")
            || screen.contains("Do you trust the files in this folder")
        {
            t.keys(&["Enter"]);
            std::thread::sleep(Duration::from_millis(500));
            continue;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\nscreen:\n{screen}\ndebug log (tail):\n{}",
            log.lines().rev().take(40).collect::<Vec<_>>().join("\n")
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn an_idle_interactive_session_gets_a_message_through_its_channel() {
    let dir = meshd::scratch::kept(
        tempfile::Builder::new()
            .prefix("cmc")
            .tempdir_in("/tmp")
            .unwrap(),
    );
    let root = dir.path();
    let (home, cwd) = (root.join("home"), root.join("work"));
    std::fs::create_dir_all(&cwd).unwrap();
    write_home(&home, &cwd);
    let m = Meshd::start(&root.join("mesh"), &[]);
    // A prompt asking for the tool gets a Bash call, which needs the user's permission.
    let api = MockApi::start(|req| {
        if has_tool_result(req) {
            Reply::Text("Done.".into())
        } else if newest_prompt(req).contains("run the tool") {
            Reply::Tool {
                name: "Bash".into(),
                input: json!({"command": "touch relayed.txt && echo relayed-permission-ok",
                              "description": "Print a marker"}),
            }
        } else {
            Reply::Text("Noted.".into())
        }
    });

    let debug = root.join("claude-debug.log");
    let mcp = json!({"mcpServers": {"claude-daemons": {
        "type": "stdio", "command": env!("CARGO_BIN_EXE_claudectl"), "args": ["mcp"]}}});
    let mcp_path = root.join("mcp.json");
    std::fs::write(&mcp_path, mcp.to_string()).unwrap();
    let mut env: Vec<(String, String)> = m.env.clone();
    env.extend([
        ("HOME".into(), home.display().to_string()),
        ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
        ("TERM".into(), "xterm-256color".into()),
        ("ANTHROPIC_BASE_URL".into(), api.base_url()),
        ("ANTHROPIC_API_KEY".into(), "sk-ant-mock-key".into()),
        ("DISABLE_TELEMETRY".into(), "1".into()),
        ("DISABLE_AUTOUPDATER".into(), "1".into()),
        (
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC".into(),
            "1".into(),
        ),
        (
            "CLAUDE_CODE_GB_DISK_CACHE_WHEN_TELEMETRY_OFF".into(),
            "1".into(),
        ),
        (
            "CLAUDE_DAEMONS_SUPERVISOR_CLAUDE_BIN".into(),
            claude_bin().display().to_string(),
        ),
        // Permission requests go to the session named "reviewer".
        ("CLAUDE_DAEMONS_MESH_APPROVERS".into(), "reviewer".into()),
    ]);
    let mut script = String::from("cd ") + &shell_quote(&cwd.display().to_string()) + "\n";
    script.push_str("exec env -i");
    for (k, v) in &env {
        script.push_str(&format!(" {k}={}", shell_quote(v)));
    }
    script.push_str(&format!(
        // Ask for permissions (2.1.329 defaults to auto mode, which runs `echo` unasked).
        " {} launch --permission-mode default --mcp-config {} --debug-file {}\n",
        shell_quote(env!("CARGO_BIN_EXE_claudectl")),
        shell_quote(&mcp_path.display().to_string()),
        shell_quote(&debug.display().to_string()),
    ));
    let script_path = root.join("run.sh");
    std::fs::write(&script_path, script).unwrap();
    let t = Tmux::start(root, &script_path);

    // Registered: the debug log says so (a skip fails with its reason, in `wait`).
    wait(&t, &debug, 120, "the channel to register", |_| {
        std::fs::read_to_string(&debug)
            .unwrap_or_default()
            .contains("Channel notifications registered")
    });
    // The session: registered by claude-hook at SessionStart, with its channel connected.
    let mut session = String::new();
    wait(&t, &debug, 60, "the session's channel at meshd", |_| {
        let (_, peers) = m.get("/v1/peers");
        match peers
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["channel"] == true && p["online"] == true)
        {
            Some(p) => {
                session = p["session_id"].as_str().unwrap().to_string();
                true
            }
            None => false,
        }
    });
    let before = api.requests().len();

    // Another session sends; nobody types.
    let peer = "c0c0c0c0-0000-4000-8000-0000000000cc";
    m.register(peer, "reviewer", &[], &[]);
    let (code, v) = m.send(json!({"to": format!("session:{session}"), "body": BODY,
        "from_session": peer}));
    assert_eq!(code, 202, "{v}");
    let mut turn = Value::Null;
    wait(
        &t,
        &debug,
        90,
        "a request carrying the channel message",
        |_| match api.requests().into_iter().skip(before).find(|r| {
            let last = last_user_text(r);
            last.contains("<channel source=\"claude-daemons\"") && last.contains(BODY)
        }) {
            Some(r) => {
                turn = r;
                true
            }
            None => false,
        },
    );
    let last = last_user_text(&turn);
    assert!(last.contains("from_name=\"reviewer\""), "{last}");
    assert!(last.contains("UNTRUSTED"), "fenced as peer content: {last}");

    // The next prompt's hook does not repeat it.
    wait(&t, &debug, 60, "the turn to end", |s| s.contains("Noted."));
    let seen = api.requests().len();
    t.keys(&["-l", "what next?"]);
    std::thread::sleep(Duration::from_millis(300));
    t.keys(&["Enter"]);
    let mut next = Value::Null;
    wait(
        &t,
        &debug,
        90,
        "the request of the typed prompt",
        |_| match api
            .requests()
            .into_iter()
            .skip(seen)
            .find(|r| last_user_text(r).contains("what next?"))
        {
            Some(r) => {
                next = r;
                true
            }
            None => false,
        },
    );
    let last = last_user_text(&next);
    assert!(
        !last.contains(BODY),
        "the hook repeated the pushed message: {last}"
    );
    // Seen through the transcript: the hook found the pushed fence there.
    let unread = m.inbox(&format!("session={session}&unread_only=true"));
    assert!(unread.is_empty(), "{unread:?}");

    // Permission relay: the Bash call's permission request reaches the approver as a
    // message; the approver's `claudectl mesh approve` answers it through the channel and
    // the tool runs (nobody touches the terminal's dialog).
    wait(&t, &debug, 60, "the prompt's turn to end", |s| {
        s.matches("Noted.").count() >= 2
    });
    let before_tool = api.requests().len();
    t.keys(&["-l", "please run the tool"]);
    std::thread::sleep(Duration::from_millis(300));
    t.keys(&["Enter"]);
    let mut request_id = String::new();
    wait(&t, &debug, 90, "the relayed permission request", |_| {
        let (_, page) = m.get("/v1/inbox?limit=1000");
        match page["items"].as_array().unwrap().iter().find_map(|i| {
            i["meta"]["permission_request"]["request_id"]
                .as_str()
                .map(|id| (id.to_string(), i.clone()))
        }) {
            Some((id, item)) => {
                assert_eq!(item["priority"], "now", "{item}");
                assert_eq!(item["meta"]["permission_request"]["tool_name"], "Bash");
                assert_eq!(
                    item["meta"]["permission_request"]["session"],
                    session.as_str()
                );
                request_id = id;
                true
            }
            None => false,
        }
    });
    assert!(
        api.requests()
            .iter()
            .skip(before_tool)
            .all(|r| !has_tool_result(r)),
        "the tool ran before anyone answered"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_claudectl"))
        .args(["mesh", "approve", &request_id, "--from-session", peer])
        .envs(m.env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "approve: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait(
        &t,
        &debug,
        90,
        "the tool's result after the relayed approval",
        |_| {
            api.requests()
                .iter()
                .skip(before_tool)
                .any(|r| has_tool_result(r) && r.to_string().contains("relayed-permission-ok"))
        },
    );
}
