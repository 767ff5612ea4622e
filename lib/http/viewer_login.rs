//! Browser login for a web page on a loopback TCP listener (claude-memd's viewer).
//!
//! A browser cannot present the bearer token, so the owner asks the daemon over its Unix
//! socket (`claudectl mem open`) for a one-time code; visiting `/login/<code>` on the TCP
//! listener exchanges it for a session cookie. Codes live only in memory, are used once and
//! expire within a minute. The cookie is stateless — an expiry and an HMAC of it under a
//! secret kept in the state directory — so it survives the daemon's idle exits and restarts;
//! deleting the secret file logs every browser out.

use super::guard::Token;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The session cookie's name.
pub const COOKIE: &str = "claude_viewer";
/// How long a login code may wait for its visit.
pub const CODE_LIFETIME: Duration = Duration::from_secs(60);
/// How long a browser stays logged in.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);
/// Codes waiting at once; more means something is asking in a loop.
const MAX_CODES: usize = 64;

/// Issues one-time login codes and checks session cookies.
pub struct ViewerLogin {
    secret: Token,
    codes: Mutex<HashMap<String, Instant>>,
}

impl std::fmt::Debug for ViewerLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ViewerLogin(…)")
    }
}

fn random_hex() -> std::io::Result<String> {
    let mut b = [0u8; 32];
    getrandom::getrandom(&mut b).map_err(std::io::Error::other)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl ViewerLogin {
    /// Load the cookie secret at `path` (creating it, mode 0600, if missing).
    pub fn load_or_create(path: &Path) -> std::io::Result<ViewerLogin> {
        Ok(ViewerLogin {
            secret: Token::load_or_create(path)?,
            codes: Mutex::new(HashMap::new()),
        })
    }

    /// A new one-time code, valid for [`CODE_LIFETIME`].
    pub fn issue(&self) -> std::io::Result<String> {
        let code = random_hex()?;
        let mut codes = self.codes.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        codes.retain(|_, issued| now.duration_since(*issued) < CODE_LIFETIME);
        if codes.len() >= MAX_CODES {
            return Err(std::io::Error::other(
                "too many login links are waiting; use one or wait a minute",
            ));
        }
        codes.insert(code.clone(), now);
        Ok(code)
    }

    /// Use `code` up: the session cookie's value when it was issued, unused and fresh.
    pub fn redeem(&self, code: &str) -> Option<String> {
        let issued = self
            .codes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(code)?;
        (issued.elapsed() < CODE_LIFETIME).then(|| self.session(now_secs()))
    }

    fn mac(&self, expires: u64) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.secret.secret()).expect("HMAC takes any key size");
        mac.update(format!("viewer-session:{expires}").as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect()
    }

    fn session(&self, now: u64) -> String {
        let expires = now + SESSION_LIFETIME.as_secs();
        format!("{expires}.{}", self.mac(expires))
    }

    /// Whether a cookie value is a session this daemon issued and still honours.
    pub fn valid(&self, value: &str) -> bool {
        let Some((expires, mac)) = value.split_once('.') else {
            return false;
        };
        let Ok(expires) = expires.parse::<u64>() else {
            return false;
        };
        expires > now_secs()
            && expires <= now_secs() + SESSION_LIFETIME.as_secs()
            && Token::same(&self.mac(expires), mac)
    }

    /// The session cookie in a request's `Cookie` header, if any.
    pub fn cookie_in(header: &str) -> Option<&str> {
        header
            .split(';')
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == COOKIE)
            .map(|(_, v)| v)
    }

    /// The `Set-Cookie` value for a session.
    pub fn set_cookie(value: &str) -> String {
        format!(
            "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
            SESSION_LIFETIME.as_secs()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_one_time_and_cookies_verify() {
        let dir = tempfile::tempdir().unwrap();
        let login = ViewerLogin::load_or_create(&dir.path().join("viewer-key")).unwrap();
        let code = login.issue().unwrap();
        let cookie = login.redeem(&code).expect("fresh code");
        assert!(login.redeem(&code).is_none(), "second use refused");
        assert!(login.redeem("0").is_none());
        assert!(login.valid(&cookie));
        let (exp, mac) = cookie.split_once('.').unwrap();
        let later: u64 = exp.parse::<u64>().unwrap() + 1;
        assert!(!login.valid(&format!("{later}.{mac}")), "expiry is signed");
        assert!(!login.valid(&format!("{}.{mac}", now_secs() - 1)));
        assert!(!login.valid("garbage"));
        let again = ViewerLogin::load_or_create(&dir.path().join("viewer-key")).unwrap();
        assert!(again.valid(&cookie), "survives a restart");
        let other = tempfile::tempdir().unwrap();
        let stranger = ViewerLogin::load_or_create(&other.path().join("k")).unwrap();
        assert!(!stranger.valid(&cookie));
        assert_eq!(
            ViewerLogin::cookie_in(&format!("a=b; {COOKIE}={cookie}")),
            Some(cookie.as_str())
        );
    }

    #[test]
    fn waiting_codes_are_capped() {
        let dir = tempfile::tempdir().unwrap();
        let login = ViewerLogin::load_or_create(&dir.path().join("k")).unwrap();
        for _ in 0..MAX_CODES {
            login.issue().unwrap();
        }
        assert!(login.issue().is_err());
    }
}
