//! The hook spool, `$STATE/spool/`: hook payloads claude-memd did not acknowledge within the
//! hook's deadline, kept until claude-memd can take them (DESIGN.md: nothing a hook was given
//! is lost). claude-hook writes, claude-memd drains, claudectl reports.
//!
//! One file per event, named `<key>.<bytes>.hook` so that a directory listing alone gives the
//! order (keys are ULIDs: time-sortable), the count and the size. The file is an on-disk
//! format, versioned by its first line:
//!
//! ```text
//! claude-hook-spool/1 <key>\n
//! <the hook payload, exactly as Claude Code wrote it>
//! ```
//!
//! The key is the event's idempotency key: claude-hook sent the same key to claude-memd, so
//! an event that was committed after the hook gave up is recognised when it is drained.
//! Files are written under a temporary name, fsync'd and renamed, so a reader never sees half
//! a file. Events that could not be spooled (spool full, disk full) are counted in `lost`: a
//! fixed-width decimal counter rewritten in place under a lock, which claude-memd creates at
//! start, so that counting needs no new disk space when the disk is full.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The format version this release writes and reads.
pub const VERSION: u32 = 1;
const MAGIC: &str = "claude-hook-spool/";
const SUFFIX: &str = ".hook";
const TEMP_PREFIX: &str = ".tmp-";
const LOST_FILE: &str = "lost";
/// Digits of the lost-event counter.
const LOST_WIDTH: usize = 20;
/// Longest idempotency key accepted (a ULID is 26 characters).
pub const MAX_KEY_LEN: usize = 128;

/// Why the spool could not take or give an event.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The spool holds its limit already.
    #[error(
        "spool full ({count} events, {bytes} bytes; limits {max_events} events, {max_bytes} bytes)"
    )]
    Full {
        /// Events in it.
        count: usize,
        /// Their bytes.
        bytes: u64,
        /// The count limit.
        max_events: usize,
        /// The byte limit.
        max_bytes: u64,
    },
    /// A file or directory operation failed (ENOSPC when the disk is full).
    #[error("spool {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A spool file this release cannot read.
    #[error("spool file {path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The key is not usable as a file name and idempotency key.
    #[error("invalid idempotency key {0:?}")]
    BadKey(String),
}

/// Limits on what the spool may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most events.
    pub max_events: usize,
    /// Most bytes of payload.
    pub max_bytes: u64,
}

/// One spooled event, as listed (not yet read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its idempotency key.
    pub key: String,
    /// Payload bytes.
    pub bytes: u64,
    /// The file.
    pub path: PathBuf,
}

/// A spooled event, read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spooled {
    /// Its idempotency key.
    pub key: String,
    /// The hook payload as Claude Code wrote it.
    pub payload: Vec<u8>,
}

/// What the spool holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Usage {
    /// Events waiting.
    pub events: usize,
    /// Their payload bytes.
    pub bytes: u64,
    /// Events that could not be spooled, ever (lines of `lost`).
    pub lost: u64,
}

/// An event written and fsync'd under its temporary name ([`Spool::begin`]): readers do not
/// see it until it is kept.
#[derive(Debug)]
pub struct Pending {
    dir: PathBuf,
    temp: PathBuf,
    entry: Entry,
}

impl Pending {
    /// Put it in the spool: rename to its name, fsync the directory.
    pub fn keep(self) -> Result<Entry, SpoolError> {
        let path = self.entry.path.clone();
        let done = fs::rename(&self.temp, &path).and_then(|()| File::open(&self.dir)?.sync_all());
        if let Err(source) = done {
            let _ = fs::remove_file(&self.temp);
            return Err(SpoolError::Io { path, source });
        }
        Ok(self.entry)
    }

    /// Throw it away (the daemon took the event after all).
    pub fn discard(self) {
        let _ = fs::remove_file(&self.temp);
    }
}

/// Whether `key` can name a spool file and travel as an `Idempotency-Key` header.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_KEY_LEN
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The spool directory of a state directory.
#[derive(Clone, Debug)]
pub struct Spool {
    dir: PathBuf,
}

