//! What travels on the broker: a signed, encrypted envelope. Never plaintext.
//!
//! - DMs: `crypto_box` (X25519 from both members' ed25519 keys, XSalsa20-Poly1305), so only
//!   the recipient member can read them.
//! - Broadcast, group and topic messages: XSalsa20-Poly1305 under the mesh key (sha256 of the
//!   mesh name and the configured `mesh_secret`), so the broker operator cannot read them.
//! - Every envelope is signed by the sender's ed25519 key over all its other fields, its
//!   send time included; a bad signature or a box that does not open is rejected before
//!   anything is stored, and the receiver refuses envelopes older than its replay window.
//! - A grouped envelope ([`seal_group`]) carries several DMs from one sender to one
//!   destination under one signature and one box: `items` (their count, signed) marks it.
//!   It keeps version 2 and kind `dm`, so a daemon of the previous version that is not its
//!   addressee drops it unread like any DM for another member; senders group only for
//!   members whose presence record announces `grouped` (an older addressee would refuse it).

use super::keys::{self as identity, Identity};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use crypto_box::aead::{Aead, AeadCore, KeyInit, OsRng};
use crypto_box::SalsaBox;
use crypto_secretbox::XSalsa20Poly1305;
use ed25519_dalek::{Signature, Verifier};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Format version of envelopes. Version 1 had no signed time, so a saved one could be
/// replayed at any time: it is refused.
pub const VERSION: u32 = 2;

/// The outer envelope (JSON on the wire).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Format version ([`VERSION`]).
    pub v: u32,
    /// When it was sealed (Unix ms, the sender's clock).
    pub ts: i64,
    /// Sender member key (hex).
    pub from: String,
    /// `dm`, `broadcast`, `group`, `topic`.
    pub kind: String,
    /// Canonical destination.
    pub to: String,
    /// 24-byte nonce, base64.
    pub nonce: String,
    /// Ciphertext, base64.
    pub ct: String,
    /// ed25519 signature over the fields above, base64.
    pub sig: String,
    /// A grouped envelope: how many messages its box holds (a JSON array of [`Inner`]).
    /// Absent for a single message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<u32>,
}

/// Most messages one grouped envelope may hold.
pub const MAX_GROUP: usize = 1000;

/// The sealed content.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Inner {
    /// The send's id.
    pub client_message_id: String,
    /// Sender's display name.
    pub from_name: String,
    /// Sending session.
    pub from_session: Option<String>,
    /// Body.
    pub body: String,
    /// Priority.
    pub priority: crate::api::mesh::Priority,
    /// reply_to.
    pub reply_to: Option<String>,
    /// meta (JCS text).
    pub meta: Option<String>,
    /// Accepted at.
    pub created_at: String,
}

/// Why an envelope was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    /// Not JSON of the right shape.
    #[error("malformed envelope: {0}")]
    Malformed(String),
    /// The signature does not verify.
    #[error("bad signature from {0}")]
    BadSignature(String),
    /// The box does not open (tampered, or not for us).
    #[error("cannot decrypt envelope from {0}")]
    Undecryptable(String),
    /// A DM for another member (not an error; skipped).
    #[error("not addressed to this member")]
    NotForUs,
}

/// Peer keys parsed once, and the `crypto_box` shared key with each computed once: parsing
/// an ed25519 key decompresses a curve point and the X25519 agreement is a scalar
/// multiplication, both far dearer than sealing or opening one small message, and a burst
/// to or from one peer needs them once.
#[derive(Default)]
pub struct Boxes(std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<PeerKeys>>>);

/// One peer's parsed key and, once a DM needed it, the shared key with it.
pub struct PeerKeys {
    key: ed25519_dalek::VerifyingKey,
    shared: std::sync::OnceLock<SalsaBox>,
}

impl PeerKeys {
    /// The peer's signing key.
    pub fn key(&self) -> &ed25519_dalek::VerifyingKey {
        &self.key
    }

