//! Which names say their value is secret, and whether a value looks random enough to be one.
//!
//! Two strengths. A *strict* name (`DB_PASSWORD`, `GITHUB_TOKEN`, `client_secret`, `DB_PASS`,
//! `SECRET_KEY_BASE`, `apiKey`) makes any real value secret. A *gated* name (`STRIPE_KEY`,
//! `x_auth`, `signature`) only when the value looks random: at least [`GATED_MIN_LEN`]
//! characters, Shannon entropy of at least [`GATED_MIN_ENTROPY`] bits per character, and a
//! digit, both cases or a base64 symbol, and no space — so `sort_key=created_at` and `primary_key: id`
//! survive while `cache_key=9f86d081884c7d65` does not.

/// Least length of a value under a gated name.
pub const GATED_MIN_LEN: usize = 16;
/// Least Shannon entropy (bits per character) of a value under a gated name.
pub const GATED_MIN_ENTROPY: f64 = 3.0;

/// How much a name says about its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strength {
    /// Says nothing.
    None,
    /// Secret when the value looks random.
    Gated,
    /// Secret whatever the value.
    Strict,
}

/// Words that, as a name's last word, say the value is *about* a secret, not the secret
/// (`TOKEN_FILE`, `PASSWORD_PATH`, `KEY_ID`, `token_count`, `max_tokens`).
const NOT_THE_VALUE: &[&str] = &[
    "file",
    "path",
    "dir",
    "url",
    "uri",
    "count",
    "max",
    "min",
    "limit",
    "len",
    "length",
    "size",
    "type",
    "name",
    "id",
    "ids",
    "env",
    "field",
    "header",
    "prefix",
    "policy",
    "hint",
    "required",
    "enabled",
    "cmd",
    "command",
    "method",
    "format",
    "mode",
    "alg",
    "algorithm",
    "bits",
    "version",
    "usage",
    "expiry",
    "expires",
    "expiration",
    "ttl",
    "timeout",
    "budget",
    "index",
    "location",
    "store",
    "provider",
    "helper",
    "prompt",
    "label",
    "ref",
    "arn",
];

/// Whole names that look sensitive and are not: the shell's working directories.
const NOT_SECRET: &[&str] = &["pwd", "oldpwd", "keyboard", "keys", "key"];

/// Compound endings that are strict even though `key` alone is gated.
const STRICT_ENDINGS: &[&str] = &[
    "apikey",
    "accesskey",
    "secretkey",
    "privatekey",
    "privkey",
    "authkey",
    "masterkey",
    "signingkey",
    "encryptionkey",
    "clientsecret",
    "accountkey",
    "sharedaccesskey",
    "sessionkey",
    "licensekey",
];

/// Words after which `pass` is no password.
const PASS_WORDS: &[&str] = &[
    "bypass",
    "compass",
    "surpass",
    "trespass",
    "overpass",
    "underpass",
];