impl Spool {
    /// The spool in `state_dir` (`state_dir/spool`).
    pub fn new(state_dir: &Path) -> Spool {
        Spool {
            dir: state_dir.join("spool"),
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn io(&self, path: &Path) -> impl Fn(std::io::Error) -> SpoolError + '_ {
        let path = path.to_path_buf();
        move |source| SpoolError::Io {
            path: path.clone(),
            source,
        }
    }

    /// Write one event durably (temporary name, fsync, rename, fsync of the directory), 0600
    /// in a 0700 directory. Refused when `limits` would be exceeded.
    pub fn write(&self, key: &str, payload: &[u8], limits: Limits) -> Result<Entry, SpoolError> {
        self.begin(key, payload, limits)?.keep()
    }

    /// The first half of [`Spool::write`]: the event under its temporary name, fsync'd, not
    /// yet in the spool. claude-hook starts this while still waiting for claude-memd, so that
    /// the slow part (the fsync) is done within the hook's deadline; then it either keeps the
    /// file or discards it, if the daemon acknowledged after all.
    pub fn begin(&self, key: &str, payload: &[u8], limits: Limits) -> Result<Pending, SpoolError> {
        if !valid_key(key) {
            return Err(SpoolError::BadKey(key.into()));
        }
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(self.io(&self.dir))?;
        let now = self.usage_of(&self.list()?);
        if now.events >= limits.max_events || now.bytes + payload.len() as u64 > limits.max_bytes {
            return Err(SpoolError::Full {
                count: now.events,
                bytes: now.bytes,
                max_events: limits.max_events,
                max_bytes: limits.max_bytes,
            });
        }
        let name = format!("{key}.{}{SUFFIX}", payload.len());
        let temp = self.dir.join(format!("{TEMP_PREFIX}{name}"));
        let path = self.dir.join(&name);
        let written = (|| -> std::io::Result<()> {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temp)?;
            f.write_all(format!("{MAGIC}{VERSION} {key}\n").as_bytes())?;
            f.write_all(payload)?;
            f.sync_all()
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&temp);
            return Err(self.io(&path)(e));
        }
        Ok(Pending {
            dir: self.dir.clone(),
            temp,
            entry: Entry {
                key: key.into(),
                bytes: payload.len() as u64,
                path,
            },
        })
    }

    /// The events waiting, oldest first. A missing directory is an empty spool.
    pub fn list(&self) -> Result<Vec<Entry>, SpoolError> {
        let rd = match fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io(&self.dir)(e)),
        };
        let mut out = Vec::new();
        for item in rd {
            let item = item.map_err(self.io(&self.dir))?;
            let name = item.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some((key, bytes)) = parse_name(name) {
                out.push(Entry {
                    key: key.into(),
                    bytes,
                    path: item.path(),
                });
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    fn usage_of(&self, entries: &[Entry]) -> Usage {
        Usage {
            events: entries.len(),
            bytes: entries.iter().map(|e| e.bytes).sum(),
            lost: 0,
        }
    }

    /// What the spool holds, and how many events were ever lost.
    pub fn usage(&self) -> Result<Usage, SpoolError> {
        let mut u = self.usage_of(&self.list()?);
        u.lost = self.lost()?;
        Ok(u)
    }

    /// Read one listed event back.
    pub fn read(&self, entry: &Entry) -> Result<Spooled, SpoolError> {
        let raw = fs::read(&entry.path).map_err(self.io(&entry.path))?;
        decode(&raw).map_err(|reason| SpoolError::Format {
            path: entry.path.clone(),
            reason,
        })
    }

    /// Remove an event (after its commit). Already gone is fine.
    pub fn remove(&self, entry: &Entry) -> Result<(), SpoolError> {
        match fs::remove_file(&entry.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(self.io(&entry.path)(e)),
            _ => Ok(()),
        }
    }

    /// Remove temporary files older than `age`: a hook that died between create and rename.
    pub fn remove_stale_temps(&self, age: std::time::Duration) {
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return;
        };
        for item in rd.flatten() {
            let is_temp = item
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(TEMP_PREFIX));
            let old = item
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|e| e > age);
            if is_temp && old {
                let _ = fs::remove_file(item.path());
            }
        }
    }

    /// Create the directory and the lost-event counter, so both exist before a disk fills.
    pub fn prepare(&self) -> Result<(), SpoolError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(self.io(&self.dir))?;
        self.add_lost(0).map(|_| ())
    }

    /// Count one event that could not be spooled (the journal has which one).
    pub fn record_lost(&self) -> Result<u64, SpoolError> {
        self.add_lost(1)
    }

    /// Add `n` to the counter in place (same width: no new blocks), under an exclusive lock
    /// against concurrent hooks; the new total.
    fn add_lost(&self, n: u64) -> Result<u64, SpoolError> {
        use std::io::{Read, Seek};
        use std::os::fd::AsRawFd;
        let path = self.dir.join(LOST_FILE);
        let io = self.io(&path);
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(&io)?;
        // SAFETY: flock on a descriptor we own; released when `f` closes.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(io(std::io::Error::last_os_error()));
        }
        let mut text = String::new();
        f.read_to_string(&mut text).map_err(&io)?;
        let total = text.trim().parse::<u64>().unwrap_or(0) + n;
        if n > 0 || text.len() != LOST_WIDTH + 1 {
            f.rewind().map_err(&io)?;
            f.write_all(format!("{total:0LOST_WIDTH$}\n").as_bytes())
                .map_err(&io)?;
        }
        Ok(total)
    }

    /// How many events were ever lost.
    pub fn lost(&self) -> Result<u64, SpoolError> {
        let path = self.dir.join(LOST_FILE);
        match fs::read_to_string(&path) {
            Ok(t) => Ok(t.trim().parse().unwrap_or(0)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(self.io(&path)(e)),
        }
    }
}