    /// The shared key between `id` and this peer.
    pub fn shared(&self, id: &Identity) -> &SalsaBox {
        self.shared
            .get_or_init(|| SalsaBox::new(&identity::x25519_public(&self.key), &id.x25519_secret()))
    }
}

impl Boxes {
    /// The peer whose key is `peer_hex`; `None` when it is not an ed25519 key (not kept, so
    /// forged senders cannot fill the cache with junk that stays).
    pub fn peer(&self, peer_hex: &str) -> Option<std::sync::Arc<PeerKeys>> {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = m.get(peer_hex) {
            return Some(p.clone());
        }
        let key = identity::parse_public(peer_hex)?;
        if m.len() > 4096 {
            m.clear();
        }
        let p = std::sync::Arc::new(PeerKeys {
            key,
            shared: std::sync::OnceLock::new(),
        });
        m.insert(peer_hex.to_string(), p.clone());
        Some(p)
    }
}

/// The mesh key for group, topic and broadcast messages.
pub fn mesh_key(mesh: &str, secret: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"claude-mesh-key-v1\0");
    h.update(mesh.as_bytes());
    h.update([0]);
    h.update(secret.as_bytes());
    h.finalize().into()
}

/// What an envelope's signature covers: every field but the version and the signature. A
/// grouped envelope is signed under its own domain with its count, so neither form can pass
/// for the other.
pub fn signed_bytes(e: &Envelope) -> Vec<u8> {
    let mut m = Vec::new();
    let domain = match e.items {
        None => "claude-mesh-envelope-v2".to_string(),
        Some(n) => format!("claude-mesh-envelope-v2-group\0{n}"),
    };
    for f in [
        domain.as_str(),
        &e.ts.to_string(),
        &e.from,
        &e.kind,
        &e.to,
        &e.nonce,
        &e.ct,
    ] {
        m.extend_from_slice(f.as_bytes());
        m.push(0);
    }
    m
}

/// Why an envelope could not be sealed.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The inner message does not serialize.
    #[error("{0}")]
    Serialize(#[from] serde_json::Error),
    /// A DM's recipient is not a member key.
    #[error("recipient key {0:?} is not an ed25519 key")]
    Recipient(String),
    /// The cipher refused (never, for these sizes).
    #[error("encryption failed")]
    Encryption,
    /// A group of fewer than two or more than [`MAX_GROUP`] messages, or not a DM.
    #[error("a group holds 2 to {MAX_GROUP} direct messages")]
    Group,
}

/// Seal `inner` for `to` (`kind` `dm`: `to` starts with the recipient's key), at `ts_ms`.
pub fn seal(
    id: &Identity,
    boxes: &Boxes,
    mesh_key: &[u8; 32],
    kind: &str,
    to: &str,
    inner: &Inner,
    ts_ms: i64,
) -> Result<Envelope, SealError> {
    let plain = serde_json::to_vec(inner)?;
    seal_bytes(id, boxes, mesh_key, kind, to, &plain, None, ts_ms)
}

/// Seal `inners` (2 to [`MAX_GROUP`] DMs from this member to `to`, in order) as one grouped
/// envelope, at `ts_ms`: one signature and one box for all of them.
pub fn seal_group(
    id: &Identity,
    boxes: &Boxes,
    to: &str,
    inners: &[Inner],
    ts_ms: i64,
) -> Result<Envelope, SealError> {
    if !(2..=MAX_GROUP).contains(&inners.len()) {
        return Err(SealError::Group);
    }
    let plain = serde_json::to_vec(inners)?;
    let n = Some(inners.len() as u32);
    // The mesh key is not used for a DM.
    seal_bytes(id, boxes, &[0; 32], "dm", to, &plain, n, ts_ms)
}

