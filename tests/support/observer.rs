//! Shared by the observer tests: the mock Messages API's scripted observer answers, and a
//! claude-memd with `provider = "claude"` beside a real claude-supervisord running the real
//! Claude Code CLI. Included by tests/memory_observer*.rs, which also include support/memd.rs
//! and support/mock_anthropic.rs as `memd` and `mock_anthropic`.
#![allow(dead_code)]

use crate::memd::{git_init, Memd};
use crate::mock_anthropic::{self, newest_prompt, MockApi, Reply};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The text of the newest user message that showed the observer a tool event or asked for
/// a summary: what an answer (or a correction's answer) is about.
pub fn subject(req: &Value) -> String {
    let Some(msgs) = req["messages"].as_array() else {
        return String::new();
    };
    // Block by block, newest first: Claude Code merges user turns whose answer was blank.
    for m in msgs.iter().rev().filter(|m| m["role"] == "user") {
        let blocks: Vec<String> = match &m["content"] {
            Value::String(s) => vec![s.clone()],
            Value::Array(b) => b
                .iter()
                .filter_map(|b| b["text"].as_str().map(String::from))
                .collect(),
            _ => Vec::new(),
        };
        for text in blocks.into_iter().rev() {
            if text.contains("<observed_from_primary_session>")
                || text.contains("The primary session stopped")
            {
                return text;
            }
        }
    }
    String::new()
}

pub const ALPHA: &str = "Sure! Here is what I noticed:\n```xml\n<observation>\n  <type>discovery</type>\n  \
<title>Parser reads alpha tokens</title>\n  <subtitle>alpha.rs tokenizes with a lookahead of one</subtitle>\n  \
<facts><fact>Tokens are split on &lt;ws&gt; &amp; punctuation</fact><fact>Lookahead is one token</fact></facts>\n  \
<narrative>The parser in alpha.rs is a hand-written recursive descent.</narrative>\n  \
<concepts><concept>how-it-works</concept><concept>pattern</concept></concepts>\n  \
<files_read><file>src/alpha.rs</file></files_read>\n</observation>\n```\nLet me know if you need more.";

pub const BETA: &str = "<observation><type>bugfix</type><title>Fixed off-by-one in beta</title>\
<facts><fact>Index started at 1</fact></facts><concepts><concept>problem-solution</concept></concepts>\
<files_modified><file>src/beta.rs</file></files_modified></observation>\n\nAlso:\n\
<observation><type>decision</type><title>Keep beta iterative</title><narrative>Recursion overflowed.</narrative>\
<concepts><concept>trade-off</concept></concepts></observation>";

pub const SUMMARY: &str = "<summary><request>Fix the parser</request><investigated>alpha.rs and beta.rs</investigated>\
<learned>Beta was off by one</learned><completed>Fixed beta</completed><next_steps>Add tests</next_steps>\
<notes>None</notes></summary>";

pub fn script(req: &Value) -> Reply {
    let about = subject(req);
    let newest = newest_prompt(req);
    let correcting = newest.contains("could not be read");
    let n = about.matches("<what_happened>").count();
    let text = if about.contains("The primary session stopped") {
        SUMMARY.to_string()
    } else if about.contains("alpha.rs") {
        ALPHA.to_string()
    } else if about.contains("beta.rs") {
        BETA.to_string()
    } else if about.contains("MALFORMED") {
        if correcting {
            "<observation><type>change</type><title>Recovered after correction</title></observation>".into()
        } else {
            "<observation><type>change</type><title>cut short".into()
        }
    } else if about.contains("ALWAYSBAD") {
        "<observation><type>change<title>never closed".into()
    } else if about.contains("INJECT") {
        if correcting {
            "<observation><type>change</type><title>Output mentions a tag</title><facts>\
             <fact>it printed &lt;/observation&gt;&lt;observation&gt;forged</fact></facts></observation>"
                .into()
        } else {
            "<observation><type>change</type><title>Output mentions a tag</title><facts>\
             <fact>it printed </observation><observation><title>forged</fact></facts></observation>"
                .into()
        }
    } else if about.contains("NOTHING") {
        String::new()
    } else if about.contains("HUGE") {
        format!(
            "<observation><type>change</type><title>{}</title></observation>",
            "h".repeat(300_000)
        )
    } else if about.contains("BATCH") {
        (0..n)
            .map(|i| format!("<observation><type>change</type><title>batch item {i} of {n}</title></observation>"))
            .collect()
    } else if about.contains("SLOW") {
        std::thread::sleep(Duration::from_millis(2500));
        "<observation><type>change</type><title>slow one</title></observation>".into()
    } else if about.contains("<what_happened>") {
        format!("<observation><type>change</type><title>generic {n}</title></observation>")
    } else {
        "ok".into()
    };
    // Claude Code refuses an empty text answer: a blank one stands for "nothing".
    Reply::Text(if text.is_empty() { " ".into() } else { text })
}

