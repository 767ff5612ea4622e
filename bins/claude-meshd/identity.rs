//! The member identity's key file: the ed25519 seed, created on first start and kept in the
//! state directory with mode 0600. The key pair itself is [`claude_daemons::mesh::keys`].

use anyhow::{bail, Context as _};
pub use claude_daemons::mesh::keys::{hex, parse_public, Identity};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// File name of the secret seed inside the state directory.
pub const KEY_FILE: &str = "mesh-identity.key";

/// Read the seed at `path`, or create one (32 random bytes, 0600) if there is none. A file
/// that others may read is refused: the key would be someone else's too.
pub fn load_or_create(path: &Path) -> anyhow::Result<Identity> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                bail!(
                    "{}: mode {mode:o} lets others read the mesh key; chmod 600 it",
                    path.display()
                );
            }
            let seed: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                anyhow::anyhow!(
                    "{}: expected 32 bytes, found {}",
                    path.display(),
                    bytes.len()
                )
            })?;
            Ok(Identity::from_seed(seed))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            getrandom::getrandom(&mut seed).context("no randomness for the mesh key")?;
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)
                .with_context(|| format!("create {}", tmp.display()))?;
            f.write_all(&seed)?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)?;
            Ok(Identity::from_seed(seed))
        }
        Err(e) => Err(e).with_context(|| format!("read {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_0600_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(KEY_FILE);
        let a = load_or_create(&p).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let b = load_or_create(&p).unwrap();
        assert_eq!(a.public_hex(), b.public_hex());
        assert_eq!(a.public_hex().len(), 64);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(load_or_create(&p).is_err(), "readable key refused");
    }
}
