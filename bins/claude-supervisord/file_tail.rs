//! A file that grows while it is read, read in whole lines from where the last read
//! stopped: an interactive child's transcript (jsonl) and its `--debug-file`.

use serde_json::Value;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

/// Longest line read; longer ones (huge tool outputs) are skipped.
const MAX_LINE: usize = 8 << 20;

/// A file read from where the last read stopped.
pub struct FileTail {
    pub path: Option<PathBuf>,
    offset: u64,
    partial: Vec<u8>,
}

impl FileTail {
    /// Start reading at the current end of `path` (what is already there is history).
    pub fn at_end(path: Option<PathBuf>) -> FileTail {
        let offset = path
            .as_ref()
            .and_then(|p| std::fs::metadata(p).ok())
            .map_or(0, |m| m.len());
        FileTail {
            path,
            offset,
            partial: Vec::new(),
        }
    }

    /// Read `path` from its start (a file this process writes anew).
    pub fn from_start(path: PathBuf) -> FileTail {
        FileTail {
            path: Some(path),
            offset: 0,
            partial: Vec::new(),
        }
    }

    /// The whole lines added since the last call (without their newlines).
    pub fn read_lines(&mut self) -> Vec<Vec<u8>> {
        let Some(path) = &self.path else {
            return Vec::new();
        };
        let Ok(mut f) = std::fs::File::open(path) else {
            return Vec::new();
        };
        if f.metadata().is_ok_and(|m| m.len() < self.offset) {
            // Truncated and written again: what is there now is new.
            self.offset = 0;
            self.partial.clear();
        }
        let mut buf = Vec::new();
        if f.seek(SeekFrom::Start(self.offset)).is_err() || f.read_to_end(&mut buf).is_err() {
            return Vec::new();
        }
        self.offset += buf.len() as u64;
        self.partial.extend_from_slice(&buf);
        let Some(end) = self.partial.iter().rposition(|b| *b == b'\n') else {
            if self.partial.len() > MAX_LINE {
                self.partial.clear();
            }
            return Vec::new();
        };
        let whole: Vec<u8> = self.partial.drain(..=end).collect();
        whole
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty() && l.len() <= MAX_LINE)
            .map(<[u8]>::to_vec)
            .collect()
    }

    /// The whole JSON lines added since the last call (others are skipped).
    pub fn read_json(&mut self) -> Vec<Value> {
        self.read_lines()
            .iter()
            .filter_map(|l| serde_json::from_slice(l).ok())
            .collect()
    }
}
