//! The signed presence record. Anyone who can publish on the broker can write the presence
//! bucket, so a record is believed only when the member it names signed it:
//!
//! ```text
//! {"v": 2, "data": "<JSON text of Signed>", "sig": "<ed25519 signature, base64>"}
//! ```
//!
//! The signature covers the exact `data` bytes (no re-serialisation, so nothing is lost to
//! canonicalisation), and `data` names the mesh and the bucket key it was written under, so
//! a record cannot be moved to another key or mesh. The bucket key is
//! `<member key>.<hex session id>`; the member key in it must be the signer's.

use super::fields;
use super::keys::{self as identity, hex, Identity};
use crate::api::mesh::{Member, Peer};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signature, Verifier};
use serde::{Deserialize, Serialize};

/// Format version of signed records.
const VERSION: u32 = 2;

/// Domain separation of the signature.
const DOMAIN: &[u8] = b"claude-mesh-presence-v2\0";

/// What a presence record says, once verified.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Signed {
    /// The mesh it belongs to.
    pub mesh: String,
    /// The bucket key it was written under.
    pub kv_key: String,
    /// The session as peers list it.
    pub peer: Peer,
    /// When it was written (Unix ms, the signer's clock).
    pub heartbeat_ms: i64,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    v: u32,
    data: String,
    sig: String,
}

/// Why a record was dropped.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Rejected {
    /// Not a record at all.
    #[error("malformed presence record: {0}")]
    Malformed(String),
    /// A record without a signature (written by an old release or by hand).
    #[error("unsigned presence record (format {0}, expected {VERSION})")]
    Unsigned(u32),
    /// The bucket key is not `<member key>.<hex session>`.
    #[error("bucket key is not <member key>.<hex session id>")]
    BadKey,
    /// The signature does not verify against the key the record is filed under.
    #[error("signature does not verify against the key it is filed under")]
    BadSignature,
    /// Signed, but for another mesh, bucket key, member or session.
    #[error("signed for another place: {0}")]
    Misfiled(&'static str),
    /// Signed, but a field is out of bounds.
    #[error("invalid field: {0}")]
    Invalid(String),
}

/// The bucket key of a session's record.
pub fn kv_key(member: &str, session_id: &str) -> String {
    format!("{member}.{}", hex(session_id.as_bytes()))
}

/// Sign `peer`'s record for `mesh`, written at `heartbeat_ms`.
pub fn sign(id: &Identity, mesh: &str, peer: &Peer, heartbeat_ms: i64) -> Vec<u8> {
    let signed = Signed {
        mesh: mesh.into(),
        kv_key: kv_key(id.public_hex(), &peer.session_id),
        peer: peer.clone(),
        heartbeat_ms,
    };
    seal(
        id,
        DOMAIN,
        serde_json::to_string(&signed).expect("a record serializes"),
    )
}

/// Verify a session record read from bucket key `key` of `mesh`; returns what it says.
pub fn verify(mesh: &str, key: &str, raw: &[u8]) -> Result<Signed, Rejected> {
    let (data, member, session_hex) = open_wire(DOMAIN, key, raw)?;
    let s: Signed = serde_json::from_str(&data).map_err(|e| Rejected::Malformed(e.to_string()))?;
    if s.mesh != mesh {
        return Err(Rejected::Misfiled("mesh"));
    }
    if s.kv_key != key {
        return Err(Rejected::Misfiled("bucket key"));
    }
    if s.peer.key != member {
        return Err(Rejected::Misfiled("member key"));
    }
    if hex(s.peer.session_id.as_bytes()) != session_hex {
        return Err(Rejected::Misfiled("session"));
    }
    fields::peer(&s.peer).map_err(Rejected::Invalid)?;
    Ok(s)
}

/// Check the wire form and the signature of a record filed under `key`
/// (`<member key>.<rest>`) against that member key; returns the signed text, the member key
/// and the rest of the bucket key.
fn open_wire<'k>(
    domain: &[u8],
    key: &'k str,
    raw: &[u8],
) -> Result<(String, &'k str, &'k str), Rejected> {
    let wire: Wire = match serde_json::from_slice(raw) {
        Ok(w) => w,
        Err(e) => {
            // An old, unsigned record has no `v`: say so rather than "missing field".
            return Err(
                match serde_json::from_slice::<serde_json::Value>(raw)
                    .ok()
                    .filter(|v| v.get("peer").is_some())
                {
                    Some(_) => Rejected::Unsigned(1),
                    None => Rejected::Malformed(e.to_string()),
                },
            );
        }
    };
    if wire.v != VERSION {
        return Err(Rejected::Unsigned(wire.v));
    }
    let (member, rest) = key.split_once('.').ok_or(Rejected::BadKey)?;
    if member.len() != 64
        || member
            .bytes()
            .any(|b| !matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(Rejected::BadKey);
    }
    let signer = identity::parse_public(member).ok_or(Rejected::BadKey)?;
    let sig: [u8; 64] = B64
        .decode(&wire.sig)
        .ok()
        .and_then(|s| s.try_into().ok())
        .ok_or(Rejected::BadSignature)?;
    let mut msg = domain.to_vec();
    msg.extend_from_slice(wire.data.as_bytes());
    signer
        .verify(&msg, &Signature::from_bytes(&sig))
        .map_err(|_| Rejected::BadSignature)?;
    Ok((wire.data, member, rest))
}

