//! Issue 19: team memory through a real nats-server with JetStream. Two claude-memd (two
//! state directories, two member keys), two clones of one repository at different paths
//! with the same origin in two spellings. Hook events are posted to A's `/v1/hook` the way
//! claude-hook posts them; B must see A's work in its SessionStart context and search,
//! marked as a teammate's, and never A's private or redacted text, nor anything of a
//! project A did not share; the broker's files hold no plaintext. Then: A forgets → gone at
//! B; B away while A works → caught up at its next start; broker down while A works →
//! delivered once it is back, once.

#[path = "support/memd.rs"]
mod memd;
#[path = "support/nats.rs"]
mod nats;

use memd::{clone_at, contains, git_init, Memd};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

const SECRET: &str = "ghp_TBnRvxPLRmqf8buGq829j5RGmpMSrTyk8zDz";
const PRIVATE: &str = "zebraprivatemarker";

fn config(url: &str, name: &str) -> String {
    format!(
        "[mesh]\ndisplay_name = \"{name}\"\n[memory.share]\nbroker_url = \"{url}\"\nteam = \"acme\"\nteam_secret = \"correct horse battery\"\nprompts = true\n"
    )
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn hook(m: &Memd, v: Value) -> Value {
    let (s, a) = m.post("/v1/hook", v.to_string().as_bytes());
    assert_eq!(s, 200, "{a}");
    a
}

/// A Bash command in `repo` whose observation names `marker`.
fn work(m: &Memd, repo: &Path, session: &str, marker: &str, extra: &str) {
    let base = |event: &str| json!({"session_id": session, "cwd": repo, "hook_event_name": event});
    let mut t = base("PostToolUse");
    t["tool_name"] = json!("Bash");
    t["tool_use_id"] = json!(format!("t-{marker}"));
    t["tool_input"] = json!({"command": format!("cargo test {marker} {extra}")});
    t["tool_response"] = json!({"stdout": format!("ok {marker}"), "stderr": ""});
    hook(m, t);
    m.wait_processed();
}

fn team_hits(m: &Memd, word: &str) -> Vec<Value> {
    let (s, r) = m.get(&format!("/v1/search?q={word}&who=team"));
    assert_eq!(s, 200, "{r}");
    r["results"].as_array().cloned().unwrap_or_default()
}

fn share(m: &Memd, dir: &Path) -> Value {
    let body = json!({"project": dir, "enabled": true}).to_string();
    let (s, r) = m.post("/v1/share", body.as_bytes());
    assert_eq!(s, 200, "{r}");
    r
}

/// Publish to the team's stream as an outsider: an envelope whose signature is not the
/// sender's, and one signed right but sealed with another secret.
fn forge(url: &str) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let id = claude_daemons::mesh::keys::Identity::from_seed([9; 32]);
    let subject = "memory.acme.p.0000";
    let envelope = |sig: Vec<u8>, nonce: &str, ct: &str| {
        json!({"v": 1, "ts": 1, "from": id.public_hex(), "nonce": nonce, "ct": ct,
               "sig": b64.encode(sig)})
        .to_string()
    };
    let (nonce, ct) = (
        b64.encode([1u8; 24]),
        b64.encode(b"forgedtext and more bytes"),
    );
    let bad_sig = envelope(vec![7u8; 64], &nonce, &ct);
    let mut signed = Vec::new();
    for f in [
        "claude-memory-share-v1",
        subject,
        "1",
        id.public_hex(),
        &nonce,
        &ct,
    ] {
        signed.extend_from_slice(f.as_bytes());
        signed.push(0);
    }
    let other_team = envelope(id.sign(&signed).to_vec(), &nonce, &ct);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let c = async_nats::connect(url).await.unwrap();
        let js = async_nats::jetstream::new(c);
        for m in [bad_sig, other_team] {
            js.publish(subject, m.into()).await.unwrap().await.unwrap();
        }
    });
}

fn pending(m: &Memd) -> i64 {
    m.count("SELECT count(*) FROM share_outbox")
}

