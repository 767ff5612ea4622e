//! `claudectl mcp` under the real Claude Code CLI (mock Messages API): the model searches a
//! real claude-memd and messages a peer through a real claude-meshd (local mode); and the
//! server on its own: daemons down and malformed JSON-RPC get answers, never a crash.

#[path = "support/meshd.rs"]
mod meshd;
#[path = "support/mock_anthropic.rs"]
mod mock_anthropic;
#[path = "support/repo.rs"]
mod repo;

use claude_daemons::http::UnixClient;
use meshd::Meshd;
use mock_anthropic::{has_tool_result, newest_prompt, MockApi, Reply};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CLAUDECTL: &str = env!("CARGO_BIN_EXE_claudectl");

/// claude-meshd and claude-memd sharing one runtime directory, as on a real machine.
struct Daemons {
    _root: tempfile::TempDir,
    mesh: Meshd,
    memd: Child,
    memd_socket: PathBuf,
}

impl Drop for Daemons {
    fn drop(&mut self) {
        let _ = self.memd.kill();
        let _ = self.memd.wait();
        self.mesh.stop();
    }
}

impl Daemons {
    fn start() -> Daemons {
        let root = tempfile::Builder::new()
            .prefix("cdmcp")
            .tempdir_in("/tmp")
            .unwrap();
        let mesh = Meshd::start(root.path(), &[("CLAUDE_DAEMONS_MESH_DISPLAY_NAME", "box")]);
        let memd = Command::new(env!("CARGO_BIN_EXE_claude-memd"))
            .args(["--foreground", "--idle-timeout", "0"])
            .envs(mesh.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(root.path().join("memd.log")).unwrap())
            .spawn()
            .expect("spawn claude-memd");
        let memd_socket = root.path().join("r/memd.sock");
        let d = Daemons {
            _root: root,
            mesh,
            memd,
            memd_socket,
        };
        d.wait_for("claude-memd health", || {
            d.memd_client()
                .get("/v1/health")
                .is_ok_and(|r| r.status == 200)
        });
        d
    }

    fn memd_client(&self) -> UnixClient {
        UnixClient::new(&self.memd_socket).timeout(Duration::from_secs(5))
    }

    fn env(&self) -> Vec<(String, String)> {
        self.mesh.env.clone()
    }