/// Sign `data` under `domain` into the wire form.
fn seal(id: &Identity, domain: &[u8], data: String) -> Vec<u8> {
    let mut msg = domain.to_vec();
    msg.extend_from_slice(data.as_bytes());
    let sig = B64.encode(id.sign(&msg));
    serde_json::to_vec(&Wire {
        v: VERSION,
        data,
        sig,
    })
    .expect("a record serializes")
}

/// The bucket key of a member's own record. `m` is not a hex digit, so it never collides
/// with a session's key.
pub fn member_kv_key(member: &str) -> String {
    format!("{member}.{MEMBER_SUFFIX}")
}

/// The last part of a member record's bucket key.
pub const MEMBER_SUFFIX: &str = "m";

/// Domain separation of member records (a session record cannot pass for one).
const MEMBER_DOMAIN: &[u8] = b"claude-mesh-member-v2\0";

/// What a member record says, once verified.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SignedMember {
    /// The mesh it belongs to.
    pub mesh: String,
    /// The bucket key it was written under.
    pub kv_key: String,
    /// The member (its `sessions` are not part of the record: they have their own).
    pub member: Member,
    /// When it was written (Unix ms, the signer's clock).
    pub heartbeat_ms: i64,
}

/// Sign this member's own record, written at `heartbeat_ms`.
pub fn sign_member(id: &Identity, mesh: &str, member: &Member, heartbeat_ms: i64) -> Vec<u8> {
    let signed = SignedMember {
        mesh: mesh.into(),
        kv_key: member_kv_key(id.public_hex()),
        member: Member {
            sessions: Vec::new(),
            ..member.clone()
        },
        heartbeat_ms,
    };
    seal(
        id,
        MEMBER_DOMAIN,
        serde_json::to_string(&signed).expect("a record serializes"),
    )
}

/// Verify a member record read from bucket key `key` of `mesh`.
pub fn verify_member(mesh: &str, key: &str, raw: &[u8]) -> Result<SignedMember, Rejected> {
    let (data, member, rest) = open_wire(MEMBER_DOMAIN, key, raw)?;
    if rest != MEMBER_SUFFIX {
        return Err(Rejected::BadKey);
    }
    let s: SignedMember =
        serde_json::from_str(&data).map_err(|e| Rejected::Malformed(e.to_string()))?;
    if s.mesh != mesh {
        return Err(Rejected::Misfiled("mesh"));
    }
    if s.kv_key != key {
        return Err(Rejected::Misfiled("bucket key"));
    }
    if s.member.key != member {
        return Err(Rejected::Misfiled("member key"));
    }
    fields::name(&s.member.name).map_err(Rejected::Invalid)?;
    fields::place(s.member.hostname.as_deref(), None).map_err(Rejected::Invalid)?;
    if !s.member.sessions.is_empty()
        || s.member.last_seen_at.len() > 64
        || !fields::one_line(&s.member.last_seen_at)
    {
        return Err(Rejected::Invalid("member record fields".into()));
    }
    Ok(s)
}

