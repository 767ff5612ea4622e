//! The `[supervisor]` broker keys: checked at start (a bad value refuses to start, naming
//! the key), and the connection built from them.

use claude_daemons::config::SupervisorConfig;
use std::time::Duration;

/// A fleet or host name: one token of a NATS subject and part of a bucket name.
pub fn valid_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// This machine's host name, made a valid fleet host name.
pub fn default_host() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    let mut h: String = raw
        .trim()
        .split('.')
        .next()
        .unwrap_or("")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    h.truncate(64);
    if h.is_empty() {
        "host".into()
    } else {
        h
    }
}

/// What the broker keys say, checked.
#[derive(Clone, Debug)]
pub struct Settings {
    pub url: String,
    pub fleet: String,
    pub host: String,
}

/// Check the broker keys; the error names the key and what is accepted.
pub fn check(cfg: &SupervisorConfig) -> Result<Option<Settings>, String> {
    let Some(url) = &cfg.broker_url else {
        return Ok(None);
    };
    if !["nats://", "tls://"]
        .iter()
        .any(|p| url.strip_prefix(p).is_some_and(|rest| !rest.is_empty()))
    {
        return Err(format!(
            "[supervisor] broker_url = {url:?}: use nats://host:port or tls://host:port"
        ));
    }
    if !valid_name(&cfg.fleet) {
        return Err(format!(
            "[supervisor] fleet = {:?}: use 1 to 64 of A-Z a-z 0-9 _ -",
            cfg.fleet
        ));
    }
    let host = cfg.host.clone().unwrap_or_else(default_host);
    if !valid_name(&host) {
        return Err(format!(
            "[supervisor] host = {host:?}: use 1 to 64 of A-Z a-z 0-9 _ -"
        ));
    }
    let given = [
        ("broker_token", cfg.broker_token.is_some()),
        ("broker_nkey_seed", cfg.broker_nkey_seed.is_some()),
        ("broker_creds_file", cfg.broker_creds_file.is_some()),
    ];
    let set: Vec<&str> = given.iter().filter(|g| g.1).map(|g| g.0).collect();
    if set.len() > 1 {
        return Err(format!(
            "[supervisor] {}: give one way to log in to the broker, not {}",
            set.join(", "),
            set.len()
        ));
    }
    if let Some(seed) = &cfg.broker_nkey_seed {
        // A seed is 58 characters of base32 (the client checks its checksum at connect).
        let base32 = |c: u8| c.is_ascii_uppercase() || (b'2'..=b'7').contains(&c);
        if !seed.starts_with("SU") || seed.len() != 58 || !seed.bytes().all(base32) {
            return Err(
                "[supervisor] broker_nkey_seed: not a user NKey seed (SU…, from `nk -gen user`)"
                    .into(),
            );
        }
    }
    for (key, path) in [
        ("broker_creds_file", &cfg.broker_creds_file),
        ("broker_ca_file", &cfg.broker_ca_file),
    ] {
        if let Some(p) = path {
            if let Err(e) = std::fs::metadata(p) {
                return Err(format!("[supervisor] {key} = {p:?}: {e}"));
            }
        }
    }
    for (from, to) in &cfg.workspace_map {
        if !from.starts_with('/') || !to.starts_with('/') {
            return Err(format!(
                "[supervisor] workspace_map: {from:?} = {to:?}: both must be absolute paths"
            ));
        }
    }
    Ok(Some(Settings {
        url: url.clone(),
        fleet: cfg.fleet.clone(),
        host,
    }))
}

/// The connection options: credentials, TLS roots, reconnecting forever, a broker that is
/// down at start retried in the background.
pub fn options(cfg: &SupervisorConfig, s: &Settings) -> Result<async_nats::ConnectOptions, String> {
    let mut o = async_nats::ConnectOptions::new()
        .name(format!("claude-supervisord {}/{}", s.fleet, s.host))
        .retry_on_initial_connect()
        .max_reconnects(None)
        .ping_interval(Duration::from_secs(10))
        .connection_timeout(Duration::from_secs(5))
        .reconnect_delay_callback(claude_daemons::nats::reconnect_delay);
    if let Some(t) = &cfg.broker_token {
        o = o.token(t.clone());
    }
    if let Some(seed) = &cfg.broker_nkey_seed {
        o = o.nkey(seed.clone());
    }
    if let Some(path) = &cfg.broker_creds_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("[supervisor] broker_creds_file = {path:?}: {e}"))?;
        o = o
            .credentials(&text)
            .map_err(|e| format!("[supervisor] broker_creds_file = {path:?}: {e}"))?;
    }
    if let Some(ca) = &cfg.broker_ca_file {
        o = o.add_root_certificates(ca.into());
    }
    if s.url.starts_with("tls://") {
        o = o.require_tls(true);
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(url: &str) -> SupervisorConfig {
        SupervisorConfig {
            broker_url: Some(url.into()),
            host: Some("a".into()),
            ..SupervisorConfig::default()
        }
    }

    #[test]
    fn bad_broker_keys_are_refused_with_their_name() {
        assert!(check(&SupervisorConfig::default()).unwrap().is_none());
        assert!(check(&cfg("nats://127.0.0.1:4222")).unwrap().is_some());
        assert!(check(&cfg("tls://broker:4222")).unwrap().is_some());
        let e = check(&cfg("http://x")).unwrap_err();
        assert!(e.contains("broker_url"), "{e}");
        let mut c = cfg("nats://x:1");
        c.fleet = "a.b".into();
        assert!(check(&c).unwrap_err().contains("fleet"));
        let mut c = cfg("nats://x:1");
        c.host = Some("has space".into());
        assert!(check(&c).unwrap_err().contains("host"));
        let mut c = cfg("nats://x:1");
        c.broker_token = Some("t".into());
        c.broker_creds_file = Some("/etc/hostname".into());
        let e = check(&c).unwrap_err();
        assert!(e.contains("broker_token, broker_creds_file"), "{e}");
        let mut c = cfg("nats://x:1");
        c.broker_nkey_seed = Some("SUnotaseed".into());
        assert!(check(&c).unwrap_err().contains("broker_nkey_seed"));
        let mut c = cfg("nats://x:1");
        c.broker_ca_file = Some("/nonexistent/ca.pem".into());
        assert!(check(&c).unwrap_err().contains("broker_ca_file"));
        let mut c = cfg("nats://x:1");
        c.workspace_map.insert("relative".into(), "/x".into());
        assert!(check(&c).unwrap_err().contains("workspace_map"));
    }

    #[test]
    fn host_names_become_subject_tokens() {
        assert!(valid_name(&default_host()));
        assert!(!valid_name(""));
        assert!(!valid_name("a*b"));
        assert!(!valid_name(&"a".repeat(65)));
    }
}
