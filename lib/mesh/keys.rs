//! Member keys: one ed25519 key pair per daemon (per user and machine). It signs every
//! envelope and presence record a member publishes; its X25519 form (the birational map
//! used by libsodium) opens DMs. Reading and creating the key file is claude-meshd's.

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};

/// A member's key pair.
pub struct Identity {
    signing: SigningKey,
    public_hex: String,
}

impl Identity {
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

/// File name of the member's secret seed inside the state directory (claude-meshd's, which
/// claude-memd's team memory signs with too).
pub const KEY_FILE: &str = "mesh-identity.key";

/// Why the key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Others may read it: the key would be someone else's too.
    #[error("{0}: mode {1:o} lets others read the mesh key; chmod 600 it")]
    Readable(std::path::PathBuf, u32),
    /// Not a seed.
    #[error("{0}: expected 32 bytes, found {1}")]
    Length(std::path::PathBuf, usize),
    /// No randomness for a new seed.
    #[error("no randomness for the mesh key: {0}")]
    Random(String),
    /// Reading or writing failed.
    #[error("{0}: {1}")]
    Io(std::path::PathBuf, std::io::Error),
}

/// Read the seed at `path`, or create one (32 random bytes, mode 0600, written to a
/// temporary file and renamed) if there is none. A file that others may read is refused.
pub fn load_or_create(path: &std::path::Path) -> Result<Identity, KeyFileError> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let io = |e| KeyFileError::Io(path.to_path_buf(), e);
    match std::fs::read(path) {
        Ok(bytes) => {
            let mode = std::fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(KeyFileError::Readable(path.to_path_buf(), mode));
            }
            let seed: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| KeyFileError::Length(path.to_path_buf(), bytes.len()))?;
            Ok(Identity::from_seed(seed))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            getrandom::getrandom(&mut seed).map_err(|e| KeyFileError::Random(e.to_string()))?;
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            let tmp_io = |e| KeyFileError::Io(tmp.clone(), e);
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(tmp_io)?;
            f.write_all(&seed).map_err(tmp_io)?;
            f.sync_all().map_err(tmp_io)?;
            // Two daemons creating it at once: the first one's stays, both use it.
            if std::fs::hard_link(&tmp, path).is_err() {
                let _ = std::fs::remove_file(&tmp);
                return load_or_create(path);
            }
            let _ = std::fs::remove_file(&tmp);
            Ok(Identity::from_seed(seed))
        }
        Err(e) => Err(io(e)),
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
    fn x25519_forms_agree() {
        let id = Identity::from_seed([7; 32]);
        let public = parse_public(id.public_hex()).unwrap();
        assert_eq!(
            x25519_public(&public).as_bytes(),
            id.x25519_secret().public_key().as_bytes()
        );
    }
}