/// Whether a bucket key holds a member record rather than a session's.
pub fn is_member_key(key: &str) -> bool {
    key.split_once('.')
        .is_some_and(|(_, rest)| rest == MEMBER_SUFFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(id: &Identity, session: &str, name: &str) -> Peer {
        Peer {
            local: true,
            last_seen_at: "2026-01-01T00:00:00.000Z".into(),
            key: id.public_hex().into(),
            session_id: session.into(),
            name: name.into(),
            hostname: None,
            cwd: None,
            pid: None,
            groups: vec![],
            topics: vec![],
            profile: Default::default(),
            online: true,
            channel: false,
        }
    }

    #[test]
    fn a_signed_record_verifies_only_where_it_was_filed() {
        let (a, x) = (Identity::from_seed([1; 32]), Identity::from_seed([9; 32]));
        let p = peer(&a, "s1", "alice");
        let raw = sign(&a, "team", &p, 5);
        let key = kv_key(a.public_hex(), "s1");
        let got = verify("team", &key, &raw).unwrap();
        assert_eq!((got.peer, got.heartbeat_ms), (p.clone(), 5));

        assert_eq!(
            verify("other", &key, &raw).unwrap_err(),
            Rejected::Misfiled("mesh")
        );
        // Moved to another session's key of the same member.
        let moved = kv_key(a.public_hex(), "s2");
        assert_eq!(
            verify("team", &moved, &raw).unwrap_err(),
            Rejected::Misfiled("bucket key")
        );
        // Filed under the attacker's key: the signature is not the attacker's.
        let under_x = kv_key(x.public_hex(), "s1");
        assert_eq!(
            verify("team", &under_x, &raw).unwrap_err(),
            Rejected::BadSignature
        );
        // The attacker signs a record naming the victim's key: filed under the victim's key
        // it does not verify, filed under its own it names the wrong member.
        let forged = sign(&x, "team", &p, 6);
        assert_eq!(
            verify("team", &key, &forged).unwrap_err(),
            Rejected::BadSignature
        );
        assert_eq!(
            verify("team", &under_x, &forged).unwrap_err(),
            Rejected::Misfiled("member key")
        );
        // Tampered data.
        let mut w: Wire = serde_json::from_slice(&raw).unwrap();
        w.data = w.data.replace("alice", "mallory");
        let tampered = serde_json::to_vec(&w).unwrap();
        assert_eq!(
            verify("team", &key, &tampered).unwrap_err(),
            Rejected::BadSignature
        );
        // The old unsigned format, and an empty key.
        let old = serde_json::json!({"peer": p, "heartbeat_ms": 1}).to_string();
        assert_eq!(
            verify("team", &key, old.as_bytes()).unwrap_err(),
            Rejected::Unsigned(1)
        );
        assert_eq!(verify("team", ".7331", &raw).unwrap_err(), Rejected::BadKey);
    }

    #[test]
    fn member_records_verify_only_as_member_records() {
        let (a, x) = (Identity::from_seed([1; 32]), Identity::from_seed([9; 32]));
        let m = Member {
            key: a.public_hex().into(),
            name: "alice".into(),
            hostname: Some("box".into()),
            local: true,
            online: true,
            last_seen_at: "2026-01-01T00:00:00.000Z".into(),
            sessions: vec![],
            grouped: true,
        };
        let raw = sign_member(&a, "team", &m, 7);
        let key = member_kv_key(a.public_hex());
        assert!(is_member_key(&key));
        assert!(!is_member_key(&kv_key(a.public_hex(), "s1")));
        let got = verify_member("team", &key, &raw).unwrap();
        assert_eq!((got.member.name.as_str(), got.heartbeat_ms), ("alice", 7));
        assert!(
            got.member.grouped,
            "the capability is part of the signed record"
        );
        // An older daemon's record has no `grouped`: it takes single messages only.
        let old = sign_member(
            &a,
            "team",
            &Member {
                grouped: false,
                ..m.clone()
            },
            7,
        );
        assert!(!String::from_utf8_lossy(&old).contains("grouped"));
        assert!(!verify_member("team", &key, &old).unwrap().member.grouped);
        // Not a session record, and a session record is not a member record.
        assert_eq!(
            verify("team", &key, &raw).unwrap_err(),
            Rejected::BadSignature
        );
        let p = peer(&a, "s1", "alice");
        let session = sign(&a, "team", &p, 5);
        assert_eq!(
            verify_member("team", &key, &session).unwrap_err(),
            Rejected::BadSignature
        );
        // Under another member's key, or signed by another key for this one.
        assert_eq!(
            verify_member("team", &member_kv_key(x.public_hex()), &raw).unwrap_err(),
            Rejected::BadSignature
        );
        let forged = sign_member(&x, "team", &m, 8);
        assert_eq!(
            verify_member("team", &key, &forged).unwrap_err(),
            Rejected::BadSignature
        );
        assert_eq!(
            verify_member("other", &key, &raw).unwrap_err(),
            Rejected::Misfiled("mesh")
        );
    }

    #[test]
    fn signed_but_invalid_fields_are_refused() {
        let a = Identity::from_seed([1; 32]);
        let p = peer(&a, "s1", "\u{1b}]0;owned\u{7}");
        let raw = sign(&a, "team", &p, 5);
        let err = verify("team", &kv_key(a.public_hex(), "s1"), &raw).unwrap_err();
        assert!(matches!(err, Rejected::Invalid(_)), "{err}");
    }
}
