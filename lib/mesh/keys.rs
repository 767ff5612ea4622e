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
