//! The host fingerprint: which machine this state directory belongs to. A state directory
//! copied to another machine (a restored backup, a cloned VM) would otherwise run a second
//! daemon with the same member key, and the mesh could not tell the two apart.
//!
//! sha256 over `/etc/machine-id` and the first stable MAC address: interfaces are taken in
//! name order, skipping loopback, virtual devices (bridges, veth, tun) and locally
//! administered (randomized) addresses, so Wi-Fi MAC randomization does not change it.

use crate::identity::hex;
use claude_daemons::config::HostPolicy;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

/// File name of the recorded fingerprint in the state directory.
pub const HOST_FILE: &str = "host-fingerprint.json";

/// What identifies a machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostId {
    /// sha256 of the parts, hex.
    pub fingerprint: String,
    /// `/etc/machine-id` (empty when missing).
    pub machine_id: String,
    /// The first stable MAC, or empty when the machine has none.
    pub mac: String,
}

impl HostId {
    /// Build from the parts.
    pub fn new(machine_id: &str, mac: &str) -> HostId {
        let mut h = Sha256::new();
        h.update(b"claude-meshd host v1\0");
        h.update(machine_id.as_bytes());
        h.update([0]);
        h.update(mac.as_bytes());
        HostId {
            fingerprint: hex(&h.finalize()),
            machine_id: machine_id.into(),
            mac: mac.into(),
        }
    }

    /// This machine.
    pub fn current() -> HostId {
        let machine_id = std::fs::read_to_string("/etc/machine-id")
            .or_else(|_| std::fs::read_to_string("/var/lib/dbus/machine-id"))
            .unwrap_or_default();
        HostId::new(
            machine_id.trim(),
            &first_stable_mac(Path::new("/sys/class/net")),
        )
    }
}

/// The first MAC of a physical interface that is globally administered.
pub fn first_stable_mac(class_net: &Path) -> String {
    let Ok(dir) = std::fs::read_dir(class_net) else {
        return String::new();
    };
    let mut names: Vec<_> = dir.flatten().map(|e| e.file_name()).collect();
    names.sort();
    for name in names {
        let iface = class_net.join(&name);
        if name == "lo" {
            continue;
        }
        // Virtual devices live under /sys/devices/virtual; their MACs are made up.
        let target = std::fs::canonicalize(&iface).unwrap_or_default();
        if target.to_string_lossy().contains("/virtual/") {
            continue;
        }
        let Ok(mac) = std::fs::read_to_string(iface.join("address")) else {
            continue;
        };
        let mac = mac.trim().to_ascii_lowercase();
        if is_stable_mac(&mac) {
            return mac;
        }
    }
    String::new()
}

/// Globally administered, unicast and not all zero.
pub fn is_stable_mac(mac: &str) -> bool {
    let Some(first) = mac.get(..2).and_then(|b| u8::from_str_radix(b, 16).ok()) else {
        return false;
    };
    mac.len() == 17 && first & 0x02 == 0 && first & 0x01 == 0 && mac != "00:00:00:00:00:00"
}

/// The outcome of comparing the recorded host with this one.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Same machine, or first start (now recorded).
    Same,
    /// Another machine, but the policy lets us start (`warn` logs it).
    Changed {
        /// Recorded.
        recorded: HostId,
    },
    /// Another machine and the policy refuses: exit 4.
    Refused {
        /// Recorded.
        recorded: HostId,
    },
}

/// Compare `current` with the file in `state_dir`, recording it on first start.
pub fn check(state_dir: &Path, current: &HostId, policy: HostPolicy) -> anyhow::Result<Verdict> {
    let path = state_dir.join(HOST_FILE);
    let recorded: HostId = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            record(state_dir, current)?;
            return Ok(Verdict::Same);
        }
        Err(e) => return Err(anyhow::anyhow!("{}: {e}", path.display())),
    };
    if recorded.fingerprint == current.fingerprint {
        return Ok(Verdict::Same);
    }
    Ok(match policy {
        HostPolicy::Refuse => Verdict::Refused { recorded },
        HostPolicy::Warn | HostPolicy::Allow => Verdict::Changed { recorded },
    })
}

/// Record `current` as this state directory's machine (`claude-meshd --accept-host`).
pub fn record(state_dir: &Path, current: &HostId) -> anyhow::Result<()> {
    let path = state_dir.join(HOST_FILE);
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, serde_json::to_vec_pretty(current)?)?;
    std::fs::rename(&tmp, &path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_rules() {
        assert!(is_stable_mac("00:1a:2b:3c:4d:5e"));
        assert!(!is_stable_mac("02:1a:2b:3c:4d:5e"), "locally administered");
        assert!(!is_stable_mac("da:1a:2b:3c:4d:5e"), "randomized");
        assert!(!is_stable_mac("01:00:5e:00:00:01"), "multicast");
        assert!(!is_stable_mac("00:00:00:00:00:00"));
        assert!(!is_stable_mac("nonsense"));
    }

    #[test]
    fn records_then_compares() {
        let dir = tempfile::tempdir().unwrap();
        let here = HostId::new("m1", "00:1a:2b:3c:4d:5e");
        assert_eq!(
            check(dir.path(), &here, HostPolicy::Refuse).unwrap(),
            Verdict::Same
        );
        assert_eq!(
            check(dir.path(), &here, HostPolicy::Refuse).unwrap(),
            Verdict::Same
        );
        let there = HostId::new("m2", "00:1a:2b:3c:4d:5e");
        assert!(matches!(
            check(dir.path(), &there, HostPolicy::Refuse).unwrap(),
            Verdict::Refused { recorded } if recorded == here
        ));
        assert!(matches!(
            check(dir.path(), &there, HostPolicy::Warn).unwrap(),
            Verdict::Changed { .. }
        ));
        record(dir.path(), &there).unwrap();
        assert_eq!(
            check(dir.path(), &there, HostPolicy::Refuse).unwrap(),
            Verdict::Same
        );
    }
}