#[allow(clippy::too_many_arguments)]
fn seal_bytes(
    id: &Identity,
    boxes: &Boxes,
    mesh_key: &[u8; 32],
    kind: &str,
    to: &str,
    plain: &[u8],
    items: Option<u32>,
    ts_ms: i64,
) -> Result<Envelope, SealError> {
    let (nonce, ct) = if kind == "dm" {
        let key = to.split('/').next().unwrap_or("");
        let their = boxes
            .peer(key)
            .ok_or_else(|| SealError::Recipient(key.to_string()))?;
        let nonce = SalsaBox::generate_nonce(&mut OsRng);
        let ct = their
            .shared(id)
            .encrypt(&nonce, plain)
            .map_err(|_| SealError::Encryption)?;
        (nonce, ct)
    } else {
        let b = XSalsa20Poly1305::new(mesh_key.into());
        let nonce = XSalsa20Poly1305::generate_nonce(&mut OsRng);
        let ct = b
            .encrypt(&nonce, plain)
            .map_err(|_| SealError::Encryption)?;
        (nonce, ct)
    };
    let mut e = Envelope {
        v: VERSION,
        ts: ts_ms,
        from: id.public_hex().into(),
        kind: kind.into(),
        to: to.into(),
        nonce: B64.encode(nonce),
        ct: B64.encode(ct),
        sig: String::new(),
        items,
    };
    e.sig = B64.encode(id.sign(&signed_bytes(&e)));
    Ok(e)
}

