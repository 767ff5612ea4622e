//! claude-meshd figures (release build; `cargo bench --bench mesh`), each with a baseline
//! measured in the same run on the same machine:
//!
//! 1. local mode: send → the receiving session's SSE `message` event (p50, p99), against a
//!    `GET /v1/health` round trip on the same socket;
//! 2. broker mode on loopback: the same through nats-server, against a bare NATS
//!    publish → subscription round trip;
//! 3. durable sends accepted per second (4 clients), against health requests per second;
//! 4. messages delivered end to end through NATS per second (send → receiver's inbox), with
//!    senders opening a connection per send, senders keeping theirs, and senders posting
//!    batches (`POST /v1/send` with an array) on a kept connection, against bare
//!    JetStream publishes (sequential, acked; and pipelined) per second; each round also
//!    says how many messages travelled per NATS message (grouped envelopes);
//! 5. push latency, local mode: send → the `notifications/claude/channel` line written by
//!    `claudectl mcp` serving the receiving session as a channel, against the send → SSE
//!    event latency of section 1.

#[path = "../tests/support/meshd.rs"]
mod meshd;
#[path = "../tests/support/nats.rs"]
mod nats;

use claude_daemons::http::UnixClient;
use meshd::{Meshd, Sse};
use nats::Nats;
use std::path::Path;
use std::time::{Duration, Instant};

/// CPU seconds (user + system) a process has used so far.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) start at its closing paren.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// Sends per batch in the batched end-to-end figure.
const BATCH: usize = 100;

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn median(mut v: Vec<f64>) -> f64 {
    pct(&mut v, 0.5)
}

fn report_latency(name: &str, mut xs: Vec<f64>, base_name: &str, mut base: Vec<f64>) {
    let (p50, p99) = (pct(&mut xs, 0.5), pct(&mut xs, 0.99));
    let (b50, b99) = (pct(&mut base, 0.5), pct(&mut base, 0.99));
    println!(
        "{name}: p50 {p50:.3} ms, p99 {p99:.3} ms (n = {})",
        xs.len()
    );
    println!(
        "  baseline {base_name}: p50 {b50:.3} ms, p99 {b99:.3} ms; ratio p50 {:.2}x",
        p50 / b50
    );
}

