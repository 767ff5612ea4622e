//! The member identity: one ed25519 key pair per daemon (per user and machine), created on
//! first start and kept in the state directory with mode 0600. It signs every envelope this
//! daemon publishes; its X25519 form (the birational map used by libsodium) opens DMs.

use anyhow::{bail, Context as _};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// File name of the secret seed inside the state directory.
pub const KEY_FILE: &str = "mesh-identity.key";

/// This daemon's key pair.
pub struct Identity {
    signing: SigningKey,
    public_hex: String,
}

impl Identity {
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

    /// The identity with this secret seed.
    pub fn from_seed(seed: [u8; 32]) -> Identity {
        let signing = SigningKey::from_bytes(&seed);
        let public_hex = hex(signing.verifying_key().as_bytes());
        Identity {
            signing,
            public_hex,
        }
    }

    /// The public key, lower-case hex (64 characters): the member's address.
    pub fn public_hex(&self) -> &str {
        &self.public_hex
    }

    /// Sign `msg`.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.signing.sign(msg).to_bytes()
    }

    /// The X25519 secret matching [`x25519_public`] of our public key.
    pub fn x25519_secret(&self) -> crypto_box::SecretKey {
        crypto_box::SecretKey::from(self.signing.to_scalar_bytes())
    }
}

/// Parse a member key from hex.
pub fn parse_public(hex_key: &str) -> Option<VerifyingKey> {
    let bytes = unhex(hex_key)?;
    let arr: [u8; 32] = bytes.as_slice().try_into().ok()?;
    VerifyingKey::from_bytes(&arr).ok()
}

/// A member's X25519 public key, derived from its ed25519 key.
pub fn x25519_public(key: &VerifyingKey) -> crypto_box::PublicKey {
    crypto_box::PublicKey::from(key.to_montgomery().to_bytes())
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Decode hex (either case); `None` if malformed.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_0600_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(KEY_FILE);
        let a = Identity::load_or_create(&p).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let b = Identity::load_or_create(&p).unwrap();
        assert_eq!(a.public_hex(), b.public_hex());
        assert_eq!(a.public_hex().len(), 64);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(
            Identity::load_or_create(&p).is_err(),
            "readable key refused"
        );
    }

    #[test]
    fn x25519_forms_agree() {
        let id = Identity::from_seed([7; 32]);
        let public = parse_public(id.public_hex()).unwrap();
        assert_eq!(
            x25519_public(&public).as_bytes(),
            id.x25519_secret().public_key().as_bytes()
        );
    }
}
