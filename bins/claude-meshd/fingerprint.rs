//! The request fingerprint frozen at accept time: what makes two sends with one
//! `client_message_id` "the same request". It covers the resolved destination (not the raw
//! `to`, so `alice` and her key are one destination), the mesh, the sending session, the
//! priority, `reply_to`, the RFC 8785 (JCS) canonical form of `meta` and the body's hash —
//! separated by zero bytes so no two field lists hash alike.

use sha2::{Digest, Sha256};

/// Version of the envelope the fingerprint describes.
const ENVELOPE_VERSION: &[u8] = b"claude-mesh-envelope-v1";

/// The parts of a send that the fingerprint covers.
pub struct Parts<'a> {
    /// Mesh name.
    pub mesh: &'a str,
    /// `dm`, `broadcast`, `group`, `topic`.
    pub kind: &'a str,
    /// Canonical resolved destination.
    pub dest: &'a str,
    /// Sending session, if any.
    pub from_session: Option<&'a str>,
    /// `now`, `next`, `low`.
    pub priority: &'a str,
    /// reply_to.
    pub reply_to: Option<&'a str>,
    /// meta as JCS text.
    pub meta_jcs: Option<&'a str>,
    /// The body.
    pub body: &'a str,
}

/// RFC 8785 canonical JSON of `meta`.
///
/// `serde_jcs` implements the spec's two hard parts (UTF-16 key order and ECMAScript number
/// formatting); sorted-key JSON, what claudemesh used, gets both wrong for some inputs.
pub fn canonical_meta(meta: &serde_json::Value) -> Result<String, String> {
    serde_jcs::to_string(meta).map_err(|e| e.to_string())
}

/// sha256 of the parts.
pub fn compute(p: &Parts<'_>) -> [u8; 32] {
    let body_hash = Sha256::digest(p.body.as_bytes());
    let mut h = Sha256::new();
    for field in [
        ENVELOPE_VERSION,
        p.mesh.as_bytes(),
        p.kind.as_bytes(),
        p.dest.as_bytes(),
        opt(p.from_session),
        p.priority.as_bytes(),
        opt(p.reply_to),
        opt(p.meta_jcs),
        &body_hash[..],
    ] {
        h.update(field);
        h.update([0]);
    }
    h.finalize().into()
}

// An absent optional hashes differently from an empty string.
fn opt(v: Option<&str>) -> &[u8] {
    v.map_or(b"\xff", str::as_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parts<'a>(meta: Option<&'a str>, body: &'a str) -> Parts<'a> {
        Parts {
            mesh: "m",
            kind: "dm",
            dest: "k/s",
            from_session: None,
            priority: "next",
            reply_to: None,
            meta_jcs: meta,
            body,
        }
    }

    #[test]
    fn jcs_orders_keys_and_numbers() {
        let a = canonical_meta(&json!({"b": 1, "a": [1.0, 2.5e0, "x"], "é": null})).unwrap();
        assert_eq!(a, r#"{"a":[1,2.5,"x"],"b":1,"é":null}"#);
        let b = canonical_meta(&json!({"a": [1, 2.5, "x"], "é": null, "b": 1.0})).unwrap();
        assert_eq!(a, b, "same meta in another order is the same request");
    }

    #[test]
    fn every_part_counts() {
        let base = compute(&parts(None, "hi"));
        assert_eq!(base, compute(&parts(None, "hi")));
        assert_ne!(base, compute(&parts(Some(""), "hi")), "absent ≠ empty");
        assert_ne!(base, compute(&parts(None, "hi!")));
        let mut p = parts(None, "hi");
        p.priority = "now";
        assert_ne!(base, compute(&p));
        let mut p = parts(None, "hi");
        p.mesh = "other";
        assert_ne!(base, compute(&p));
    }
}