/// `<key>.<bytes>.hook` → (key, bytes).
fn parse_name(name: &str) -> Option<(&str, u64)> {
    let stem = name.strip_suffix(SUFFIX)?;
    let (key, bytes) = stem.rsplit_once('.')?;
    (valid_key(key)).then_some(())?;
    Some((key, bytes.parse().ok()?))
}

/// Parse a spool file's bytes.
pub fn decode(raw: &[u8]) -> Result<Spooled, String> {
    let nl = raw
        .iter()
        .position(|&b| b == b'\n')
        .ok_or("no header line")?;
    let head = std::str::from_utf8(&raw[..nl]).map_err(|_| "header is not UTF-8")?;
    let rest = head
        .strip_prefix(MAGIC)
        .ok_or("not a claude-hook spool file")?;
    let (version, key) = rest.split_once(' ').ok_or("header has no key")?;
    let version: u32 = version
        .parse()
        .map_err(|_| format!("bad version {version:?}"))?;
    if version != VERSION {
        return Err(format!(
            "format version {version}; this release reads version {VERSION}"
        ));
    }
    if !valid_key(key) {
        return Err(format!("invalid key {key:?}"));
    }
    Ok(Spooled {
        key: key.into(),
        payload: raw[nl + 1..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const ROOMY: Limits = Limits {
        max_events: 100,
        max_bytes: 1 << 20,
    };

    #[test]
    fn writes_lists_reads_and_removes_in_key_order() {
        let dir = tempfile::tempdir().unwrap();
        let s = Spool::new(dir.path());
        assert_eq!(s.usage().unwrap(), Usage::default(), "no directory yet");
        s.write("01B", b"{\"b\":1}", ROOMY).unwrap();
        s.write("01A", b"{\"a\":1}\n", ROOMY).unwrap();
        let list = s.list().unwrap();
        assert_eq!(
            list.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(),
            ["01A", "01B"]
        );
        assert_eq!(
            s.usage().unwrap(),
            Usage {
                events: 2,
                bytes: 15,
                lost: 0
            }
        );
        let got = s.read(&list[0]).unwrap();
        assert_eq!(got.key, "01A");
        assert_eq!(got.payload, b"{\"a\":1}\n");
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&list[0].path), 0o600);
        assert_eq!(mode(s.dir()), 0o700);
        s.remove(&list[0]).unwrap();
        s.remove(&list[0]).unwrap();
        assert_eq!(s.list().unwrap().len(), 1);
    }

    #[test]
    fn bounded_in_count_and_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let s = Spool::new(dir.path());
        let two = Limits {
            max_events: 2,
            max_bytes: 10,
        };
        s.write("a", b"1234", two).unwrap();
        assert!(matches!(
            s.write("b", b"1234567", two),
            Err(SpoolError::Full { .. })
        ));
        s.write("b", b"123456", two).unwrap();
        assert!(matches!(
            s.write("c", b"", two),
            Err(SpoolError::Full { count: 2, .. })
        ));
    }

    #[test]
    fn lost_events_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let s = Spool::new(dir.path());
        s.prepare().unwrap();
        assert_eq!(s.lost().unwrap(), 0);
        let size = fs::metadata(s.dir().join(LOST_FILE)).unwrap().len();
        s.record_lost().unwrap();
        assert_eq!(s.record_lost().unwrap(), 2);
        assert_eq!(s.usage().unwrap().lost, 2);
        s.prepare().unwrap();
        assert_eq!(s.lost().unwrap(), 2, "prepare keeps the count");
        assert_eq!(
            fs::metadata(s.dir().join(LOST_FILE)).unwrap().len(),
            size,
            "rewritten in place"
        );
    }

    #[test]
    fn bad_keys_and_foreign_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let s = Spool::new(dir.path());
        for k in ["", "../x", "a.b", "a b", &"x".repeat(129)] {
            assert!(
                matches!(s.write(k, b"{}", ROOMY), Err(SpoolError::BadKey(_))),
                "{k}"
            );
        }
        fs::create_dir_all(s.dir()).unwrap();
        fs::write(s.dir().join("notes.txt"), "x").unwrap();
        fs::write(s.dir().join(".tmp-k.2.hook"), "x").unwrap();
        assert!(s.list().unwrap().is_empty(), "only finished spool files");
        for raw in [
            &b""[..],
            b"claude-hook-spool/1 k",
            b"claude-hook-spool/2 k\n{}",
            b"claude-hook-spool/x k\n{}",
            b"other/1 k\n{}",
            b"claude-hook-spool/1 ../k\n{}",
        ] {
            assert!(decode(raw).is_err(), "{}", String::from_utf8_lossy(raw));
        }
        assert_eq!(
            decode(b"claude-hook-spool/1 k\n{}").unwrap(),
            Spooled {
                key: "k".into(),
                payload: b"{}".to_vec()
            }
        );
    }
}
