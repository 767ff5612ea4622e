//! `claudectl mem model install|status|remove`: the embedding model of claude-memd's
//! semantic recall, as files in `$STATE/models/all-MiniLM-L6-v2/`. claude-memd watches that
//! directory; nothing here talks to it except `status`, which asks for its progress.

use super::hub;
use crate::cli::{MemModelCommand, MemModelInstallArgs};
use crate::daemon_client::{Api, CtlResult};
use crate::output;
use crate::output::say;
use anyhow::{bail, Context};
use claude_daemons::paths::Paths;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The files a model is made of.
const FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

/// Run `claudectl mem model …`.
pub fn run(api: &Api, cmd: MemModelCommand) -> CtlResult {
    let dir = Paths::from_env().embedding_model();
    match cmd {
        MemModelCommand::Install(a) => install(&dir, a),
        MemModelCommand::Status(a) => status(api, &dir, a.json),
        MemModelCommand::Remove(a) => remove(&dir, a.json),
    }
}

fn install(dir: &Path, a: MemModelInstallArgs) -> CtlResult {
    let parent = dir.parent().context("model directory has no parent")?;
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let staging = dir.with_extension("new");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir(&staging)
        .with_context(|| format!("cannot create {}", staging.display()))?;
    let (fetched, source) = match &a.from {
        Some(from) => (
            copy_in(from, &staging).and_then(|()| check(&staging)),
            from.display().to_string(),
        ),
        None => {
            if !a.out.json {
                say!(
                    "downloading {} at revision {} from {}",
                    hub::REPO,
                    hub::REVISION,
                    hub::endpoint()
                );
            }
            (
                hub::download(&staging, a.out.json).and_then(|()| check(&staging)),
                format!("{}/{}@{}", hub::endpoint(), hub::REPO, hub::REVISION),
            )
        }
    };
    let files = match fetched {
        Ok(files) => files,
        Err(e) => {
            // Nothing half-installed: the model in place (if any) stays as it was.
            let _ = std::fs::remove_dir_all(&staging);
            return Err(match &a.from {
                Some(from) => e.context(format!("{} is not an embedding model", from.display())),
                None => e.context("the embedding model was not installed"),
            }
            .into());
        }
    };
    // The old model goes only once the new one is complete: claude-memd sees one or the other.
    let old = dir.with_extension("old");
    let _ = std::fs::remove_dir_all(&old);
    if dir.exists() {
        std::fs::rename(dir, &old).with_context(|| format!("cannot replace {}", dir.display()))?;
    }
    std::fs::rename(&staging, dir)
        .with_context(|| format!("cannot install into {}", dir.display()))?;
    let _ = std::fs::remove_dir_all(&old);
    if a.out.json {
        output::json(&json!({"installed": dir, "from": source, "files": files}));
    } else {
        say!(
            "installed the embedding model from {source} in {}",
            dir.display()
        );
        for f in &files {
            say!(
                "  {} {} bytes sha256 {}",
                f["name"],
                f["bytes"],
                f["sha256"]
            );
        }
        say!("claude-memd embeds every record in the background; see `claudectl mem model status`");
    }
    Ok(ExitCode::SUCCESS)
}

/// Copy the three files from a directory or a zip file (at its top or in one folder).
fn copy_in(from: &Path, to: &Path) -> anyhow::Result<()> {
    if from.is_dir() {
        for f in FILES {
            let src = from.join(f);
            std::fs::copy(&src, to.join(f))
                .with_context(|| format!("cannot copy {}", src.display()))?;
        }
        return Ok(());
    }
    let file = File::open(from).with_context(|| format!("cannot open {}", from.display()))?;
    let mut zip = zip::ZipArchive::new(file).context("not a directory nor a zip file")?;
    let names: Vec<String> = zip
        .file_names()
        .filter_map(|n| n.ok().map(|n| n.into_owned()))
        .collect();
    // At the top, or all three in one folder (not 1_Pooling/config.json next to them).
    let folder = if FILES.iter().all(|f| names.iter().any(|n| n == f)) {
        String::new()
    } else {
        names
            .iter()
            .filter_map(|n| n.strip_suffix("model.safetensors"))
            .find(|p| p.matches('/').count() == 1 && p.ends_with('/'))
            .unwrap_or("")
            .to_owned()
    };
    for f in FILES {
        let name = format!("{folder}{f}");
        if !names.contains(&name) {
            bail!("the zip file holds no {f}");
        }
        let mut entry = zip.by_name(&name)?;
        let mut out = File::create(to.join(f))?;
        std::io::copy(&mut entry, &mut out).with_context(|| format!("cannot unpack {name}"))?;
        out.flush()?;
    }
    Ok(())
}