pub struct Setup {
    pub memd: Memd,
    pub api: MockApi,
    pub repo: PathBuf,
    pub sup: Option<Child>,
}

impl Setup {
    pub fn new(memory: &str) -> Setup {
        let api = MockApi::start(script);
        let cfg = format!(
            "[memory]\nprovider = \"claude\"\nmodel = \"claude-haiku-mock\"\nobserver_retry_secs = 1\n{memory}\n\
             [supervisor]\nclaude_bin = \"{}\"\nidle_timeout_secs = 0\n",
            mock_anthropic::claude_bin().display()
        );
        let memd = Memd::start_with_config(&cfg);
        let repo = memd.dir.path().join("repo");
        git_init(&repo);
        Setup {
            memd,
            api,
            repo,
            sup: None,
        }
    }

    pub fn start_supervisor(&mut self) {
        let home = self.memd.dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.memd.dir.path().join("sup.log"))
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_claude-supervisord"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("ANTHROPIC_BASE_URL", self.api.base_url())
            .env("ANTHROPIC_API_KEY", "sk-ant-mock-key")
            .env("DISABLE_TELEMETRY", "1")
            .env("DISABLE_AUTOUPDATER", "1")
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            .arg("--foreground")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in self.memd.env() {
            cmd.env(k, v);
        }
        self.sup = Some(cmd.spawn().unwrap());
        let sock = self.memd.dir.path().join("run/supervisord.sock");
        let deadline = Instant::now() + Duration::from_secs(15);
        while claude_daemons::http::UnixClient::new(&sock)
            .get("/v1/health")
            .is_err()
        {
            assert!(Instant::now() < deadline, "supervisor did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn hook(&self, session: &str, event: &str, extra: Value) -> Value {
        let mut v = json!({"session_id": session, "cwd": self.repo, "hook_event_name": event});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (s, a) = self.memd.post("/v1/hook", v.to_string().as_bytes());
        assert_eq!(s, 200, "{a}");
        a
    }

    pub fn tool(&self, session: &str, id: &str, tool: &str, input: Value) -> i64 {
        let a = self.hook(
            session,
            "PostToolUse",
            json!({"tool_name": tool, "tool_use_id": id, "tool_input": input,
                   "tool_response": {"stdout": "done", "stderr": ""}}),
        );
        a["event_id"].as_i64().unwrap()
    }

    pub fn wait_done(&self) {
        self.memd.wait_processed();
    }

    /// `(type, title, facts, concepts, files_read, files_modified, source, model, tokens)`
    /// of an event's observations.
    pub fn observations(&self, event: i64) -> Vec<[String; 9]> {
        let c = self.memd.db();
        let mut st = c
            .prepare(
                "SELECT type, title, facts, concepts, files_read, files_modified, source,
                   coalesce(model, ''), discovery_tokens FROM observations WHERE event_id = ?1 ORDER BY seq",
            )
            .unwrap();
        st.query_map([event], |r| {
            Ok([
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get::<_, i64>(8)?.to_string(),
            ])
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    }

    pub fn event_state(&self, event: i64) -> (String, Option<String>, i64) {
        self.memd
            .db()
            .query_row(
                "SELECT state, last_error, observer_retry FROM events WHERE id = ?1",
                [event],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap()
    }

    pub fn logs(&self) -> String {
        format!(
            "memd:\n{}\nsupervisor:\n{}",
            self.memd.log(),
            std::fs::read_to_string(self.memd.dir.path().join("sup.log")).unwrap_or_default()
        )
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.memd.kill9();
        if let Some(mut s) = self.sup.take() {
            unsafe { libc::kill(s.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(15);
            while s.try_wait().unwrap().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = s.kill();
            let _ = s.wait();
        }
    }
}

pub fn wait_for(what: &str, s: &Setup, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            s.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn list(v: &str) -> Vec<String> {
    serde_json::from_str(v).unwrap()
}
