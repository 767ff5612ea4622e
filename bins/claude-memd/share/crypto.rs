//! What travels on the broker: a record sealed with the team key (XSalsa20-Poly1305 under
//! sha256 of the team's name and secret) and signed by the member's ed25519 key over every
//! other field and the subject. The broker sees the sender's key, the time and ciphertext;
//! the subject names a project only by a keyed hash.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use claude_daemons::api::memory_transfer::MemoryRecord;
use claude_daemons::mesh::keys::{hex, parse_public, Identity};
use crypto_secretbox::aead::{Aead, AeadCore, KeyInit, OsRng};
use crypto_secretbox::XSalsa20Poly1305;
use ed25519_dalek::{Signature, Verifier};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Format version.
pub const VERSION: u32 = 1;

/// The team key.
pub fn team_key(team: &str, secret: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"claude-memory-share-key-v1\0");
    h.update(team.as_bytes());
    h.update([0]);
    h.update(secret.as_bytes());
    h.finalize().into()
}

/// The subject of a project: `memory.<team>.p.<keyed hash of its portable identity>`.
pub fn subject(team: &str, key: &[u8; 32], portable: &str) -> String {
    let mut h = Sha256::new();
    h.update(key);
    h.update(portable.as_bytes());
    format!("memory.{team}.p.{}", &hex(&h.finalize())[..32])
}

/// The sealed envelope (JSON on the wire).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sealed {
    /// [`VERSION`].
    pub v: u32,
    /// When sealed (Unix ms, the sender's clock).
    pub ts: i64,
    /// The sender's key (hex).
    pub from: String,
    /// 24-byte nonce, base64.
    pub nonce: String,
    /// Ciphertext of a [`Payload`], base64.
    pub ct: String,
    /// Signature, base64.
    pub sig: String,
}

/// What one message says.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    /// The sender's display name.
    pub name: String,
    /// The sender's host.
    pub host: String,
    /// The project's portable identity.
    pub portable: String,
    /// A record (new or a new version) or its tombstone.
    pub op: Op,
}

/// A record or a tombstone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Op {
    /// Store (or replace) this record.
    Put {
        /// The record; its `origin` is `team:<member>:<kind>:<id>`.
        record: Box<MemoryRecord>,
    },
    /// Delete the record of this origin.
    Del {
        /// The forgotten record's origin.
        origin: String,
    },
}

/// Why a message was dropped.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    /// Not an envelope of this version.
    #[error("malformed: {0}")]
    Malformed(String),
    /// The signature does not verify.
    #[error("bad signature from {0}")]
    BadSignature(String),
    /// Not sealed with this team's key.
    #[error("cannot decrypt (another team secret?) from {0}")]
    Undecryptable(String),
}

fn signed_bytes(subject: &str, ts: i64, from: &str, nonce: &str, ct: &str) -> Vec<u8> {
    let mut m = Vec::new();
    for f in [
        "claude-memory-share-v1",
        subject,
        &ts.to_string(),
        from,
        nonce,
        ct,
    ] {
        m.extend_from_slice(f.as_bytes());
        m.push(0);
    }
    m
}

/// Seal `payload` for `subject`.
pub fn seal(
    id: &Identity,
    key: &[u8; 32],
    subject: &str,
    payload: &Payload,
    ts: i64,
) -> Result<Vec<u8>, String> {
    let plain = serde_json::to_vec(payload).map_err(|e| e.to_string())?;
    let cipher = XSalsa20Poly1305::new(key.into());
    let nonce = XSalsa20Poly1305::generate_nonce(&mut OsRng);
    let ct = cipher
        .encrypt(&nonce, plain.as_slice())
        .map_err(|_| "encryption failed".to_string())?;
    let (nonce, ct) = (B64.encode(nonce), B64.encode(ct));
    let sig = B64.encode(id.sign(&signed_bytes(subject, ts, id.public_hex(), &nonce, &ct)));
    serde_json::to_vec(&Sealed {
        v: VERSION,
        ts,
        from: id.public_hex().into(),
        nonce,
        ct,
        sig,
    })
    .map_err(|e| e.to_string())
}

/// Verify and open a message received on `subject`: its sender's key and what it says.
pub fn open(key: &[u8; 32], subject: &str, raw: &[u8]) -> Result<(String, Payload), OpenError> {
    let e: Sealed =
        serde_json::from_slice(raw).map_err(|err| OpenError::Malformed(err.to_string()))?;
    if e.v != VERSION {
        return Err(OpenError::Malformed(format!("version {}", e.v)));
    }
    let sender = parse_public(&e.from).ok_or_else(|| OpenError::Malformed("sender key".into()))?;
    let sig: [u8; 64] = B64
        .decode(&e.sig)
        .ok()
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| OpenError::BadSignature(e.from.clone()))?;
    sender
        .verify(
            &signed_bytes(subject, e.ts, &e.from, &e.nonce, &e.ct),
            &Signature::from_bytes(&sig),
        )
        .map_err(|_| OpenError::BadSignature(e.from.clone()))?;
    let nonce = B64
        .decode(&e.nonce)
        .ok()
        .filter(|n| n.len() == 24)
        .ok_or_else(|| OpenError::Malformed("nonce".into()))?;
    let ct = B64
        .decode(&e.ct)
        .map_err(|_| OpenError::Malformed("ciphertext".into()))?;
    let plain = XSalsa20Poly1305::new(key.into())
        .decrypt(nonce.as_slice().into(), ct.as_slice())
        .map_err(|_| OpenError::Undecryptable(e.from.clone()))?;
    let payload: Payload =
        serde_json::from_slice(&plain).map_err(|err| OpenError::Malformed(err.to_string()))?;
    Ok((e.from, payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload() -> Payload {
        Payload {
            name: "ann".into(),
            host: "h".into(),
            portable: "github.com/o/r".into(),
            op: Op::Del {
                origin: "team:k:observation:1".into(),
            },
        }
    }

    #[test]
    fn seals_opens_and_rejects_tampering_and_other_teams() {
        let id = Identity::from_seed([3; 32]);
        let key = team_key("t", "secret");
        let subj = subject("t", &key, "github.com/o/r");
        let raw = seal(&id, &key, &subj, &payload(), 1).unwrap();
        assert!(!String::from_utf8_lossy(&raw).contains("github.com"));
        let (from, p) = open(&key, &subj, &raw).unwrap();
        assert_eq!((from.as_str(), p), (id.public_hex(), payload()));
        let other = team_key("t", "other secret");
        assert!(matches!(
            open(&other, &subj, &raw),
            Err(OpenError::Undecryptable(_))
        ));
        assert!(matches!(
            open(&key, "memory.t.p.elsewhere", &raw),
            Err(OpenError::BadSignature(_))
        ));
        let mut v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        v["ts"] = 2.into();
        let bad = serde_json::to_vec(&v).unwrap();
        assert!(matches!(
            open(&key, &subj, &bad),
            Err(OpenError::BadSignature(_))
        ));
        assert!(matches!(
            open(&key, &subj, b"{}"),
            Err(OpenError::Malformed(_))
        ));
    }
}