/// The words of a name: split at `_ - . :` and at lower→upper case changes, lowercased.
fn words(name: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_ascii_alphanumeric() {
            out.push(String::new());
            prev_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && prev_lower {
            out.push(String::new());
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        out.last_mut()
            .expect("never empty")
            .push(c.to_ascii_lowercase());
    }
    out.retain(|w| !w.is_empty());
    out
}

/// What `name` (a variable, field, header or flag name) says about its value.
pub fn strength(name: &str) -> Strength {
    let words = words(name);
    let Some(last) = words.last() else {
        return Strength::None;
    };
    let joined: String = words.concat();
    if NOT_SECRET.contains(&joined.as_str()) || NOT_THE_VALUE.contains(&last.as_str()) {
        return Strength::None;
    }
    let pass = words.iter().any(|w| {
        matches!(w.as_str(), "pass" | "pw" | "pwd" | "passwd")
            || w.contains("passw")
            || w.contains("passphrase")
            || w.contains("passcode")
            || (w.ends_with("pass") && !PASS_WORDS.iter().any(|p| w.ends_with(p)))
    });
    let strict = pass
        || joined.contains("secret")
        || words.iter().any(|w| {
            w == "token" || w.ends_with("token") || w.starts_with("credential") || w == "creds"
        })
        || STRICT_ENDINGS.iter().any(|e| joined.ends_with(e));
    if strict {
        return Strength::Strict;
    }
    let gated = words.iter().any(|w| {
        w.ends_with("key")
            || w == "keys"
            || w.ends_with("auth")
            || w == "sig"
            || w == "signature"
            || w == "cred"
            || w == "salt"
    });
    if gated {
        Strength::Gated
    } else {
        Strength::None
    }
}

/// Whether `value` is a real value rather than a reference or a placeholder
/// (`$DB_PASSWORD`, `${TOKEN}`, `{{ secret }}`, `<your-token>`, `null`, `true`).
pub fn is_real_value(value: &str) -> bool {
    let v = value.trim();
    !(v.is_empty()
        || v.starts_with('$')
        || v.starts_with("{{")
        || v.starts_with('<')
        || v.starts_with('%')
        || v.starts_with("[REDACTED")
        || matches!(
            v.to_ascii_lowercase().as_str(),
            "null" | "none" | "nil" | "true" | "false" | "undefined" | "\"\"" | "''"
        ))
}

/// Whether `value` under a name of `strength` is a secret.
pub fn is_secret(strength: Strength, value: &str) -> bool {
    match strength {
        Strength::None => false,
        Strength::Strict => is_real_value(value),
        Strength::Gated => is_real_value(value) && looks_random(value),
    }
}

/// Long enough, varied enough, one word, and not plain words or a path.
pub fn looks_random(v: &str) -> bool {
    // Keys are one word: text with spaces (a signature, a sentence) is no key.
    if v.len() < GATED_MIN_LEN
        || v.starts_with('/')
        || v.starts_with("./")
        || v.starts_with("~/")
        || v.contains(char::is_whitespace)
    {
        return false;
    }
    let b = v.as_bytes();
    let digit = b.iter().any(u8::is_ascii_digit);
    let mixed = b.iter().any(u8::is_ascii_uppercase) && b.iter().any(u8::is_ascii_lowercase);
    let symbol = b.iter().any(|c| b"+/=".contains(c));
    (digit || mixed || symbol) && entropy(b) >= GATED_MIN_ENTROPY
}

/// Shannon entropy of `b` in bits per byte.
pub fn entropy(b: &[u8]) -> f64 {
    if b.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &c in b {
        counts[c as usize] += 1;
    }
    let n = b.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strengths() {
        for n in [
            "DB_PASSWORD",
            "DB_PASS",
            "MYSQL_PWD",
            "passphrase",
            "GITHUB_TOKEN",
            "accessToken",
            "client_secret",
            "SECRET_KEY_BASE",
            "apiKey",
            "api-key",
            "X-Api-Key",
            "credentials",
            "--password",
            "AWS_SECRET_ACCESS_KEY",
            "AccountKey",
            "_authToken",
            "PGPASSWORD",
        ] {
            assert_eq!(strength(n), Strength::Strict, "{n}");
        }
        for n in [
            "STRIPE_KEY",
            "SENDGRID_KEY",
            "cache_key",
            "x_auth",
            "signature",
            "sort_key",
        ] {
            assert_eq!(strength(n), Strength::Gated, "{n}");
        }
        for n in [
            "max_tokens",
            "token_count",
            "TOKEN_FILE",
            "PASSWORD_PATH",
            "AWS_ACCESS_KEY_ID",
            "PWD",
            "OLDPWD",
            "user",
            "keyboard",
            "BYPASS_CACHE",
            "compass",
            "tokens",
            "author",
            "key",
            "keywords",
            "",
        ] {
            assert_eq!(strength(n), Strength::None, "{n}");
        }
    }

    #[test]
    fn gated_values() {
        assert!(looks_random("9f86d081884c7d659a2f"));
        assert!(!looks_random("ssh-ed25519"), "too short for a key");
        assert!(looks_random("wJalrXUtnFEMIK7MDENGbPxRfiCY"));
        for v in [
            "created_at_desc",
            "user_id",
            "id",
            "/home/u/.ssh/id_rsa",
            "aaaaaaaa1",
        ] {
            assert!(!looks_random(v), "{v}");
        }
        assert!(is_secret(Strength::Strict, "hunter2"));
        for v in [
            "$DB_PASSWORD",
            "${X}",
            "{{ vault }}",
            "<your-token>",
            "null",
            "",
        ] {
            assert!(!is_secret(Strength::Strict, v), "{v}");
        }
    }
}
