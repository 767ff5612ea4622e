//! The memory viewer's figures, with 100,000 observations in the store:
//!
//! - server time for the first page and for further pages (`GET /api/observations`, 30 a
//!   page, the page's own size), against `GET /v1/version` on the same socket;
//! - time from a hook's acknowledgement to its card in the page (headless Chromium; the
//!   page timestamps the card's arrival with a MutationObserver, same wall clock);
//! - the page's JS heap and DOM size after scrolling through 5,000 records.
//!
//! Needs chromium and chromedriver (scripts/test installs them). Run: `cargo bench --bench
//! viewer` (release build; about a minute with the data set).

#[path = "../tests/support/http.rs"]
mod http;
#[path = "support.rs"]
mod support;
#[path = "../tests/support/webdriver.rs"]
mod webdriver;

use claude_daemons::http::UnixClient;
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::{report, Samples};
use webdriver::{Chromedriver, Client};

const TOTAL: usize = 100_000;

/// A claude-memd child, killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// 100,000 observations in 20 projects, straight into the schema (the FTS triggers run).
fn populate(db: &std::path::Path) {
    let mut c = rusqlite::Connection::open(db).unwrap();
    c.busy_timeout(Duration::from_secs(30)).unwrap();
    let tx = c.transaction().unwrap();
    {
        let mut st = tx
            .prepare(
                "INSERT INTO observations (session_id, project, project_name, type, title, subtitle,
                   facts, narrative, files_read, files_modified, prompt_number, created_at,
                   created_at_epoch)
                 VALUES (?1, ?2, ?3, 'change', ?4, ?5, ?6, ?7, '[]', ?8, 1,
                   strftime('%Y-%m-%dT%H:%M:%fZ', ?9, 'unixepoch'), ?9)",
            )
            .unwrap();
        for i in 0..TOTAL {
            let p = i % 20;
            let file = format!("/src/module{}/file{i}.rs", i % 97);
            st.execute(rusqlite::params![
                format!("s{}", i / 40),
                format!("/home/u/project{p}"),
                format!("project{p}"),
                format!("Edited {file}"),
                format!("1 edit(s) in {file}"),
                json!([format!("Replaced line {} with a faster loop", i % 300)]).to_string(),
                "The loop no longer copies the buffer on each pass, which removes an allocation.",
                json!([file]).to_string(),
                1_700_000_000 + i as i64
            ])
            .unwrap();
        }
    }
    tx.commit().unwrap();
}

fn server_pages(client: &UnixClient) {
    let n = 300;
    let time = |path: &str| {
        let t = Instant::now();
        let r = client.get(path).unwrap();
        assert_eq!(r.status, 200, "{path}");
        t.elapsed()
    };
    let base = Samples::new((0..n).map(|_| time("/v1/version")).collect());
    let first = Samples::new(
        (0..n)
            .map(|_| time("/api/observations?limit=30&offset=0"))
            .collect(),
    );
    let further = Samples::new(
        (0..n)
            .map(|i| {
                time(&format!(
                    "/api/observations?limit=30&offset={}",
                    30 + i * 30
                ))
            })
            .collect(),
    );
    let project = Samples::new(
        (0..n)
            .map(|i| {
                time(&format!(
                    "/api/observations?project=project{}&limit=30&offset={}",
                    i % 20,
                    (i % 100) * 30
                ))
            })
            .collect(),
    );
    println!("## pages of 30 over {TOTAL} observations (round trip on the Unix socket)");
    report("GET /v1/version (baseline)", &base, None);
    report("first page", &first, Some(("version", &base)));
    report(
        "further pages (offset 30..9,000)",
        &further,
        Some(("version", &base)),
    );
    report(
        "one project's pages (offset 0..2,970)",
        &project,
        Some(("version", &base)),
    );
}

async fn browser(driver_port: u16, profile: &std::path::Path) -> Client {
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-dev-shm-usage", "--enable-precise-memory-info",
                "--window-size=1280,900", format!("--user-data-dir={}", profile.display()),
            ],
        },
    });
    Client::connect(driver_port, caps)
        .await
        .expect("a Chromium session (chromium and chromedriver: run scripts/test)")
}