#[test]
fn teammates_share_a_repository_through_jetstream() {
    let tmp = tempfile::tempdir().unwrap();
    let mut broker = nats::Nats::start(tmp.path());
    let url = broker.url();
    let a = Memd::start_with_config(&config(&url, "ann"));
    let mut b = Memd::start_with_config(&config(&url, "bob"));
    let clone1 = a.dir.path().join("work/app");
    let clone2 = b.dir.path().join("elsewhere/app-copy");
    clone_at(&clone1, "git@github.com:acme/app.git");
    clone_at(&clone2, "https://github.com/acme/app");
    let other = a.dir.path().join("work/other");
    clone_at(&other, "git@github.com:acme/other.git");

    let r = share(&a, &clone1);
    assert_eq!(r["projects"][0]["portable"], "github.com/acme/app", "{r}");
    assert_eq!(r["configured"], true);
    share(&b, &clone2);
    // A project without an origin cannot be shared.
    let plain = a.dir.path().join("plain");
    git_init(&plain);
    let body = json!({"project": plain, "enabled": true}).to_string();
    let (s, r) = a.post("/v1/share", body.as_bytes());
    assert_eq!(s, 400, "{r}");

    // A's session in clone 1: a prompt with a private part, a command with a secret.
    let base = |event: &str| json!({"session_id": "sa", "cwd": clone1, "hook_event_name": event});
    hook(&a, base("SessionStart"));
    let mut p = base("UserPromptSubmit");
    p["prompt"] = json!(format!(
        "run the widgetpromptword tests <private>{PRIVATE}</private>"
    ));
    hook(&a, p);
    work(
        &a,
        &clone1,
        "sa",
        "frobnicator",
        &format!("GITHUB_TOKEN={SECRET}"),
    );
    // Work in a project A does not share.
    work(&a, &other, "so", "unsharedmarker", "");
    // Order on the stream: once this arrives, everything before it has.
    work(&a, &clone1, "sa", "barrierone", "");
    let deadline = Instant::now() + Duration::from_secs(60);
    while team_hits(&b, "barrierone").is_empty() {
        assert!(
            Instant::now() < deadline,
            "A's observation did not reach B: A {} B {}",
            a.get("/v1/health").1["share"],
            b.get("/v1/health").1["share"]
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Forged and foreign messages on the team's stream are dropped and counted, not stored.
    forge(&url);
    wait_for("B to reject the forged messages", || {
        b.get("/v1/health").1["share"]["rejected"] == 2
    });
    work(&a, &clone1, "sa", "barrierforged", "");
    wait_for("a later record at B", || {
        !team_hits(&b, "barrierforged").is_empty()
    });

    // B's context and search have it, marked as ann's.
    let hits = team_hits(&b, "frobnicator");
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert!(
        hits[0]["by"].as_str().unwrap().starts_with("ann@"),
        "{hits:?}"
    );
    assert_eq!(
        hits[0]["project"].as_str().unwrap(),
        std::fs::canonicalize(&clone2).unwrap().to_str().unwrap(),
        "stored in B's own clone"
    );
    let (_, mine) = b.get("/v1/search?q=frobnicator&who=mine");
    assert_eq!(mine["results"].as_array().unwrap().len(), 0, "{mine}");
    let (_, ctx) = b.get(&format!("/v1/context?project={}", clone2.display()));
    let md = ctx["markdown"].as_str().unwrap();
    assert!(
        md.contains("frobnicator") && md.contains("(teammate ann@"),
        "{md}"
    );
    assert!(
        !team_hits(&b, "widgetpromptword").is_empty(),
        "prompts shared"
    );

    // Nothing private, redacted or unshared at B or on the broker.
    let b_bytes = b.raw_bytes();
    for needle in [PRIVATE, SECRET, "unsharedmarker"] {
        assert!(!contains(&b_bytes, needle), "{needle} reached B");
        assert!(
            !broker.store_contains(needle.as_bytes()),
            "{needle} on the broker"
        );
    }
    assert!(
        !broker.store_contains(b"frobnicator"),
        "the broker holds only ciphertext"
    );
    assert!(contains(&a.raw_bytes(), "unsharedmarker"), "not vacuous");

    // A forgets → gone at B.
    let id = a.count("SELECT id FROM observations WHERE title LIKE '%frobnicator%'");
    let (s, r) = a.request("DELETE", &format!("/v1/observations/{id}"), None);
    assert_eq!(s, 200, "{r}");
    wait_for("the tombstone at B", || {
        team_hits(&b, "frobnicator").is_empty()
    });
    assert_eq!(
        b.count("SELECT count(*) FROM observations WHERE title LIKE '%frobnicator%'"),
        0
    );

    // B away while A works; B catches up at its next start.
    b.stop();
    work(&a, &clone1, "sa", "whileaway", "");
    wait_for("A's outbox to drain", || pending(&a) == 0);
    b.spawn();
    wait_for("B to catch up", || !team_hits(&b, "whileaway").is_empty());

    // Broker down while A works: kept in A's outbox, delivered once it is back, once.
    broker.kill();
    work(&a, &clone1, "sa", "duringoutage", "");
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        pending(&a) >= 1,
        "kept in the outbox while the broker is away"
    );
    broker.restart();
    wait_for("delivery after the outage", || {
        !team_hits(&b, "duringoutage").is_empty()
    });
    wait_for("A's outbox to drain", || pending(&a) == 0);
    work(&a, &clone1, "sa", "barriertwo", "");
    wait_for("the last record at B", || {
        !team_hits(&b, "barriertwo").is_empty()
    });
    assert_eq!(
        b.count("SELECT count(*) FROM observations WHERE title LIKE '%duringoutage%'"),
        1
    );
    let (_, h) = b.get("/v1/health");
    assert_eq!(
        h["share"]["rejected"], 0,
        "the forged ones were acknowledged when dropped: not delivered again after B's restart: {h}"
    );
    assert_eq!(
        b.count("SELECT count(*) FROM observations WHERE title LIKE '%forgedtext%'"),
        0
    );
    // Nothing of the unshared project was ever published.
    assert!(!contains(&b.raw_bytes(), "unsharedmarker"));
}

/// A record the broker can never take (over its `max_payload`) is dropped from the outbox
/// with its reason logged and counted, not retried forever, and what comes after it is
/// delivered.
#[test]
fn a_record_over_the_brokers_max_payload_is_refused_not_retried() {
    let tmp = tempfile::tempdir().unwrap();
    let broker = nats::Nats::start_with(tmp.path(), Some("max_payload: 8192\n"));
    let url = broker.url();
    let a = Memd::start_with_config(&config(&url, "ann"));
    let b = Memd::start_with_config(&config(&url, "bob"));
    let (clone1, clone2) = (a.dir.path().join("app"), b.dir.path().join("app"));
    clone_at(&clone1, "git@github.com:acme/app.git");
    clone_at(&clone2, "git@github.com:acme/app.git");
    share(&a, &clone1);
    share(&b, &clone2);

    // A prompt of 20 KB (kept whole: under the 64,000 characters a prompt keeps).
    let words: String = (0..2000).map(|i| format!("w{i:05} ")).collect();
    let mut p = json!({"session_id": "sa", "cwd": clone1, "hook_event_name": "UserPromptSubmit"});
    p["prompt"] = json!(format!("hugepromptmarker {words}"));
    hook(&a, p);
    work(&a, &clone1, "sa", "afterhuge", "");
    wait_for("the record after the huge one at B", || {
        !team_hits(&b, "afterhuge").is_empty()
    });
    wait_for("A's outbox to drain", || pending(&a) == 0);
    let (_, h) = a.get("/v1/health");
    assert_eq!(h["share"]["refused"], 1, "{h}");
    let log = a.log();
    assert!(
        log.contains("refused by the broker")
            && log.contains("over the broker's limit (8192 bytes)"),
        "the reason is logged: {log}"
    );
    assert!(team_hits(&b, "hugepromptmarker").is_empty());
}