    fn wait_for(&self, what: &str, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !f() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A Read in an earlier session, through the hook intake, and wait until it is searchable.
    fn remember_read(&self, cwd: &Path, file: &str, content: &str, n: usize) {
        let payload = json!({
            "session_id": "s-earlier", "hook_event_name": "PostToolUse",
            "cwd": cwd, "transcript_path": "/dev/null",
            "tool_name": "Read", "tool_input": {"file_path": cwd.join(file)},
            "tool_response": {"type": "text", "file": {"filePath": cwd.join(file), "content": content, "numLines": 1, "startLine": 1, "totalLines": 1}},
            "tool_use_id": format!("toolu_earlier{n}"),
        });
        let r = self
            .memd_client()
            .post_json("/v1/hook", payload.to_string().as_bytes())
            .unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }

    fn search(&self, q: &str) -> Vec<Value> {
        let r = self
            .memd_client()
            .get(&format!("/v1/search?q={q}"))
            .unwrap();
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        v["results"].as_array().cloned().unwrap_or_default()
    }
}

/// The MCP config Claude Code is given: our server under the name the tools are called by.
fn mcp_config(dir: &Path, env: &[(String, String)]) -> PathBuf {
    let env: serde_json::Map<String, Value> = env
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let path = dir.join("mcp.json");
    let config = json!({"mcpServers": {"claude-daemons": {"type": "stdio", "command": CLAUDECTL, "args": ["mcp"], "env": env}}});
    std::fs::write(&path, config.to_string()).unwrap();
    path
}

/// The text of the tool_result blocks in the last user message of a request.
fn tool_result_text(req: &Value) -> String {
    let last = req["messages"].as_array().and_then(|m| m.last()).unwrap();
    last["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "tool_result")
        .map(|b| match &b["content"] {
            Value::String(s) => s.clone(),
            Value::Array(parts) => parts
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n"),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn run_claude(
    api: &MockApi,
    home: &Path,
    work: &Path,
    config: &Path,
    prompt: &str,
    tool: &str,
    session: Option<&str>,
) -> Child {
    let mut cmd = mock_anthropic::claude_command(api, home);
    if let Some(id) = session {
        cmd.args(["--session-id", id]);
    }
    cmd.current_dir(work)
        .args([
            "-p",
            prompt,
            "--output-format",
            "json",
            "--allowedTools",
            tool,
        ])
        .arg("--mcp-config")
        .arg(config)
        .arg("--strict-mcp-config")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn claude")
}

fn finish(child: Child) -> Value {
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "claude failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).expect("JSON result")
}

#[test]
fn claude_code_searches_memory_and_messages_a_peer_through_claudectl_mcp() {
    let d = Daemons::start();
    let dir = tempfile::tempdir().unwrap();
    let (home, work) = (dir.path().join("home"), dir.path().join("work"));
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    d.remember_read(
        &work,
        "flux_capacitor.rs",
        "fn charge() { /* 1.21 gigawatts */ }",
        1,
    );
    d.remember_read(&work, "hoverboard.rs", "fn hover() {}", 2);
    d.wait_for("the observations to be searchable", || {
        d.search("flux").len() == 1
    });
    let flux_id = d.search("flux")[0]["id"].as_i64().unwrap();
    d.mesh.register("s-bob", "bob", &[], &[]);
    let config = mcp_config(dir.path(), &d.env());

    // The model's first move is decided by the prompt; once a tool answered, it says "done".
    let api = MockApi::start(move |req| {
        if has_tool_result(req) {
            return Reply::Text("done".into());
        }
        let prompt = newest_prompt(req);
        if prompt.contains("flux") {
            Reply::Tool {
                name: "mcp__claude-daemons__search".into(),
                input: json!({"query": "flux capacitor"}),
            }
        } else if prompt.contains("bob") {
            Reply::Tool {
                name: "mcp__claude-daemons__send_message".into(),
                input: json!({"to": "bob", "body": "the flux capacitor is charged", "priority": "now"}),
            }
        } else {
            Reply::Text("nothing to do".into())
        }
    });

    let search = "mcp__claude-daemons__search";
    let result = finish(run_claude(
        &api,
        &home,
        &work,
        &config,
        "what about flux?",
        search,
        None,
    ));
    assert_eq!(result["result"], "done", "{result}");
    let answered = api
        .requests()
        .into_iter()
        .find(has_tool_result)
        .expect("the search tool result reached the API");
    let text = tool_result_text(&answered);
    assert!(text.contains(&format!("observation #{flux_id}")), "{text}");
    assert!(text.contains("flux_capacitor.rs"), "{text}");
    assert!(!text.contains("hoverboard"), "only the match: {text}");

    // Claude Code gives its MCP servers its session id in the environment; the session is
    // registered as claude-hook's SessionStart would, so it is the sender.
    let session = "0a1b2c3d-0000-4000-8000-00000000a11c";
    d.mesh.register(session, "alice", &[], &[]);
    let send = "mcp__claude-daemons__send_message";
    let result = finish(run_claude(
        &api,
        &home,
        &work,
        &config,
        "tell bob",
        send,
        Some(session),
    ));
    assert_eq!(result["result"], "done", "{result}");
    let answered = api
        .requests()
        .into_iter()
        .rev()
        .find(has_tool_result)
        .unwrap();
    let text = tool_result_text(&answered);
    assert!(text.contains("to bob"), "{text}");
    assert!(
        text.contains(&format!("session {session} (from $CLAUDE")),
        "the server knows its session: {text}"
    );
    let inbox = d.mesh.inbox("session=s-bob");
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert_eq!(inbox[0]["body"], "the flux capacitor is charged");
    assert_eq!(inbox[0]["priority"], "now");
    assert_eq!(inbox[0]["from"]["session"], session);
    assert_eq!(d.mesh.outbox("done").len(), 1);

    // claude-memd goes away: the model gets an error result naming it and the fix, and the
    // turn still ends normally.
    let mut d = d;
    d.memd.kill().unwrap();
    d.memd.wait().unwrap();
    let before = api.requests().len();
    let result = finish(run_claude(
        &api,
        &home,
        &work,
        &config,
        "flux again?",
        search,
        None,
    ));
    assert_eq!(result["result"], "done", "{result}");
    let answered = api.requests()[before..]
        .iter()
        .rev()
        .find(|r| has_tool_result(r))
        .cloned()
        .expect("a tool result");
    let block = answered["messages"].as_array().unwrap().last().unwrap()["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "tool_result")
        .cloned()
        .unwrap();
    assert_eq!(block["is_error"], true, "{block}");
    let text = tool_result_text(&answered);
    assert!(
        text.contains("claude-memd is not running") && text.contains("claudectl run"),
        "{text}"
    );
}

/// `claudectl mcp` driven over its stdin/stdout.
struct Server {
    child: Child,
    out: BufReader<std::process::ChildStdout>,
}

impl Server {
    fn start(env: &[(String, String)]) -> Server {
        Server::start_in(env, &std::env::current_dir().unwrap())
    }

    fn start_in(env: &[(String, String)], cwd: &Path) -> Server {
        let mut child = Command::new(CLAUDECTL)
            .arg("mcp")
            .current_dir(cwd)
            .env_remove("CLAUDE_SESSION_ID")
            .env_remove("CLAUDE_CODE_SESSION_ID")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        Server { child, out }
    }

    fn send_line(&mut self, line: &str) -> Value {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
        let mut answer = String::new();
        self.out.read_line(&mut answer).unwrap();
        assert!(!answer.is_empty(), "the server exited after {line:.80}");
        serde_json::from_str(&answer).unwrap()
    }

    fn call(&mut self, id: u32, tool: &str, args: Value) -> Value {
        let req = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": args}});
        let r = self.send_line(&req.to_string());
        assert_eq!(r["id"], id);
        r["result"].clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn daemons_down_and_malformed_json_rpc_get_answers_and_the_server_keeps_running() {
    let empty = tempfile::Builder::new()
        .prefix("cdmcp")
        .tempdir_in("/tmp")
        .unwrap();
    let env = vec![
        (
            "CLAUDE_DAEMONS_RUNTIME_DIR".to_string(),
            empty.path().display().to_string(),
        ),
        (
            "CLAUDE_DAEMONS_STATE_DIR".to_string(),
            empty.path().display().to_string(),
        ),
    ];
    let mut s = Server::start(&env);
    let init = s.send_line(r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}"#);
    assert_eq!(init["result"]["serverInfo"]["name"], "claude-daemons");

    let r = s.call(1, "search", json!({"query": "anything"}));
    assert_eq!(r["isError"], true);
    let text = r["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("claude-memd is not running") && text.contains("claudectl run"),
        "{text}"
    );
    let r = s.call(2, "send_message", json!({"to": "bob", "body": "hi"}));
    assert_eq!(r["isError"], true);
    assert!(r["content"][0]["text"]
        .as_str()
        .unwrap()
        .contains("claude-meshd is not running"));
    let r = s.call(3, "set_status", json!({"status": "dnd"}));
    assert!(
        r["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("session unknown"),
        "{r}"
    );

    // Malformed input: each line gets a JSON-RPC error, the next request is served.
    let bad = s.send_line("{\"jsonrpc\": \"2.0\", \"id\": 4, \"method\"");
    assert_eq!(bad["error"]["code"], -32700);
    let bad = s.send_line(r#"{"jsonrpc":"2.0","id":5,"method":"no/such"}"#);
    assert_eq!(
        (bad["id"].clone(), bad["error"]["code"].clone()),
        (json!(5), json!(-32601))
    );
    let bad =
        s.send_line(r#"{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"rm_rf"}}"#);
    assert_eq!(bad["error"]["code"], -32602);
    let bad = s.call(7, "search", json!({"qeury": "typo"}));
    assert_eq!(bad["isError"], true);
    assert!(
        bad["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("unknown field `qeury`"),
        "{bad}"
    );
    let huge = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"ping\",\"pad\":\"{}\"}}",
        "x".repeat(2 << 20)
    );
    assert_eq!(s.send_line(&huge)["error"]["code"], -32600);

    let list = s.send_line(r#"{"jsonrpc":"2.0","id":9,"method":"tools/list"}"#);
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "search",
            "timeline",
            "get_observations",
            "save_memory",
            "forget",
            "send_message",
            "read_inbox",
            "list_peers",
            "set_status",
            "answer_permission"
        ]
    );
    assert!(s.child.try_wait().unwrap().is_none(), "still running");
    drop(s.child.stdin.take());
    assert!(
        s.child.wait().unwrap().success(),
        "exits cleanly when stdin closes"
    );
}

#[test]
fn memory_and_mesh_tools_against_running_daemons() {
    let d = Daemons::start();
    // No session id in the environment: the server finds the peer registered for its parent
    // process (here the test, standing in for `claude`), as claude-hook registers it.
    let reg = json!({"session_id": "s-carol", "name": "carol", "pid": std::process::id()});
    let (status, body) = d.mesh.post("/v1/peers", &reg);
    assert_eq!(status, 200, "{body}");
    let (status, body) = d
        .mesh
        .post("/v1/peers", &json!({"session_id": "s-bob", "name": "bob"}));
    assert_eq!(status, 200, "{body}");
    let mut s = Server::start(&d.env());
    let saved = s.call(1, "save_memory", json!({"text": "Deploys need the VPN.\nRun make deploy. <private>the VPN password is hunter2</private>", "title": "Deploy via VPN", "type": "decision", "facts": ["vpn: corp"]}));
    assert_eq!(saved["isError"], false, "{saved}");
    d.wait_for("the saved memory to be searchable", || {
        d.search("VPN").len() == 1
    });
    let hit = s.call(2, "search", json!({"query": "VPN"}));
    let text = hit["content"][0]["text"].as_str().unwrap().to_string();
    assert!(
        text.contains("[decision]") && text.contains("Deploy via VPN"),
        "{text}"
    );
    let id = d.search("VPN")[0]["id"].as_i64().unwrap();
    let full = s.call(3, "get_observations", json!({"ids": [id, 999999]}));
    let text = full["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("vpn: corp") && text.contains("No observation with id: [999999]"),
        "{text}"
    );
    assert!(text.contains("Run make deploy."), "{text}");
    assert!(
        !text.contains("hunter2"),
        "private parts are not stored: {text}"
    );
    let tl = s.call(4, "timeline", json!({"anchor": id}));
    assert!(
        tl["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains(&format!("→ observation #{id}")),
        "{tl}"
    );
    // forget: a server working in another project cannot reach this record; ours can.
    let elsewhere = tempfile::tempdir().unwrap();
    let mut stranger = Server::start_in(&d.env(), elsewhere.path());
    let r = stranger.call(1, "forget", json!({"ids": [id]}));
    let text = r["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("Not in this project's memory"), "{text}");
    assert_eq!(d.search("VPN").len(), 1);
    let r = s.call(40, "forget", json!({"ids": [id]}));
    let text = r["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains(&format!("Forgotten for good: [{id}]")),
        "{text}"
    );
    assert!(d.search("VPN").is_empty());

    let st = s.call(
        5,
        "set_status",
        json!({"status": "dnd", "summary": "deploying"}),
    );
    assert!(
        st["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("now dnd — deploying"),
        "{st}"
    );
    let peers = s.call(6, "list_peers", json!({}));
    let text = peers["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("carol session s-carol (you) [dnd]"), "{text}");
    assert!(text.contains("bob session s-bob [idle] local"), "{text}");
    let sent = d
        .mesh
        .send(json!({"to": "s-carol", "body": "ping carol", "priority": "now"}));
    assert!(sent.0 < 300, "{sent:?}");
    d.wait_for("delivery", || !d.mesh.inbox("session=s-carol").is_empty());
    let inbox = s.call(7, "read_inbox", json!({}));
    let text = inbox["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("ping carol") && text.contains("untrusted-peer-message"),
        "{text}"
    );
    // A session id Claude Code names but claude-hook never registered: sent as the member.
    let mut env = d.env();
    env.push(("CLAUDE_CODE_SESSION_ID".into(), "s-unhooked".into()));
    let mut unhooked = Server::start(&env);
    let r = unhooked.call(
        1,
        "send_message",
        json!({"to": "bob", "body": "from nowhere"}),
    );
    let text = r["content"][0]["text"].as_str().unwrap();
    assert_eq!(r["isError"], false, "{r}");
    assert!(
        text.contains("this machine's member") && text.contains("s-unhooked"),
        "{text}"
    );
    let again = s.call(8, "read_inbox", json!({}));
    assert!(
        again["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("No messages."),
        "read once: {again}"
    );
}
