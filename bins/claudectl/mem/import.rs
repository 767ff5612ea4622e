//! `claudectl mem import`: a claude-mem user's memory into claude-memd. The source is read
//! read-only ([`super::claude_mem`]); records go in batches to `POST /v1/import`, each one
//! transaction, with a bar over the source's rows; the summary counts what was imported,
//! what was already there, and what was rejected and why.

use super::claude_mem::{ClaudeMem, Rejection};
use crate::cli::MemImportArgs;
use crate::daemon_client::{Api, CtlError, CtlResult};
use crate::output;
use crate::output::say;
use crate::progress;
use claude_daemons::api::memory::{
    ImportProject, ImportRecord, ImportRequest, ImportResult, ImportedProject, MAX_IMPORT_BYTES,
};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Records per request unless `--batch` says otherwise.
const CLAUDE_MEM_BATCH: u32 = 500;

/// Half the route's limit, so the envelope and JSON escaping never push a batch over.
const BATCH_BYTES: usize = MAX_IMPORT_BYTES / 2;

/// How many rejections the human summary lists (`--json` lists all).
const SHOWN_REJECTIONS: usize = 20;

/// Run `claudectl mem import`.
pub fn run(api: Api, a: MemImportArgs) -> CtlResult {
    let path = match a.path.clone() {
        Some(p) => p,
        None => default_path()?,
    };
    // `claudectl mem export` wrote it: that format has its own reader.
    if super::transfer::is_export(&path) {
        return super::transfer::import(api, a, &path);
    }
    let src = ClaudeMem::open(&path).map_err(anyhow::Error::from)?;
    let mut projects = src.projects().map_err(anyhow::Error::from)?;
    for spec in &a.projects {
        let (name, dir) = spec.split_once('=').ok_or_else(|| {
            anyhow::anyhow!(
                "--project {spec:?}: expected NAME=DIR (a claude-mem project name and a directory)"
            )
        })?;
        let dir = std::path::absolute(dir).map_err(anyhow::Error::from)?;
        let dir = dir.display().to_string();
        match projects.iter_mut().find(|p| p.name == name) {
            Some(p) => p.dir = Some(dir),
            None => {
                // Not an error (summaries and prompts may name it), but most likely a typo.
                eprintln!(
                    "claudectl: warning: --project {name}=…: no claude-mem observation names \
                     the project {name:?}"
                );
                projects.push(ImportProject {
                    name: name.into(),
                    dir: Some(dir),
                    paths: Vec::new(),
                })
            }
        }
    }
    let total = src.total().map_err(anyhow::Error::from)?;
    let api = api.timeout(Duration::from_secs(120));
    let bar = progress::rows(total, "importing", a.out.json);
    let mut sum = Summary::default();
    let mut batch = Batch::default();
    let mut failed: Option<CtlError> = None;
    let send = |batch: &mut Batch, sum: &mut Summary| -> Result<(), CtlError> {
        if batch.records.is_empty() {
            return Ok(());
        }
        let req = ImportRequest {
            projects: projects.clone(),
            records: std::mem::take(&mut batch.records),
        };
        batch.bytes = 0;
        let n = req.records.len() as u64;
        let (r, _) = api.post::<ImportResult>("/v1/import", &req)?;
        sum.add(r);
        bar.inc(n);
        Ok(())
    };
    src.read(|item| {
        let record = match item {
            Ok(r) => r,
            Err(rej) => {
                sum.rejected.push(rej);
                bar.inc(1);
                return true;
            }
        };
        let size = serde_json::to_vec(&record).map_or(usize::MAX, |v| v.len());
        if size > BATCH_BYTES {
            sum.rejected.push(Rejection {
                origin: record.origin,
                reason: format!("too large ({size} bytes; at most {BATCH_BYTES})"),
            });
            bar.inc(1);
            return true;
        }
        if batch.bytes + size > BATCH_BYTES
            || batch.records.len() >= a.batch.unwrap_or(CLAUDE_MEM_BATCH) as usize
        {
            if let Err(e) = send(&mut batch, &mut sum) {
                failed = Some(e);
                return false;
            }
        }
        batch.bytes += size;
        batch.records.push(record);
        true
    })
    .map_err(anyhow::Error::from)?;
    if let Some(e) = failed {
        bar.abandon();
        return Err(e);
    }
    send(&mut batch, &mut sum)?;
    bar.finish_and_clear();
    sum.print(&path, total, a.out.json);
    Ok(ExitCode::SUCCESS)
}

/// `~/.claude-mem/claude-mem.db`.
fn default_path() -> Result<PathBuf, CtlError> {
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or_else(|| anyhow::anyhow!("HOME is not set; give the claude-mem database's path"))?;
    Ok(PathBuf::from(home).join(".claude-mem/claude-mem.db"))
}

#[derive(Default)]
struct Batch {
    records: Vec<ImportRecord>,
    bytes: usize,
}

#[derive(Default)]
struct Summary {
    imported: usize,
    duplicates: usize,
    withheld: usize,
    rejected: Vec<Rejection>,
    projects: Vec<ImportedProject>,
}

impl Summary {
    fn add(&mut self, r: ImportResult) {
        self.imported += r.imported;
        self.duplicates += r.duplicates;
        self.withheld += r.withheld;
        for p in r.projects {
            if !self.projects.iter().any(|q| q.name == p.name) {
                self.projects.push(p);
            }
        }
    }

    fn print(&self, path: &std::path::Path, rows: u64, json: bool) {
        if json {
            output::json(&json!({
                "source": path,
                "rows": rows,
                "imported": self.imported,
                "duplicates": self.duplicates,
                "withheld": self.withheld,
                "rejected": self.rejected.len(),
                "rejections": self.rejected,
                "projects": self.projects,
            }));
            return;
        }
        say!(
            "imported {} records from {} ({} rows): {} already there, {} withheld (private), {} rejected",
            self.imported,
            path.display(),
            rows,
            self.duplicates,
            self.withheld,
            self.rejected.len()
        );
        for p in &self.projects {
            let how = match p.how.as_str() {
                "dir" => "from --project",
                "known" => "already known to claude-memd",
                "files" => "from the files it touched",
                _ => "no repository found: shown in every repository of that name; map it with --project NAME=DIR",
            };
            say!("  project {} → {} ({how})", p.name, p.project);
        }
        for r in self.rejected.iter().take(SHOWN_REJECTIONS) {
            say!("  rejected {}: {}", r.origin, r.reason);
        }
        if self.rejected.len() > SHOWN_REJECTIONS {
            say!(
                "  … and {} more (--json lists them all)",
                self.rejected.len() - SHOWN_REJECTIONS
            );
        }
    }
}
