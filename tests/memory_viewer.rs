//! The memory viewer in a real browser: Debian's headless Chromium driven over WebDriver
//! (chromedriver, through tests/support/webdriver.rs) against a real claude-memd fed through `/v1/hook`.
//! Login through the one-time link, records rendering, live cards without a reload, nothing
//! missed across a dropped stream, scrolling with a bounded DOM, the project filter, search,
//! delete, the theme across a reload, no request off loopback and no console errors; team
//! memory's filter of this member's and teammates' records. The
//! screenshots are kept in the target directory (`viewer-*.png`).

#[path = "support/memd.rs"]
mod memd;
#[path = "support/nats.rs"]
mod nats;
#[path = "support/webdriver.rs"]
mod webdriver;

use memd::{contains, git_init, Memd};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use webdriver::{Chromedriver, Client, Locator};

/// Generous: the machine may be loaded; every wait ends as soon as its condition holds.
const WAIT: Duration = Duration::from_secs(60);

/// chromedriver and the fresh browser profile of this test.
struct Driver {
    chromedriver: Chromedriver,
    /// Holds the fresh browser profile.
    dir: tempfile::TempDir,
}

fn need(tool: &str) -> PathBuf {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(tool))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| {
        panic!(
            "{tool} is missing (Debian packages chromium and chromium-driver): run scripts/test, which installs what the tests need"
        )
    })
}