/// Check the files enough that claude-memd will load them: JSON where JSON belongs, and a
/// safetensors header naming BERT weights. Their sizes and digests.
fn check(dir: &Path) -> anyhow::Result<Vec<Value>> {
    let json_file = |name: &str, key: &str| -> anyhow::Result<()> {
        let v: Value = serde_json::from_slice(&std::fs::read(dir.join(name))?)
            .with_context(|| format!("{name} is not JSON"))?;
        if v.get(key).is_none() {
            bail!("{name} has no {key:?}");
        }
        Ok(())
    };
    json_file("config.json", "hidden_size")?;
    json_file("tokenizer.json", "model")?;
    let mut f = File::open(dir.join("model.safetensors"))?;
    let mut len = [0u8; 8];
    f.read_exact(&mut len)
        .context("model.safetensors is too short")?;
    let len = u64::from_le_bytes(len);
    if len > 100 << 20 {
        bail!("model.safetensors has no safetensors header");
    }
    let mut header = vec![0u8; len as usize];
    f.read_exact(&mut header)
        .context("model.safetensors is truncated")?;
    let header: Value =
        serde_json::from_slice(&header).context("model.safetensors has no safetensors header")?;
    if ![
        "embeddings.word_embeddings.weight",
        "bert.embeddings.word_embeddings.weight",
    ]
    .iter()
    .any(|k| header.get(k).is_some())
    {
        bail!("model.safetensors holds no BERT weights");
    }
    FILES
        .iter()
        .map(|name| {
            let (bytes, sha256) = digest(&dir.join(name))?;
            Ok(json!({"name": name, "bytes": bytes, "sha256": sha256}))
        })
        .collect()
}

fn digest(path: &PathBuf) -> anyhow::Result<(u64, String)> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let n = std::io::copy(&mut f, &mut h)?;
    Ok((n, h.finalize().iter().map(|b| format!("{b:02x}")).collect()))
}

fn status(api: &Api, dir: &Path, json: bool) -> CtlResult {
    let installed = FILES.iter().all(|f| dir.join(f).is_file());
    // Asking starts claude-memd if its socket is enabled; its answer says how far it is.
    let daemon = api
        .get::<Value>("/v1/health")
        .ok()
        .and_then(|(h, _)| h.get("semantic").cloned());
    if json {
        output::json(&json!({"installed": installed, "dir": dir, "daemon": daemon}));
        return Ok(ExitCode::SUCCESS);
    }
    if !installed {
        say!("no embedding model: search is lexical; turn semantic recall on with `claudectl mem model install` (from the Hugging Face hub) or `claudectl mem model install --from DIR|ZIP`");
        return Ok(ExitCode::SUCCESS);
    }
    say!("model: {}", dir.display());
    match daemon {
        Some(d) => {
            let state = d["state"].as_str().unwrap_or("?");
            say!(
                "claude-memd: {state}, {} of {} records embedded",
                d["embedded"],
                d["records"]
            );
            if let Some(e) = d["error"].as_str() {
                say!("error: {e}");
            }
        }
        None => say!("claude-memd: not reachable (see `claudectl status`)"),
    }
    Ok(ExitCode::SUCCESS)
}

fn remove(dir: &Path, json: bool) -> CtlResult {
    let existed = dir.exists();
    if existed {
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    }
    if json {
        output::json(&json!({"removed": existed, "dir": dir}));
    } else if existed {
        say!("removed {}; search is lexical again", dir.display());
    } else {
        say!("no embedding model installed");
    }
    Ok(ExitCode::SUCCESS)
}
