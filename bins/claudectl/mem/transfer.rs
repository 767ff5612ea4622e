//! `claudectl mem export` and the import of what it wrote: the versioned JSON Lines format
//! of [`claude_daemons::api::memory_transfer`]. An import checks every line first and
//! refuses the file, line by line, before anything is sent; then batches go to
//! `POST /v1/import/memory` (two in flight), each one transaction, and every record's
//! origin is stored once, so importing again adds nothing.

use crate::cli::{MemExportArgs, MemImportArgs};
use crate::daemon_client::{query, Api, CtlError, CtlResult};
use crate::output;
use crate::output::say;
use crate::progress;
use claude_daemons::api::memory::RecordKind;
use claude_daemons::api::memory_transfer::{
    ExportEnd, ExportHeader, ExportPage, ExportQuery, MemoryImportResult, MemoryRecord, FORMAT,
    MAX_TRANSFER_RECORDS, VERSION,
};
use rayon::prelude::*;
use serde_json::json;
use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

/// A batch's bytes stay well under the route's body limit (one line longer than this still
/// goes, alone: the daemon refuses it if it is over the limit).
const BATCH_BYTES: usize = claude_daemons::api::memory::MAX_IMPORT_BYTES / 2;
/// Records per request (one transaction each) unless `--batch` says otherwise. Each
/// commit costs the full-text index a new segment to merge: 100,000 records in batches of
/// 500 took half again the CPU time of batches of 2,000. A batch of 2,000 holds the write
/// lock for about a tenth of a second, which hooks arriving meanwhile wait out well inside
/// their deadline.
const EXPORT_BATCH: u32 = 2_000;
/// Problems listed before giving up on a file.
const SHOWN_PROBLEMS: usize = 20;

/// Whether `path` holds an export (JSON Lines) rather than a claude-mem database: by its
/// first byte, whatever its name.
pub fn is_export(path: &Path) -> bool {
    let mut first = [0u8; 1];
    std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut first))
        .map(|n| n == 1 && first[0] == b'{')
        .unwrap_or(false)
}