async fn until(c: &Client, script: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let v = c.execute(script, vec![]).await.unwrap();
        if v != Value::Null && v != Value::Bool(false) {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out: {script}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1e3
}

const WATCH: &str = "window.__arrived = {};
new MutationObserver((ms) => { for (const m of ms) for (const n of m.addedNodes) {
  if (n.dataset && n.dataset.key) window.__arrived[n.querySelector('h3').textContent] = Date.now();
} }).observe(document.getElementById('list'), { childList: true });
return true;";

fn main() {
    let dir = tempfile::Builder::new()
        .prefix("cdv")
        .tempdir_in("/tmp")
        .unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("run")).unwrap();
    std::fs::create_dir_all(d.join("state")).unwrap();
    std::fs::write(d.join("config.toml"), "").unwrap();
    let env = [
        ("CLAUDE_DAEMONS_RUNTIME_DIR", d.join("run")),
        ("CLAUDE_DAEMONS_STATE_DIR", d.join("state")),
        ("CLAUDE_DAEMONS_CONFIG", d.join("config.toml")),
    ];
    let port = http::free_port();
    let memd = Proc(
        Command::new(env!("CARGO_BIN_EXE_claude-memd"))
            .args(["--foreground", "--idle-timeout", "0"])
            .envs(env.iter().cloned())
            .env("CLAUDE_DAEMONS_MEMORY_VIEWER_PORT", port.to_string())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let client = UnixClient::new(d.join("run/memd.sock")).timeout(Duration::from_secs(30));
    // The schema exists once the daemon answers.
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.get("/v1/health").map(|r| r.status).ok() != Some(200) {
        assert!(Instant::now() < deadline, "claude-memd did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let t = Instant::now();
    populate(&d.join("state/memory.db"));
    println!(
        "## data set: {TOTAL} observations inserted in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    server_pages(&client);

    let driver = Chromedriver::start(std::path::Path::new("chromedriver"));
    let driver_port = driver.port;
    let url = {
        let out = Command::new(env!("CARGO_BIN_EXE_claudectl"))
            .args(["mem", "open", "--print-url"])
            .envs(env.iter().cloned())
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let repo = d.join("live");
    std::fs::create_dir_all(&repo).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = browser(driver_port, &d.join("profile")).await;
        c.goto(&url).await.unwrap();
        until(&c, "return document.body.dataset.ready === 'true' && document.getElementById('live').classList.contains('on') && document.querySelectorAll('#list .card').length > 0").await;
        c.execute(WATCH, vec![]).await.unwrap();

        // Hook acknowledged → card in the page.
        let n = 50;
        let mut lat = Vec::new();
        for i in 0..n {
            let name = format!("livebench{i}");
            let body = json!({"session_id": "bench", "cwd": repo, "hook_event_name": "PostToolUse",
                "tool_name": "Edit", "tool_use_id": name,
                "tool_input": {"file_path": repo.join(format!("{name}.rs")), "old_string": "a", "new_string": "b"}});
            let r = client.post_json("/v1/hook", body.to_string().as_bytes()).unwrap();
            assert_eq!(r.status, 200);
            let acked = now_ms();
            let script = format!("return window.__arrived['Edited {name}.rs'] || null");
            let arrived = until(&c, &script).await.as_f64().unwrap();
            lat.push(Duration::from_secs_f64((arrived - acked).max(0.0) / 1e3));
        }
        println!("## hook acknowledged → card in the page (headless Chromium, SSE)");
        report("hook ack → card", &Samples::new(lat), None);

        // Scroll through 5,000 records.
        c.refresh().await.unwrap();
        until(&c, "return document.body.dataset.ready === 'true' && document.querySelectorAll('#list .card').length > 0").await;
        let heap0 = c.execute("return performance.memory.usedJSHeapSize", vec![]).await.unwrap();
        let t = Instant::now();
        let mut reached = 0;
        // Bounded: report how far it got rather than hang.
        while reached < 5_000 && t.elapsed() < Duration::from_secs(90) {
            let off = c.execute("window.scrollTo(0, document.body.scrollHeight); return window.__viewer.offset", vec![]).await.unwrap();
            reached = off.as_u64().unwrap();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let scrolled = t.elapsed();
        println!("  records loaded by scrolling: {reached}");
        if reached < 5_000 {
            // Where it stopped: [loading, hasMore, sentinel top, window height, scrollY, page height, errors].
            let state = c.execute("const v = window.__viewer; const r = document.getElementById('sentinel').getBoundingClientRect(); return [v.loading, v.hasMore, r.top, window.innerHeight, window.scrollY, document.body.scrollHeight, window.__viewerErrors]", vec![]).await.unwrap();
            println!("  stalled: {state}");
        }
        let after = c.execute("return [performance.memory.usedJSHeapSize, document.querySelectorAll('#list .card').length, document.getElementsByTagName('*').length]", vec![]).await.unwrap();
        println!("## scrolling through 5,000 records");
        println!(
            "  {:.1} s; JS heap before {:.1} MiB, after {:.1} MiB; cards in the DOM {}; elements {}",
            scrolled.as_secs_f64(),
            heap0.as_f64().unwrap() / 1048576.0,
            after[0].as_f64().unwrap() / 1048576.0,
            after[1],
            after[2]
        );
        c.close().await.unwrap();
    });
    drop(memd);
}