fn health_latency(m: &Meshd, n: usize) -> Vec<f64> {
    let c = UnixClient::new(&m.socket);
    (0..n)
        .map(|_| {
            let t = Instant::now();
            assert_eq!(c.get("/v1/health").unwrap().status, 200);
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect()
}

fn send_to_event(sender: &Meshd, receiver: &Meshd, to: &str, n: usize) -> Vec<f64> {
    let mut sse = Sse::connect(&receiver.socket, "session=rb", None);
    let c = UnixClient::new(&sender.socket);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let body = serde_json::json!({"to": to, "body": format!("lat {i}"), "from_session": "sa"})
            .to_string();
        let t = Instant::now();
        let r = c.post_json("/v1/send", body.as_bytes()).unwrap();
        assert_eq!(r.status, 202);
        let e = sse
            .next_of("message", Duration::from_secs(10))
            .expect("event");
        out.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(e.data["body"], format!("lat {i}"));
    }
    out
}

/// Requests per second with `threads` clients each making `per` requests of `f`.
fn rate(threads: usize, per: usize, f: impl Fn(usize, usize) + Sync) -> f64 {
    let t = Instant::now();
    std::thread::scope(|s| {
        for k in 0..threads {
            let f = &f;
            s.spawn(move || (0..per).for_each(|i| f(k, i)));
        }
    });
    (threads * per) as f64 / t.elapsed().as_secs_f64()
}

/// A sender that keeps its connection (HTTP/1.1 keep-alive), as a program sending many
/// messages would; `UnixClient` opens one connection per request, as claudectl and the hook
/// do.
struct KeepAlive {
    stream: std::os::unix::net::UnixStream,
    buf: Vec<u8>,
}

impl KeepAlive {
    fn connect(socket: &Path) -> KeepAlive {
        KeepAlive {
            stream: std::os::unix::net::UnixStream::connect(socket).unwrap(),
            buf: Vec::new(),
        }
    }

    /// POST a JSON body; the status.
    fn post(&mut self, path: &str, body: &[u8]) -> u16 {
        use std::io::{Read, Write};
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        self.stream
            .write_all(&[head.as_bytes(), body].concat())
            .unwrap();
        self.buf.clear();
        let mut chunk = [0u8; 8192];
        loop {
            let n = self.stream.read(&mut chunk).unwrap();
            assert!(n > 0, "connection closed");
            self.buf.extend_from_slice(&chunk[..n]);
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut r = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(len) = r.parse(&self.buf).unwrap() {
                let body_len: usize = r
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .map(|h| std::str::from_utf8(h.value).unwrap().parse().unwrap())
                    .unwrap_or(0);
                if self.buf.len() >= len + body_len {
                    return r.code.unwrap();
                }
            }
        }
    }
}

/// The newest inbox row id (0 when empty).
fn last_inbox_id(m: &Meshd) -> i64 {
    let mut cursor = 0;
    loop {
        let (_, v) = m.get(&format!("/v1/inbox?since={cursor}&limit=1000"));
        let next = v["next_cursor"].as_i64().unwrap();
        if next == cursor {
            return cursor;
        }
        cursor = next;
    }
}

fn broker_member(root: &Path, nats: &Nats, name: &str) -> Meshd {
    let url = nats.url();
    Meshd::start(
        &root.join(name),
        &[
            ("CLAUDE_DAEMONS_MESH_BROKER_URL", url.as_str()),
            ("CLAUDE_DAEMONS_MESH_MESH", "bench"),
            ("CLAUDE_DAEMONS_MESH_MESH_SECRET", "s"),
            ("RUST_LOG", "warn"),
        ],
    )
}

/// Send `n` `now` messages to session "rb" and time each until `claudectl mcp`, serving
/// "rb" as its channel, writes the notification (read from its stdout pipe).
fn push_latency(m: &Meshd, n: usize) -> Vec<f64> {
    use std::io::{BufRead, Write};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_claudectl"))
        .arg("mcp")
        .envs(m.env.iter().map(|(k, v)| (k, v)))
        .env("CLAUDE_SESSION_ID", "rb")
        .env("CLAUDE_DAEMONS_CHANNEL", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    writeln!(stdin, r#"{{"jsonrpc":"2.0","id":1,"method":"initialize","params":{{"protocolVersion":"2025-06-18","capabilities":{{}},"clientInfo":{{"name":"bench","version":"0"}}}}}}"#).unwrap();
    lines.next().unwrap().unwrap();
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#
    )
    .unwrap();
    // The channel's quiet window after `initialized`.
    std::thread::sleep(Duration::from_secs(4));
    let c = UnixClient::new(&m.socket);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let body = serde_json::json!({"to": "session:rb", "body": format!("push {i}"), "priority": "now", "from_session": "sa"}).to_string();
        let t = Instant::now();
        assert_eq!(
            c.post_json("/v1/send", body.as_bytes()).unwrap().status,
            202
        );
        loop {
            let line = lines.next().unwrap().unwrap();
            if line.contains("notifications/claude/channel") && line.contains(&format!("push {i}"))
            {
                break;
            }
        }
        out.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let _ = child.kill();
    let _ = child.wait();
    out
}

fn main() {
    let dir = tempfile::Builder::new()
        .prefix("cmb")
        .tempdir_in("/tmp")
        .unwrap();
    let rounds = 3;

    // `cargo bench --bench mesh -- delivery`: the end-to-end delivery figure only.
    let all = !std::env::args().any(|a| a == "delivery");
    if all {
        // 1. Local mode.
        let local = Meshd::start(&dir.path().join("local"), &[("RUST_LOG", "warn")]);
        local.register("sa", "a", &[], &[]);
        local.register("rb", "b", &[], &[]);
        send_to_event(&local, &local, "b", 50);
        let lat = send_to_event(&local, &local, "b", 1000);
        let base = health_latency(&local, 1000);
        report_latency(
            "local send -> receiver SSE event",
            lat,
            "GET /v1/health round trip",
            base,
        );

        // 5. Push latency (the channel serving session "rb").
        let lat_sse = send_to_event(&local, &local, "b", 300);
        let lat_push = push_latency(&local, 300);
        report_latency(
            "local send -> channel notification written (claudectl mcp)",
            lat_push,
            "local send -> receiver SSE event",
            lat_sse,
        );

        // 3. Durable sends accepted per second (local daemon; each is a committed outbox row).
        let mut accepted = Vec::new();
        let mut health = Vec::new();
        for r in 0..rounds {
            let c = UnixClient::new(&local.socket);
            accepted.push(rate(4, 1000, |k, i| {
                let body = serde_json::json!({"to": "b", "body": "x", "client_message_id": format!("r{r}-{k}-{i}")}).to_string();
                assert_eq!(c.post_json("/v1/send", body.as_bytes()).unwrap().status, 202);
            }));
            health.push(rate(4, 1000, |_, _| {
                assert_eq!(c.get("/v1/health").unwrap().status, 200);
            }));
        }
        let (a, h) = (median(accepted), median(health));
        println!("durable sends accepted: {a:.0}/s (median of {rounds} x 4,000, 4 clients)");
        println!("  baseline GET /v1/health: {h:.0}/s; ratio {:.2}x", a / h);
    }

    // 2. Broker mode on loopback.
    let nats = Nats::start(dir.path());
    let a = broker_member(dir.path(), &nats, "a");
    let b = broker_member(dir.path(), &nats, "b");
    a.register("sa", "a", &[], &[]);
    b.register("rb", "bob", &[], &[]);
    let kb = b.key();
    // Address bob by name once presence has told A about him.
    a.wait_for(20, "presence", || {
        let (_, peers) = a.get("/v1/peers");
        peers.as_array().unwrap().iter().any(|p| p["name"] == "bob")
    });
    let target = "bob".to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    if all {
        send_to_event(&a, &b, &target, 50);
        let lat = send_to_event(&a, &b, &target, 1000);
        let base: Vec<f64> = rt.block_on(async {
            use futures::StreamExt;
            let client = async_nats::connect(nats.url()).await.unwrap();
            let mut sub = client.subscribe("bench.ping").await.unwrap();
            client.flush().await.unwrap();
            let mut out = Vec::new();
            for _ in 0..1000 {
                let t = Instant::now();
                client.publish("bench.ping", "x".into()).await.unwrap();
                sub.next().await.unwrap();
                out.push(t.elapsed().as_secs_f64() * 1e3);
            }
            out
        });
        report_latency(
            "broker send -> receiver SSE event",
            lat,
            "bare NATS publish -> subscriber",
            base,
        );
    }

    // 4. Delivered end to end through NATS: senders opening a connection per request (as
    // claudectl does), senders keeping theirs, and senders posting batches.
    let mut delivered = Vec::new();
    let mut delivered_kept = Vec::new();
    let mut delivered_batched = Vec::new();
    let mut js_rate = Vec::new();
    let n = 20_000;
    // 0: a connection per send; 1: keep-alive; 2: keep-alive, batches of BATCH sends
    // (`-- delivery batches`: only these). The baseline runs after each round's last mode.
    let modes: &[usize] = if std::env::args().any(|a| a == "batches") {
        &[2]
    } else {
        &[0, 1, 2]
    };
    for r in 0..rounds * modes.len() {
        let mode = modes[r % modes.len()];
        let mut cursor = last_inbox_id(&b);
        let mut seen = 0;
        let c = UnixClient::new(&a.socket);
        let pids = [
            a.child.as_ref().unwrap().id(),
            b.child.as_ref().unwrap().id(),
            nats.pid().unwrap(),
        ];
        let cpu0 = pids.map(cpu_secs);
        let t = Instant::now();
        std::thread::scope(|s| {
            for k in 0..4 {
                let c = &c;
                let kb = &kb;
                let socket = &a.socket;
                s.spawn(move || {
                    let item = |i: usize| serde_json::json!({"to": kb, "body": "e2e", "client_message_id": format!("e{r}-{k}-{i}")});
                    if mode == 2 {
                        let mut kept = KeepAlive::connect(socket);
                        for first in (0..n / 4).step_by(BATCH) {
                            let items: Vec<_> = (first..(first + BATCH).min(n / 4)).map(item).collect();
                            let body = serde_json::to_vec(&items).unwrap();
                            assert_eq!(kept.post("/v1/send", &body), 200);
                        }
                        return;
                    }
                    let mut kept = (mode == 1).then(|| KeepAlive::connect(socket));
                    for i in 0..n / 4 {
                        let body = item(i).to_string();
                        let status = match &mut kept {
                            Some(k) => k.post("/v1/send", body.as_bytes()),
                            None => c.post_json("/v1/send", body.as_bytes()).unwrap().status,
                        };
                        assert_eq!(status, 202);
                    }
                });
            }
        });
        let deadline = Instant::now() + Duration::from_secs(120);
        // Stream messages the round's messages came in (grouped envelopes hold many).
        let mut envelopes = std::collections::HashSet::new();
        loop {
            // Read only what is new: the measurement must not load the receiver.
            let (_, v) = b.get(&format!("/v1/inbox?since={cursor}&limit=1000"));
            let items = v["items"].as_array().unwrap();
            seen += items.len();
            envelopes.extend(items.iter().map(|i| i["broker_message_id"].as_i64()));
            cursor = v["next_cursor"].as_i64().unwrap();
            if seen >= n {
                break;
            }
            assert!(Instant::now() < deadline, "delivery stalled");
            std::thread::sleep(Duration::from_millis(20));
        }
        let rate = n as f64 / t.elapsed().as_secs_f64();
        let us = |i: usize| (cpu_secs(pids[i]) - cpu0[i]) * 1e6 / n as f64;
        println!(
            "  round {r}: {rate:.0}/s ({}); {:.1} messages per NATS message; CPU per message: sender {:.0} µs, receiver {:.0} µs, nats-server {:.0} µs",
            ["a connection per send", "keep-alive", "batches"][mode],
            seen as f64 / envelopes.len() as f64,
            us(0),
            us(1),
            us(2)
        );
        match mode {
            0 => delivered.push(rate),
            1 => delivered_kept.push(rate),
            _ => delivered_batched.push(rate),
        }
        if r % modes.len() != modes.len() - 1 {
            continue;
        }
        js_rate.push(rt.block_on(async {
            let client = async_nats::connect(nats.url()).await.unwrap();
            let js = async_nats::jetstream::new(client);
            // Its own stream, so the members never see the baseline traffic.
            js.get_or_create_stream(async_nats::jetstream::stream::Config {
                name: "BASELINE".into(),
                subjects: vec!["baseline.>".into()],
                ..Default::default()
            })
            .await
            .unwrap();
            let t = Instant::now();
            for i in 0..n {
                js.publish(format!("baseline.{r}"), format!("{i}").into())
                    .await
                    .unwrap()
                    .await
                    .unwrap();
            }
            let sequential = n as f64 / t.elapsed().as_secs_f64();
            // Pipelined, as the drain publishes: 256 acks outstanding.
            let t = Instant::now();
            let mut acks = std::collections::VecDeque::new();
            for i in 0..n {
                if acks.len() >= 256 {
                    let a: async_nats::jetstream::context::PublishAckFuture =
                        acks.pop_front().unwrap();
                    a.await.unwrap();
                }
                acks.push_back(
                    js.publish(format!("baseline.{r}"), format!("{i}").into())
                        .await
                        .unwrap(),
                );
            }
            for a in acks {
                a.await.unwrap();
            }
            (sequential, n as f64 / t.elapsed().as_secs_f64())
        }));
    }
    let (js_seq, js_pipe): (Vec<f64>, Vec<f64>) = js_rate.into_iter().unzip();
    let (j, jp) = (median(js_seq), median(js_pipe));
    if !delivered.is_empty() {
        let (d, dk) = (median(delivered), median(delivered_kept));
        println!("delivered end to end through NATS: {d:.0}/s (median of {rounds} x {n}, 4 senders, a connection per send); ratio to bare JetStream sequential {:.2}x", d / j);
        println!("delivered end to end through NATS, senders keeping their connection: {dk:.0}/s (median of {rounds} x {n}); ratio to bare JetStream sequential {:.2}x", dk / j);
    }
    let best = delivered_batched.iter().cloned().fold(0.0, f64::max);
    let db = median(delivered_batched);
    println!("delivered end to end through NATS, 4 senders posting batches of {BATCH}: {db:.0}/s (median of {rounds} x {n}; best {best:.0}/s); ratio to bare JetStream sequential {:.2}x, pipelined {:.2}x", db / j, db / jp);
    println!("  baseline bare JetStream publish+ack (sequential): {j:.0}/s");
    println!("  baseline bare JetStream publish, 256 acks outstanding: {jp:.0}/s");
}
