//! claude-supervisord fleet figures on a loopback nats-server, fake child
//! (examples/fake_claude.rs: it answers in microseconds, so what is measured is ours):
//!
//! 1. Ask overhead: the same warm session asked on a supervisor without a broker (baseline),
//!    on a fleet host that holds the key (one compare-and-set of the lease per turn), and on
//!    a fleet host whose key lives on another host (the turn goes over NATS), interleaved.
//! 2. Transcript upload per turn: a held key whose transcript file is 100 KiB against one
//!    with none, interleaved.
//! 3. Placement decisions per second: `place` requests for new keys on the fleet's queue
//!    group (bucket read + create), 16 in flight.
//! 4. Failover: the owner `kill -9`ed → the next ask answered on another host
//!    (`lease_secs = 3`).
//!
//! Run: `cargo bench --bench supervisor -- fleet` (env `BENCH_TURNS` changes the sample
//! count).

use crate::nats::Nats;
use crate::support::{self, Supervisor};
use claude_daemons::http::UnixClient;
use serde_json::{json, Value};
use std::ffi::OsString;
use std::time::{Duration, Instant};

use crate::pct;

fn sup(extra: &str) -> Supervisor {
    Supervisor::start(
        &format!(
            "claude_bin = \"{}\"\n{extra}",
            support::fake_claude().display()
        ),
        &[("RUST_LOG", OsString::from("warn"))],
        &[],
    )
}

fn fleet_host(nats: &Nats, host: &str, extra: &str) -> Supervisor {
    sup(&format!(
        "broker_url = \"{}\"\nfleet = \"bench\"\nhost = \"{host}\"\n{extra}",
        nats.url()
    ))
}

fn wait_fleet(s: &Supervisor, hosts: usize) {
    s.wait_for("the fleet", Duration::from_secs(60), |s| {
        let (st, f) = s.get("/v1/fleet");
        st == 200 && f["connected"] == true && f["hosts"].as_array().map(Vec::len) == Some(hosts)
    });
}

/// One timed ask of `key` on `s` (ms) and its answer.
fn ask(s: &Supervisor, key: &str, cwd: &str) -> (f64, Value) {
    let client = UnixClient::new(&s.socket).timeout(Duration::from_secs(60));
    let body = json!({"prompt": "hello", "cwd": cwd}).to_string();
    let t = Instant::now();
    let r = client
        .post_json(&format!("/v1/sessions/{key}/ask"), body.as_bytes())
        .unwrap();
    let ms = t.elapsed().as_secs_f64() * 1e3;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    (ms, r.json().unwrap())
}