/// Verify and open an envelope received from the broker: its messages, in order (one, or
/// those of a grouped envelope).
pub fn open(
    id: &Identity,
    boxes: &Boxes,
    mesh_key: &[u8; 32],
    raw: &[u8],
) -> Result<(Envelope, Vec<Inner>), OpenError> {
    let e: Envelope = serde_json::from_slice(raw).map_err(|err| {
        let v1 = serde_json::from_slice::<serde_json::Value>(raw)
            .is_ok_and(|v| v.get("v") == Some(&1.into()));
        OpenError::Malformed(if v1 {
            "version 1 (no signed time; the sender needs an upgrade)".into()
        } else {
            err.to_string()
        })
    })?;
    if e.v != VERSION {
        return Err(OpenError::Malformed(format!("version {}", e.v)));
    }
    if let Some(n) = e.items {
        if e.kind != "dm" || !(2..=MAX_GROUP as u32).contains(&n) {
            return Err(OpenError::Malformed(format!(
                "a group of {n} {} messages",
                e.kind
            )));
        }
    }
    // Every member's consumer sees every DM of the mesh, its own sent ones included: one
    // addressed to another key is dropped before the signature check, which cost a sender
    // a sixth of its work per message (nothing of it is kept, so nothing needs trusting).
    if e.kind == "dm" && e.to.split('/').next() != Some(id.public_hex()) {
        return Err(OpenError::NotForUs);
    }
    let sender = boxes
        .peer(&e.from)
        .ok_or_else(|| OpenError::Malformed("sender key".into()))?;
    let sig_bytes: [u8; 64] = B64
        .decode(&e.sig)
        .ok()
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| OpenError::BadSignature(e.from.clone()))?;
    sender
        .key()
        .verify(&signed_bytes(&e), &Signature::from_bytes(&sig_bytes))
        .map_err(|_| OpenError::BadSignature(e.from.clone()))?;
    let nonce_bytes = B64
        .decode(&e.nonce)
        .ok()
        .filter(|n| n.len() == 24)
        .ok_or_else(|| OpenError::Malformed("nonce".into()))?;
    let nonce = crypto_box::Nonce::from_slice(&nonce_bytes);
    let ct = B64
        .decode(&e.ct)
        .map_err(|_| OpenError::Malformed("ciphertext".into()))?;
    let plain = match e.kind.as_str() {
        "dm" => sender.shared(id).decrypt(nonce, ct.as_slice()),
        "broadcast" | "group" | "topic" => {
            XSalsa20Poly1305::new(mesh_key.into()).decrypt(nonce, ct.as_slice())
        }
        other => return Err(OpenError::Malformed(format!("kind {other:?}"))),
    }
    .map_err(|_| OpenError::Undecryptable(e.from.clone()))?;
    let inners = match e.items {
        None => vec![serde_json::from_slice::<Inner>(&plain)
            .map_err(|err| OpenError::Malformed(format!("inner: {err}")))?],
        Some(n) => {
            let v: Vec<Inner> = serde_json::from_slice(&plain)
                .map_err(|err| OpenError::Malformed(format!("group: {err}")))?;
            if v.len() != n as usize {
                return Err(OpenError::Malformed(format!(
                    "group of {} messages, signed as {n}",
                    v.len()
                )));
            }
            v
        }
    };
    Ok((e, inners))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inner() -> Inner {
        Inner {
            client_message_id: "c1".into(),
            from_name: "a".into(),
            from_session: None,
            body: "secret words".into(),
            priority: Default::default(),
            reply_to: None,
            meta: None,
            created_at: "2026-01-01T00:00:00.000Z".into(),
        }
    }

    #[test]
    fn dm_round_trip_and_rejections() {
        let (a, b, c) = (
            Identity::from_seed([1; 32]),
            Identity::from_seed([2; 32]),
            Identity::from_seed([3; 32]),
        );
        let k = mesh_key("m", "s");
        let to = format!("{}/sess", b.public_hex());
        let e = seal(&a, &Boxes::default(), &k, "dm", &to, &inner(), 7).unwrap();
        let raw = serde_json::to_vec(&e).unwrap();
        assert!(
            !String::from_utf8_lossy(&raw).contains("secret words"),
            "no plaintext"
        );
        let (_, got) = open(&b, &Boxes::default(), &k, &raw).unwrap();
        assert_eq!(got, vec![inner()]);
        assert_eq!(
            open(&c, &Boxes::default(), &k, &raw).unwrap_err(),
            OpenError::NotForUs
        );

        let mut forged = e.clone();
        forged.to = format!("{}/other", b.public_hex());
        let err = open(
            &b,
            &Boxes::default(),
            &k,
            &serde_json::to_vec(&forged).unwrap(),
        )
        .unwrap_err();
        assert!(matches!(err, OpenError::BadSignature(_)), "{err}");

        // The signed time cannot be moved (a replay cannot pass for a fresh message).
        let mut later = e.clone();
        later.ts += 86_400_000;
        let err = open(
            &b,
            &Boxes::default(),
            &k,
            &serde_json::to_vec(&later).unwrap(),
        )
        .unwrap_err();
        assert!(matches!(err, OpenError::BadSignature(_)), "{err}");

        // Signed by the real key of c, but claims to be from a: the signature fails.
        let mut by_c = seal(&c, &Boxes::default(), &k, "dm", &to, &inner(), 7).unwrap();
        by_c.from = a.public_hex().into();
        let err = open(
            &b,
            &Boxes::default(),
            &k,
            &serde_json::to_vec(&by_c).unwrap(),
        )
        .unwrap_err();
        assert!(matches!(err, OpenError::BadSignature(_)), "{err}");
    }

    #[test]
    fn a_dm_for_another_member_is_dropped_before_its_signature_is_checked() {
        let (a, b, c) = (
            Identity::from_seed([1; 32]),
            Identity::from_seed([2; 32]),
            Identity::from_seed([3; 32]),
        );
        let k = mesh_key("m", "s");
        let mut e = seal(&a, &Boxes::default(), &k, "dm", b.public_hex(), &inner(), 7).unwrap();
        e.sig = B64.encode([0u8; 64]);
        let raw = serde_json::to_vec(&e).unwrap();
        // Not for c: dropped unverified (verifying cost every member a signature check per
        // DM of the mesh). For b, the forgery is still caught.
        assert_eq!(
            open(&c, &Boxes::default(), &k, &raw).unwrap_err(),
            OpenError::NotForUs
        );
        let err = open(&b, &Boxes::default(), &k, &raw).unwrap_err();
        assert!(matches!(err, OpenError::BadSignature(_)), "{err}");
    }

    #[test]
    fn group_needs_the_mesh_key() {
        let (a, b) = (Identity::from_seed([1; 32]), Identity::from_seed([2; 32]));
        let e = seal(
            &a,
            &Boxes::default(),
            &mesh_key("m", "s"),
            "group",
            "@ops",
            &inner(),
            7,
        )
        .unwrap();
        let raw = serde_json::to_vec(&e).unwrap();
        assert!(open(&b, &Boxes::default(), &mesh_key("m", "s"), &raw).is_ok());
        let err = open(&b, &Boxes::default(), &mesh_key("m", "other"), &raw).unwrap_err();
        assert!(matches!(err, OpenError::Undecryptable(_)), "{err}");
    }

    #[test]
    fn a_group_opens_to_its_messages_in_order_and_cannot_be_altered() {
        let (a, b, c) = (
            Identity::from_seed([1; 32]),
            Identity::from_seed([2; 32]),
            Identity::from_seed([3; 32]),
        );
        let k = mesh_key("m", "s");
        let msgs: Vec<Inner> = (0..3)
            .map(|i| Inner {
                client_message_id: format!("c{i}"),
                ..inner()
            })
            .collect();
        let e = seal_group(&a, &Boxes::default(), b.public_hex(), &msgs, 7).unwrap();
        assert_eq!(e.items, Some(3));
        let raw = serde_json::to_vec(&e).unwrap();
        assert!(!String::from_utf8_lossy(&raw).contains("secret words"));
        let (got_env, got) = open(&b, &Boxes::default(), &k, &raw).unwrap();
        assert_eq!((got_env, got), (e.clone(), msgs.clone()));
        assert_eq!(
            open(&c, &Boxes::default(), &k, &raw).unwrap_err(),
            OpenError::NotForUs
        );
        let reopen =
            |e: &Envelope| open(&b, &Boxes::default(), &k, &serde_json::to_vec(e).unwrap());

        // The count is signed, and the grouped form has its own domain: neither the count
        // nor the form can be changed.
        for items in [Some(2), Some(4), None] {
            let mut forged = e.clone();
            forged.items = items;
            let err = reopen(&forged).unwrap_err();
            assert!(
                matches!(err, OpenError::BadSignature(_)),
                "{items:?}: {err}"
            );
        }
        let single = seal(&a, &Boxes::default(), &k, "dm", b.public_hex(), &inner(), 7).unwrap();
        let mut as_group = single.clone();
        as_group.items = Some(2);
        let err = reopen(&as_group).unwrap_err();
        assert!(matches!(err, OpenError::BadSignature(_)), "{err}");
        let mut ct = e.clone();
        ct.ct = B64.encode(vec![0u8; 64]);
        let err = reopen(&ct).unwrap_err();
        assert!(matches!(err, OpenError::BadSignature(_)), "{err}");

        // Signed, but its box holds another count than it says: refused.
        let two = serde_json::to_vec(&msgs[..2]).unwrap();
        let lying = seal_bytes(
            &a,
            &Boxes::default(),
            &k,
            "dm",
            b.public_hex(),
            &two,
            Some(3),
            7,
        )
        .unwrap();
        let err = reopen(&lying).unwrap_err();
        assert!(matches!(err, OpenError::Malformed(_)), "{err}");
        // Groups are of DMs only, of 2 to MAX_GROUP messages.
        let group =
            seal_bytes(&a, &Boxes::default(), &k, "group", "@ops", &two, Some(2), 7).unwrap();
        let err = reopen(&group).unwrap_err();
        assert!(matches!(err, OpenError::Malformed(_)), "{err}");
        assert!(seal_group(&a, &Boxes::default(), b.public_hex(), &msgs[..1], 7).is_err());
    }
}
