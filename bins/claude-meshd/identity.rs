//! The member identity's key file: the ed25519 seed, created on first start and kept in the
//! state directory with mode 0600. The key pair itself is [`claude_daemons::mesh::keys`].

pub use claude_daemons::mesh::keys::{hex, parse_public, Identity, KEY_FILE};
use std::path::Path;

/// Read the seed at `path`, or create one (32 random bytes, 0600) if there is none. A file
/// that others may read is refused: the key would be someone else's too.
pub fn load_or_create(path: &Path) -> anyhow::Result<Identity> {
    Ok(claude_daemons::mesh::keys::load_or_create(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

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