impl Driver {
    fn start() -> Driver {
        need("chromium");
        Driver {
            chromedriver: Chromedriver::start(&need("chromedriver")),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    async fn browser(&self) -> Client {
        let profile = self.dir.path().join("profile");
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": need("chromium"),
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--disable-dev-shm-usage", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        });
        Client::connect(self.chromedriver.port, caps)
            .await
            .expect("a Chromium session")
    }
}

/// Run `script` until it returns true.
async fn until(c: &Client, what: &str, script: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let v = c.execute(script, vec![]).await.expect(what);
        if v == Value::Bool(true) {
            return;
        }
        let errors = c
            .execute("return window.__viewerErrors || []", vec![])
            .await
            .unwrap();
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what} (last value {v}, page errors {errors})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn eval(c: &Client, script: &str) -> Value {
    c.execute(script, vec![]).await.expect(script)
}

fn hook(m: &Memd, repo: &Path, session: &str, event: &str, extra: Value) {
    let mut v = json!({"session_id": session, "cwd": repo, "hook_event_name": event});
    v.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let (s, a) = m.post("/v1/hook", v.to_string().as_bytes());
    assert_eq!(s, 200, "{a}");
}

fn edit(m: &Memd, repo: &Path, session: &str, name: &str) {
    hook(
        m,
        repo,
        session,
        "PostToolUse",
        json!({"tool_name": "Edit", "tool_use_id": format!("{session}-{name}"),
               "tool_input": {"file_path": repo.join(format!("src/{name}.rs")),
                              "old_string": "a", "new_string": "b"}}),
    );
}

fn login_url(m: &Memd) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_claudectl"));
    cmd.args(["mem", "open", "--print-url"]);
    for (k, v) in m.env() {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn artefact(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}

const CARDS: &str = "return document.querySelectorAll('#list .card').length";

/// 200 observations in `alpha` (more than the page keeps), 5 in `beta`, one prompt.
fn seed(m: &Memd) -> (PathBuf, PathBuf) {
    let alpha = m.dir.path().join("alpha");
    let beta = m.dir.path().join("beta");
    git_init(&alpha);
    git_init(&beta);
    hook(
        m,
        &alpha,
        "s-alpha",
        "UserPromptSubmit",
        json!({"prompt": "tidy the alpha modules"}),
    );
    for i in 0..200 {
        edit(m, &alpha, "s-alpha", &format!("alphamod{i:03}"));
    }
    for i in 0..5 {
        edit(m, &beta, "s-beta", &format!("betamod{i}"));
    }
    m.wait_processed();
    (alpha, beta)
}

#[test]
fn the_viewer_in_headless_chromium() {
    let driver = Driver::start();
    let mut m = Memd::start_with_viewer();
    let (alpha, _beta) = seed(&m);
    let base = format!("http://127.0.0.1:{}", m.viewer_port);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = driver.browser().await;

        // Without the cookie: the 401 page naming the command.
        c.goto(&base).await.unwrap();
        let body = c.find(Locator::Css("body")).await.unwrap().text().await.unwrap();
        assert!(body.contains("claudectl mem open"), "{body}");

        // The one-time link logs in and shows the page; a second visit is refused.
        let url = login_url(&m);
        c.goto(&url).await.unwrap();
        until(&c, "the page to start", "return document.body.dataset.ready === 'true'").await;
        assert_eq!(c.current_url().await.unwrap().path(), "/");
        until(&c, "the newest card", "return !!document.querySelector('#list .card') && document.querySelector('#list .card h3').textContent.includes('betamod4')").await;
        c.goto(&url).await.unwrap();
        let body = c.find(Locator::Css("body")).await.unwrap().text().await.unwrap();
        assert!(body.contains("already used"), "{body}");
        c.goto(&base).await.unwrap();
        until(&c, "the page again (cookie)", "return document.body.dataset.ready === 'true'").await;
        until(&c, "live stream", "return document.getElementById('live').classList.contains('on')").await;

        // A hook while the page is open: its card appears without a reload.
        edit(&m, &alpha, "s-alpha", "livecardone");
        until(&c, "the live card", "return [...document.querySelectorAll('#list .card h3')].some(h => h.textContent.includes('livecardone'))").await;
        let png = c.screenshot().await.unwrap();
        std::fs::write(artefact("viewer-desktop.png"), png).unwrap();

        // The stream drops (daemon restarted); records stored meanwhile are all shown once.
        m.stop();
        until(&c, "the page to notice the drop", "return !document.getElementById('live').classList.contains('on')").await;
        m.spawn();
        for name in ["gapone", "gaptwo", "gapthree"] {
            edit(&m, &alpha, "s-alpha", name);
        }
        until(&c, "the missed cards", "const t = [...document.querySelectorAll('#list .card h3')].map(h => h.textContent); return ['gapone','gaptwo','gapthree'].every(w => t.filter(x => x.includes(w)).length === 1)").await;
        until(&c, "live again", "return document.getElementById('live').classList.contains('on')").await;

        // Scrolling loads older pages down to the oldest record, with the DOM bounded.
        let mut most = 0;
        let deadline = Instant::now() + WAIT * 3;
        loop {
            let done = eval(&c, "return [...document.querySelectorAll('#list .card h3')].some(h => h.textContent.includes('alphamod000'))").await;
            let n = eval(&c, CARDS).await.as_u64().unwrap();
            most = most.max(n);
            if done == Value::Bool(true) {
                break;
            }
            assert!(Instant::now() < deadline, "scrolling never reached the oldest record ({n} cards)");
            eval(&c, "window.scrollTo(0, document.body.scrollHeight); return true").await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(most <= 150, "the DOM grew to {most} cards");
        assert_eq!(eval(&c, "return document.getElementById('newer').hidden").await, Value::Bool(false));
        let heap = eval(&c, "return performance.memory ? performance.memory.usedJSHeapSize : 0").await;
        eprintln!("JS heap after scrolling 209 records: {heap} bytes");

        // The project filter narrows the list to that project, and is remembered.
        c.find(Locator::Id("newer")).await.unwrap().click().await.unwrap();
        c.find(Locator::Id("project")).await.unwrap().select_by_value("beta").await.unwrap();
        until(&c, "only beta's five cards", "const cs = [...document.querySelectorAll('#list .card')]; return cs.length === 5 && cs.every(c => c.textContent.includes('betamod'))").await;
        // The context preview of the selected project: what its next session starts with.
        until(&c, "beta's context preview", "return document.getElementById('context').textContent.includes('betamod')").await;

        // Search: matches highlighted, narrowed to the project.
        let search = c.find(Locator::Id("search")).await.unwrap();
        search.send_keys("betamod3").await.unwrap();
        until(&c, "one highlighted match", "const cs = document.querySelectorAll('#list .card'); return cs.length === 1 && !!cs[0].querySelector('mark')").await;
        eval(&c, "const s = document.getElementById('search'); s.value = ''; s.dispatchEvent(new Event('input')); return true").await;
        until(&c, "the feed back", "return document.querySelectorAll('#list .card').length === 5").await;

        // Delete, with confirmation: gone from the page, the API and the file.
        let (_, page) = m.get("/api/observations?project=beta&limit=1");
        let id = page["observations"][0]["id"].as_i64().unwrap();
        let title = page["observations"][0]["title"].as_str().unwrap().to_string();
        let card = c.find(Locator::Css(&format!("[data-key='observation-{id}']"))).await.unwrap();
        card.find(Locator::Css("button.delete")).await.unwrap().click().await.unwrap();
        card.find(Locator::Css("button.confirm-delete")).await.unwrap().click().await.unwrap();
        until(&c, "the card gone", &format!("return !document.querySelector(\"[data-key='observation-{id}']\")")).await;
        assert_eq!(m.get(&format!("/v1/observations/{id}")).0, 404);
        assert!(title.contains("betamod4"), "{title}");
        assert!(!contains(&m.raw_bytes(), "betamod4"), "a copy is left in the database or WAL");

        assert_eq!(eval(&c, "return window.__viewerErrors").await, json!([]));

        // The theme survives a reload (stored through /api/settings).
        let before = eval(&c, "return document.documentElement.dataset.theme || ''").await;
        c.find(Locator::Id("theme")).await.unwrap().click().await.unwrap();
        let after = eval(&c, "return document.documentElement.dataset.theme").await;
        assert_ne!(before, after);
        until(&c, "the theme saved", &format!("return fetch('/api/settings').then(r => r.json()).then(s => s.theme === {after})")).await;
        c.refresh().await.unwrap();
        until(&c, "the page after reload", "return document.body.dataset.ready === 'true'").await;
        assert_eq!(eval(&c, "return document.documentElement.dataset.theme").await, after);
        assert_eq!(eval(&c, "return document.getElementById('project').value").await, "beta");

        // A search result opens its record and its timeline in the side panel.
        c.find(Locator::Id("search")).await.unwrap().send_keys("betamod3").await.unwrap();
        until(&c, "the match again", "return !!document.querySelector('#list .card.result mark')").await;
        c.find(Locator::Css("#list .card.result h3")).await.unwrap().click().await.unwrap();
        until(&c, "the record and its timeline", "const d = document.getElementById('detail'); const a = d.querySelector('ol.timeline li.anchor'); return !!d.querySelector('.card') && d.querySelector('.card').textContent.includes('betamod3') && !!a && a.textContent.includes('betamod3')").await;

        // A phone-width window: no sideways scrolling.
        c.set_window_size(390, 844).await.unwrap();
        until(&c, "no horizontal overflow", "return document.documentElement.scrollWidth <= window.innerWidth").await;
        std::fs::write(artefact("viewer-phone.png"), c.screenshot().await.unwrap()).unwrap();

        // Nothing left loopback, nothing went wrong.
        let off = eval(&c, "return performance.getEntriesByType('resource').map(e => e.name).filter(u => !u.startsWith(location.origin))").await;
        assert_eq!(off, json!([]), "requests off this origin");
        assert_eq!(eval(&c, "return window.__viewerErrors").await, json!([]));
        c.close().await.unwrap();
    });
}

/// A clone of `acme/app` at `dir`, shared through `m`.
fn shared_clone(m: &Memd, dir: &Path) {
    git_init(dir);
    let ok = Command::new("git")
        .args(["remote", "add", "origin", "git@github.com:acme/app.git"])
        .current_dir(dir)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let body = json!({"project": dir, "enabled": true}).to_string();
    let (s, r) = m.post("/v1/share", body.as_bytes());
    assert_eq!(s, 200, "{r}");
}

/// Whether `m` holds a teammate's record that matches `word`.
fn has_team_record(m: &Memd, word: &str) -> bool {
    let (_, r) = m.get(&format!("/v1/search?q={word}&who=team&mode=lexical"));
    r["results"].as_array().is_some_and(|r| !r.is_empty())
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The titles of the cards on the page, as a script's expression.
const TITLES: &str = "[...document.querySelectorAll('#list .card h3')].map(h => h.textContent)";

/// Team memory (issue 19): ann's viewer shows her own records, bob's (shared through a real
/// nats-server), or both; in the feed, for live cards and in search.
#[test]
fn the_viewer_filters_mine_and_teammates_records() {
    let driver = Driver::start();
    let tmp = tempfile::tempdir().unwrap();
    let broker = nats::Nats::start(tmp.path());
    let config = |name: &str| {
        format!(
            "[mesh]\ndisplay_name = \"{name}\"\n[memory.share]\nbroker_url = \"{}\"\nteam = \"acme\"\nteam_secret = \"s\"\n",
            broker.url()
        )
    };
    let a = Memd::start_with_viewer_and_config(&config("ann"));
    let b = Memd::start_with_config(&config("bob"));
    let (ra, rb) = (a.dir.path().join("app"), b.dir.path().join("app"));
    shared_clone(&a, &ra);
    shared_clone(&b, &rb);
    edit(&a, &ra, "s-ann", "sharedword_annone");
    edit(&b, &rb, "s-bob", "sharedword_bobone");
    a.wait_processed();
    b.wait_processed();
    wait_until("bob's record at ann's", || has_team_record(&a, "bobone"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = driver.browser().await;
        c.goto(&login_url(&a)).await.unwrap();
        until(&c, "the page to start", "return document.body.dataset.ready === 'true'").await;
        until(&c, "both records", &format!("const t = {TITLES}; return t.some(x => x.includes('annone')) && t.some(x => x.includes('bobone'))")).await;
        until(&c, "live stream", "return document.getElementById('live').classList.contains('on')").await;

        // Teammates': bob's card, saying who wrote it; live cards of ann's own are not added.
        c.find(Locator::Id("who")).await.unwrap().select_by_value("team").await.unwrap();
        until(&c, "only bob's card, marked", "const cs = [...document.querySelectorAll('#list .card')]; return cs.length === 1 && cs[0].querySelector('h3').textContent.includes('bobone') && cs[0].querySelector('.meta .by').textContent.startsWith('by bob@')").await;
        edit(&a, &ra, "s-ann", "sharedword_anntwo");
        a.wait_processed();
        edit(&b, &rb, "s-bob", "sharedword_bobtwo");
        b.wait_processed();
        // anntwo was stored at ann's before bobtwo arrived: the stream sent it first.
        until(&c, "bob's live card, without ann's", &format!("const t = {TITLES}; return t.length === 2 && t.some(x => x.includes('bobtwo')) && !t.some(x => x.includes('ann'))")).await;

        // Ann's own: no card of bob's, no "by".
        c.find(Locator::Id("who")).await.unwrap().select_by_value("mine").await.unwrap();
        until(&c, "only ann's cards", &format!("const t = {TITLES}; return t.length === 2 && t.every(x => x.includes('ann')) && !document.querySelector('#list .card .meta .by')")).await;

        // Search, narrowed the same way.
        c.find(Locator::Id("search")).await.unwrap().send_keys("sharedword").await.unwrap();
        until(&c, "ann's matches only", "const cs = [...document.querySelectorAll('#list .card.result')]; return cs.length === 2 && cs.every(c => c.querySelector('h3').textContent.includes('ann'))").await;
        c.find(Locator::Id("who")).await.unwrap().select_by_value("team").await.unwrap();
        until(&c, "bob's matches only", "const cs = [...document.querySelectorAll('#list .card.result')]; return cs.length === 2 && cs.every(c => c.querySelector('h3').textContent.includes('bob') && c.querySelector('.meta .by').textContent.startsWith('by bob@'))").await;
        c.find(Locator::Id("who")).await.unwrap().select_by_value("").await.unwrap();
        until(&c, "everyone's matches", "return document.querySelectorAll('#list .card.result').length === 4").await;
        assert_eq!(eval(&c, "return window.__viewerErrors").await, json!([]));
        c.close().await.unwrap();
    });
}
