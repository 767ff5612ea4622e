//! The free space claude-memd leaves on the state directory's filesystem ([memory]
//! disk_reserve_mb): below it the intake writer commits nothing and hooks are answered 507,
//! so that claude-hook writes their events into that room (the spool) instead of SQLite
//! filling the disk to the last byte.

use std::path::PathBuf;

/// Free space the writer keeps on the database's filesystem.
#[derive(Clone, Debug)]
pub struct Reserve {
    /// A directory on that filesystem.
    pub dir: PathBuf,
    /// Bytes to leave free (0: none).
    pub bytes: u64,
}

impl Reserve {
    /// `Err(reason)` when less than the reserve is free.
    pub fn check(&self) -> Result<(), String> {
        if self.bytes == 0 {
            return Ok(());
        }
        let free =
            free_bytes(&self.dir).map_err(|e| format!("statvfs {}: {e}", self.dir.display()))?;
        if free < self.bytes {
            return Err(format!(
                "disk nearly full: {} KiB free on {}, below the {} MiB kept free for the hook spool ([memory] disk_reserve_mb)",
                free >> 10,
                self.dir.display(),
                self.bytes >> 20
            ));
        }
        Ok(())
    }
}

/// Bytes an unprivileged process may still write on the filesystem holding `dir`.
pub fn free_bytes(dir: &std::path::Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: statvfs writes into the zeroed struct we own; the path is NUL-terminated.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}