/// Run `claudectl mem export`.
pub fn export(api: &Api, a: MemExportArgs) -> CtlResult {
    // A directory given as the project is its path (claude-memd finds its git root).
    let project = a.project.map(|p| {
        let path = Path::new(&p);
        if path.is_dir() {
            std::path::absolute(path).map_or(p.clone(), |p| p.display().to_string())
        } else {
            p
        }
    });
    let out: Box<dyn Write> = match &a.output {
        Some(path) => Box::new(
            std::fs::File::create(path)
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = BufWriter::with_capacity(1 << 20, out);
    let mut header_written = false;
    let mut n: u64 = 0;
    let io = |e: std::io::Error| anyhow::anyhow!("writing the export: {e}");
    for record in [
        RecordKind::Observation,
        RecordKind::Summary,
        RecordKind::Prompt,
    ] {
        let mut after = None;
        loop {
            let q = ExportQuery {
                record: Some(record),
                project: project.clone(),
                since: a.since.clone(),
                after,
                limit: Some(MAX_TRANSFER_RECORDS),
            };
            let page: ExportPage = api.get_typed(&format!("/v1/export{}", query(&q)?))?;
            if !header_written {
                let h = ExportHeader {
                    format: FORMAT.into(),
                    version: VERSION,
                    exported_at: page.now.clone(),
                    instance: page.instance.clone(),
                    project: project.clone(),
                    since: a.since.clone(),
                };
                serde_json::to_writer(&mut out, &h).map_err(anyhow::Error::from)?;
                out.write_all(b"\n").map_err(io)?;
                header_written = true;
            }
            for r in &page.records {
                serde_json::to_writer(&mut out, r).map_err(anyhow::Error::from)?;
                out.write_all(b"\n").map_err(io)?;
                n += 1;
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }
    serde_json::to_writer(
        &mut out,
        &ExportEnd {
            end: FORMAT.into(),
            records: n,
        },
    )
    .map_err(anyhow::Error::from)?;
    out.write_all(b"\n").map_err(io)?;
    out.flush().map_err(io)?;
    eprintln!("claudectl: exported {n} records");
    Ok(ExitCode::SUCCESS)
}

/// Every line checked: the records' lines, to be sent as they are, or the problems (line
/// number and reason).
fn read(text: &[u8]) -> Result<Vec<&[u8]>, Vec<String>> {
    let mut problems: Vec<(usize, String)> = Vec::new();
    // Record lines, with their numbers, checked after this pass.
    let mut records: Vec<(usize, &str)> = Vec::new();
    let mut end: Option<(usize, ExportEnd)> = None;
    let mut lines = text.split(|&b| b == b'\n').enumerate().peekable();
    let mut last = 0;
    while let Some((i, raw)) = lines.next() {
        let no = i + 1;
        // The newline after the last line makes one empty piece.
        if raw.is_empty() && lines.peek().is_none() {
            break;
        }
        last = no;
        let Ok(line) = std::str::from_utf8(raw) else {
            problems.push((no, format!("line {no}: not UTF-8")));
            continue;
        };
        if let Some((end_no, _)) = &end {
            problems.push((
                no,
                format!("line {no}: text after the end line (line {end_no})"),
            ));
            continue;
        }
        if no == 1 {
            match serde_json::from_str::<ExportHeader>(line) {
                Ok(h) if h.format != FORMAT => problems.push((
                    1,
                    format!("line 1: format {:?} is not {FORMAT:?}", h.format),
                )),
                Ok(h) if h.version > VERSION => problems.push((
                    1,
                    format!(
                        "line 1: version {} is newer than this claudectl reads ({VERSION}); upgrade",
                        h.version
                    ),
                )),
                Ok(_) => {}
                Err(e) => problems.push((
                    1,
                    format!("line 1: not a claude-daemons memory export header: {e}"),
                )),
            }
            continue;
        }
        if line.starts_with("{\"end\"") {
            match serde_json::from_str::<ExportEnd>(line) {
                Ok(e) => end = Some((no, e)),
                Err(e) => problems.push((no, format!("line {no}: {e}"))),
            }
            continue;
        }
        records.push((no, line));
    }
    // Parsing and checking every record is most of the reading: on every core.
    let bad: Vec<(usize, String)> = records
        .par_iter()
        .with_min_len(256)
        .filter_map(
            |&(no, line)| match serde_json::from_str::<MemoryRecord>(line) {
                Ok(r) => r.check().err().map(|why| (no, format!("line {no}: {why}"))),
                Err(e) => Some((no, format!("line {no}: {e}"))),
            },
        )
        .collect();
    if !bad.is_empty() {
        problems.extend(bad);
        problems.sort_by_key(|(no, _)| *no);
    }
    let mut problems: Vec<String> = problems.into_iter().map(|(_, p)| p).collect();
    let records: Vec<&[u8]> = records.into_iter().map(|(_, l)| l.as_bytes()).collect();
    match &end {
        None => problems.push(format!(
            "line {}: the file ends without its end line (cut short?)",
            last + 1
        )),
        Some((no, e)) if e.records != records.len() as u64 && problems.is_empty() => {
            problems.push(format!(
                "line {no}: the end line counts {} records, the file has {}",
                e.records,
                records.len()
            ))
        }
        _ => {}
    }
    if problems.is_empty() {
        Ok(records)
    } else {
        Err(problems)
    }
}

/// Requests in flight during an import: while claude-memd's database thread stores one,
/// the next two are parsed and cleaned on its other threads (with two, the parse of the
/// next batch sometimes had not finished when the store did).
const IN_FLIGHT: usize = 3;

/// The request bodies of an import: the checked lines as they are, in a `MemoryImport`
/// written by hand (not the records parsed and written again), at most `max` records and
/// about [`BATCH_BYTES`] each.
struct Batches<'a> {
    lines: std::iter::Peekable<std::slice::Iter<'a, &'a [u8]>>,
    max: usize,
}

impl Iterator for Batches<'_> {
    /// A body and how many records it holds.
    type Item = (Vec<u8>, usize);

    fn next(&mut self) -> Option<(Vec<u8>, usize)> {
        self.lines.peek()?;
        let mut body: Vec<u8> = Vec::with_capacity(BATCH_BYTES + (1 << 16));
        body.extend_from_slice(b"{\"records\":[");
        let mut n = 0;
        while let Some(line) = self
            .lines
            .next_if(|l| n == 0 || (n < self.max && body.len() + l.len() < BATCH_BYTES))
        {
            if n > 0 {
                body.push(b',');
            }
            body.extend_from_slice(line);
            n += 1;
        }
        body.extend_from_slice(b"]}");
        Some((body, n))
    }
}

/// Run `claudectl mem import FILE` for an export.
pub fn import(api: Api, a: MemImportArgs, path: &Path) -> CtlResult {
    let text =
        std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let records = match read(&text) {
        Ok(r) => r,
        Err(problems) => {
            for p in problems.iter().take(SHOWN_PROBLEMS) {
                eprintln!("{}: {p}", path.display());
            }
            if problems.len() > SHOWN_PROBLEMS {
                eprintln!("… and {} more", problems.len() - SHOWN_PROBLEMS);
            }
            return Err(anyhow::anyhow!(
                "{}: {} problem(s); nothing imported",
                path.display(),
                problems.len()
            )
            .into());
        }
    };
    let api = api.timeout(Duration::from_secs(300));
    let bar = progress::rows(records.len() as u64, "importing", a.out.json);
    let max = a.batch.unwrap_or(EXPORT_BATCH).min(MAX_TRANSFER_RECORDS) as usize;
    let batches = Mutex::new(Batches {
        lines: records.iter().peekable(),
        max,
    });
    let sum = Mutex::new(MemoryImportResult::default());
    let failed: Mutex<Option<CtlError>> = Mutex::new(None);
    // Batches in flight: claude-memd checks and cleans some (its privacy rules, on the
    // blocking pool) while its database thread stores another. Each is still one
    // transaction, and the file was checked whole before the first was sent.
    std::thread::scope(|scope| {
        for _ in 0..IN_FLIGHT {
            scope.spawn(|| loop {
                if failed.lock().expect("not poisoned").is_some() {
                    return;
                }
                let Some((body, n)) = batches.lock().expect("not poisoned").next() else {
                    return;
                };
                match api.post_json_bytes::<MemoryImportResult>("/v1/import/memory", &body) {
                    Ok((r, _)) => {
                        let mut sum = sum.lock().expect("not poisoned");
                        sum.imported += r.imported;
                        sum.duplicates += r.duplicates;
                        sum.withheld += r.withheld;
                        bar.inc(n as u64);
                    }
                    Err(e) => {
                        failed.lock().expect("not poisoned").get_or_insert(e);
                        return;
                    }
                }
            });
        }
    });
    if let Some(e) = failed.into_inner().expect("not poisoned") {
        bar.finish_and_clear();
        return Err(e);
    }
    let sum = sum.into_inner().expect("not poisoned");
    bar.finish_and_clear();
    if a.out.json {
        output::json(&json!(sum));
    } else {
        say!(
            "imported {} records; {} already there; {} withheld (excluded projects, private prompts)",
            sum.imported,
            sum.duplicates,
            sum.withheld
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> String {
        format!(
            r#"{{"format":"{FORMAT}","version":1,"exported_at":"2026-01-01T00:00:00Z","instance":"x"}}"#
        )
    }

    const OBS: &str = r#"{"id":1,"origin":"o:1","session_id":"s","project":"/p","project_name":"p","created_at":"2026-01-01T00:00:00Z","created_at_epoch":1,"record":"observation","type":"change","title":"T"}"#;

    #[test]
    fn a_whole_file_reads() {
        let f = format!(
            "{}\n{OBS}\n{{\"end\":\"{FORMAT}\",\"records\":1}}\n",
            header()
        );
        assert_eq!(read(f.as_bytes()).unwrap().len(), 1);
    }

    #[test]
    fn problems_name_their_lines() {
        let cut = format!("{}\n{OBS}\n{}", header(), &OBS[..40]);
        let p = read(cut.as_bytes()).unwrap_err();
        assert!(p[0].starts_with("line 3: "), "{p:?}");
        assert!(
            p[1].contains("line 4: the file ends without its end line"),
            "{p:?}"
        );
        let at_boundary = format!("{}\n{OBS}\n", header());
        let p = read(at_boundary.as_bytes()).unwrap_err();
        assert_eq!(
            p,
            vec!["line 3: the file ends without its end line (cut short?)"]
        );
        let broken = format!(
            "{}\n{}\n{{\"end\":\"{FORMAT}\",\"records\":1}}\n",
            header(),
            OBS.replace("\"title\":\"T\"", "\"title\":\"\"")
        );
        assert_eq!(
            read(broken.as_bytes()).unwrap_err(),
            vec!["line 2: an observation needs a type and a title"]
        );
        let miscount = format!(
            "{}\n{OBS}\n{{\"end\":\"{FORMAT}\",\"records\":2}}\n",
            header()
        );
        assert!(read(miscount.as_bytes()).unwrap_err()[0].contains("counts 2 records"));
        let newer = format!("{}\n", header().replace("\"version\":1", "\"version\":9"));
        assert!(read(newer.as_bytes()).unwrap_err()[0].contains("newer"));
        assert!(read(b"SQLite format 3\0").unwrap_err()[0].starts_with("line 1: not"));
    }
}