pub fn main() {
    let n: usize = std::env::var("BENCH_TURNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let dir = tempfile::tempdir().unwrap();
    let nats = Nats::start(dir.path());
    let local = sup("");
    let a = fleet_host(&nats, "a", "max_processes = 1024\n");
    let b = fleet_host(&nats, "b", "max_processes = 1024\n");
    wait_fleet(&a, 2);
    wait_fleet(&b, 2);
    let cwd = a.work.display().to_string();

    // 1. Ask overhead. "remote" is placed on b, then asked on a.
    let (_, r) = ask(&b, "remote", &cwd);
    assert_eq!(r["host"], "b");
    let (_, r) = ask(&a, "held", &cwd);
    assert_eq!(r["host"], "a");
    ask(&local, "held", &local.work.display().to_string());
    let lcwd = local.work.display().to_string();
    let (mut base, mut held, mut remote) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        base.push(ask(&local, "held", &lcwd).0);
        held.push(ask(&a, "held", &cwd).0);
        let (ms, r) = ask(&a, "remote", &cwd);
        assert_eq!(r["host"], "b");
        remote.push(ms);
    }
    let (b50, h50, r50) = (
        pct(&mut base, 0.5),
        pct(&mut held, 0.5),
        pct(&mut remote, 0.5),
    );
    println!("ask, fake child, warm, {n} samples each (ms):");
    println!(
        "  local pool (no broker)       p50 {b50:7.3}  p99 {:7.3}",
        pct(&mut base, 0.99)
    );
    println!(
        "  fleet, key held here         p50 {h50:7.3}  p99 {:7.3}  added {:+.3} (ratio {:.2})",
        pct(&mut held, 0.99),
        h50 - b50,
        h50 / b50
    );
    println!(
        "  fleet, key on another host   p50 {r50:7.3}  p99 {:7.3}  added {:+.3} (ratio {:.2})",
        pct(&mut remote, 0.99),
        r50 - b50,
        r50 / b50
    );

    // 2. Transcript upload: a 100 KiB transcript where the supervisor looks for it.
    let (_, r) = ask(&a, "transcribed", &cwd);
    let sid = r["session_id"].as_str().unwrap();
    let slug: String = cwd
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let pdir = a.home.join(".claude/projects").join(slug);
    std::fs::create_dir_all(&pdir).unwrap();
    let line = format!(
        "{}\n",
        json!({"type": "assistant", "text": "x".repeat(1000)})
    );
    std::fs::write(pdir.join(format!("{sid}.jsonl")), line.repeat(100)).unwrap();
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for _ in 0..n / 3 {
        with.push(ask(&a, "transcribed", &cwd).0);
        without.push(ask(&a, "held", &cwd).0);
    }
    let (w50, o50) = (pct(&mut with, 0.5), pct(&mut without, 0.5));
    println!(
        "transcript upload per turn (100 KiB, object store), {} samples each: p50 {w50:.3} ms vs {o50:.3} ms without: {:+.3} ms",
        n / 3,
        w50 - o50
    );

    // 3. Placement decisions per second, through the fleet's own `place` endpoint.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let places = 1000;
    let (rate, hosts) = rt.block_on(async {
        let client = async_nats::connect(nats.url()).await.unwrap();
        let t = Instant::now();
        let mut hosts = std::collections::BTreeMap::<String, usize>::new();
        let mut keys = (0..places).map(|i| format!("place-{i}"));
        let mut inflight = futures::stream::FuturesUnordered::new();
        use futures::StreamExt;
        loop {
            while inflight.len() < 16 {
                let Some(k) = keys.next() else { break };
                let c = client.clone();
                inflight.push(async move {
                    let m = c
                        .request("csup.bench.place", json!({"key": k}).to_string().into())
                        .await
                        .unwrap();
                    serde_json::from_slice::<Value>(&m.payload).unwrap()
                });
            }
            let Some(r) = inflight.next().await else {
                break;
            };
            let h = r["host"].as_str().unwrap_or_else(|| panic!("{r}"));
            *hosts.entry(h.to_string()).or_default() += 1;
        }
        (places as f64 / t.elapsed().as_secs_f64(), hosts)
    });
    println!("placement decisions: {places} new keys, 16 in flight: {rate:.0}/s ({hosts:?})");
    drop(a);
    drop(b);

    // 4. Failover with a 3 s lease.
    let x = fleet_host(&nats, "x", "lease_secs = 3\n");
    let y = fleet_host(&nats, "y", "lease_secs = 3\n");
    wait_fleet(&x, 2);
    wait_fleet(&y, 2);
    let xcwd = x.work.display().to_string();
    let (_, r) = ask(&x, "moving", &xcwd);
    assert_eq!(r["host"], "x");
    let mut x = x;
    let killed = Instant::now();
    unsafe { libc::kill(x.proc.id() as i32, libc::SIGKILL) };
    let _ = x.proc.wait();
    let client = UnixClient::new(&y.socket).timeout(Duration::from_secs(60));
    let body = json!({"prompt": "hello", "cwd": xcwd}).to_string();
    loop {
        let r = client
            .post_json("/v1/sessions/moving/ask", body.as_bytes())
            .unwrap();
        if r.status == 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    println!(
        "failover (lease_secs = 3): owner killed -> answered on another host in {:.0} ms",
        killed.elapsed().as_secs_f64() * 1e3
    );
}
