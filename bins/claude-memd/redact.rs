//! Secret redaction: API keys and tokens by their well-known shapes, private key blocks,
//! credentials in URLs, bearer tokens and `NAME=value` / `name: value` assignments whose
//! name says secret. Hand-written scanners (linear, no regex engine): they run on every
//! string of every stored event.

/// What a secret is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// Token prefixes of well-known services, with the least length of what follows.
const PREFIXES: &[(&str, usize)] = &[
    ("sk-ant-", 16),
    ("sk-proj-", 16),
    ("sk-", 20),
    ("ghp_", 20),
    ("gho_", 20),
    ("ghu_", 20),
    ("ghs_", 20),
    ("ghr_", 20),
    ("github_pat_", 20),
    ("glpat-", 16),
    ("xoxb-", 10),
    ("xoxp-", 10),
    ("xoxa-", 10),
    ("xapp-", 10),
    ("AKIA", 16),
    ("ASIA", 16),
    ("AIza", 30),
    ("npm_", 30),
    ("pypi-", 30),
    ("hf_", 30),
    ("eyJ", 30),
];

/// Name endings that mark a value as secret.
const SENSITIVE: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "access_key",
    "secret_key",
    "private_key",
    "credential",
    "credentials",
];

/// Whether a variable or field name says its value is secret (`DB_PASSWORD`, `apiKey`,
/// `GITHUB_TOKEN`; not `max_tokens` or `token_count`).
pub fn sensitive_key(name: &str) -> bool {
    let n: String = name
        .chars()
        .map(|c| match c {
            '-' | '.' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    let n = n.trim_matches(|c| c == '"' || c == '\'');
    SENSITIVE.iter().any(|s| n.ends_with(s))
}

/// `text` with every secret found replaced by [`REDACTED`].
pub fn redact(text: &str) -> String {
    let mut out = private_keys(text);
    out = url_credentials(&out);
    out = bearer(&out);
    out = prefixed_tokens(&out);
    assignments(&out)
}

fn private_keys(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let head_end = rest[start..]
            .find("-----\n")
            .or(rest[start..].find("-----\r"));
        let is_private = head_end.is_some_and(|e| rest[start..start + e].contains("PRIVATE KEY"));
        if !is_private {
            out.push_str(&rest[..start + 11]);
            rest = &rest[start + 11..];
            continue;
        }
        out.push_str(&rest[..start]);
        out.push_str("[REDACTED PRIVATE KEY]");
        let after = &rest[start..];
        let end = after
            .find("-----END ")
            .and_then(|e| after[e + 9..].find("-----").map(|f| e + 9 + f + 5))
            .unwrap_or(after.len());
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

fn token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

fn prefixed_tokens(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut i = 0;
    while i < b.len() {
        // Only at a token start: not in the middle of a word.
        if i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_' || b[i - 1] == b'-') {
            i += 1;
            continue;
        }
        let hit = PREFIXES.iter().find_map(|(p, min)| {
            if !b[i..].starts_with(p.as_bytes()) {
                return None;
            }
            let body = b[i + p.len()..]
                .iter()
                .take_while(|&&c| token_char(c) || (*p == "eyJ" && c == b'.'))
                .count();
            (body >= *min).then_some(p.len() + body)
        });
        match hit {
            Some(len) => {
                out.push_str(&text[last..i]);
                out.push_str(REDACTED);
                i += len;
                last = i;
            }
            None => i += 1,
        }
    }
    out.push_str(&text[last..]);
    out
}

fn url_credentials(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(s) = rest.find("://") {
        let auth_start = s + 3;
        let tail = &rest[auth_start..];
        let auth_end = tail
            .find(|c: char| c == '/' || c.is_whitespace() || c == '"' || c == '\'')
            .unwrap_or(tail.len());
        let auth = &tail[..auth_end];
        match (auth.rfind('@'), auth.find(':')) {
            (Some(at), Some(colon)) if colon < at && at > colon + 1 => {
                out.push_str(&rest[..auth_start + colon + 1]);
                out.push_str(REDACTED);
                rest = &rest[auth_start + at..];
            }
            _ => {
                out.push_str(&rest[..auth_start]);
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    out
}

fn bearer(text: &str) -> String {
    // One lowercased copy for the whole scan: ASCII lowercasing keeps byte offsets, and
    // lowercasing the rest again after every match made a pasted log of many `Bearer`
    // lines quadratic (inside the writer's transaction).
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    while let Some(i) = lower[pos..].find("bearer ") {
        let p = pos + i;
        let after = &text[p + 7..];
        let skip = after.len() - after.trim_start().len();
        let tok = &after[skip..];
        let len = tok
            .bytes()
            .take_while(|&c| c.is_ascii_alphanumeric() || b"-._~+/=".contains(&c))
            .count();
        if len >= 16 {
            out.push_str(&text[pos..p + 7 + skip]);
            out.push_str(REDACTED);
            pos = p + 7 + skip + len;
        } else {
            out.push_str(&text[pos..p + 7]);
            pos = p + 7;
        }
    }
    out.push_str(&text[pos..]);
    out
}

/// `NAME=value`, `NAME: value`, `"name": "value"` when NAME is [`sensitive_key`].
fn assignments(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'=' && b[i] != b':' {
            i += 1;
            continue;
        }
        // The name before the operator, past an optional closing quote and spaces.
        let mut k = i;
        while k > last && b[k - 1] == b' ' {
            k -= 1;
        }
        if k > last && (b[k - 1] == b'"' || b[k - 1] == b'\'') {
            k -= 1;
        }
        let name_end = k;
        while k > last && (b[k - 1].is_ascii_alphanumeric() || b"_-.".contains(&b[k - 1])) {
            k -= 1;
        }
        if k == name_end || !sensitive_key(&text[k..name_end]) {
            i += 1;
            continue;
        }
        // The value after the operator.
        let mut v = i + 1;
        while v < b.len() && b[v] == b' ' {
            v += 1;
        }
        let quote = (v < b.len() && (b[v] == b'"' || b[v] == b'\'')).then(|| b[v]);
        if quote.is_some() {
            v += 1;
        }
        let mut e = v;
        while e < b.len() {
            let c = b[e];
            let stop = match quote {
                Some(q) => c == q || c == b'\n',
                None => c.is_ascii_whitespace() || b"\"',;}&".contains(&c),
            };
            if stop {
                break;
            }
            e += 1;
        }
        let value = &text[v..e];
        if value.is_empty() || value.starts_with('$') || value == REDACTED {
            i = e.max(i + 1);
            continue;
        }
        out.push_str(&text[last..v]);
        out.push_str(REDACTED);
        last = e;
        i = e.max(i + 1);
    }
    out.push_str(&text[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each line holds a secret that must disappear; the marker word must survive.
    const SECRETS: &[(&str, &str)] = &[
        ("export ANTHROPIC_API_KEY=sk-ant-api03-AbCdEf0123456789xyzXYZ-_abc", "sk-ant-api03"),
        ("key sk-proj-abcdefghijklmnop0123456789ABCD in config", "abcdefghijklmnop"),
        ("token ghp_1234567890abcdefghijABCDEFGHIJ123456 pushed", "ghp_1234"),
        ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuv", "github_pat_11"),
        ("aws AKIAIOSFODNN7EXAMPLE key", "AKIAIOSFODNN7EXAMPLE"),
        ("slack xoxb-123456789012-abcdefABCDEF here", "xoxb-1234"),
        ("DB_PASSWORD=hunter2 psql", "hunter2"),
        ("password: correcthorsebatterystaple", "correcthorse"),
        (r#"{"client_secret": "s3cr3t-value"}"#, "s3cr3t"),
        ("AWS_SECRET_ACCESS_KEY='wJalrXUtnFEMI/K7MDENG/bPxRfiCY'", "wJalrXUtn"),
        ("curl -H 'Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345' x", "abcdefghijklmnopqrstuvwxyz012345"),
        ("git clone https://bob:pa55w0rd@example.com/r.git", "pa55w0rd"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "dozjgNryP4J3"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\n-----END RSA PRIVATE KEY-----\nafter", "MIIEowIBAAKCAQEA7"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA\n", "b3BlbnNzaC1rZXktdjEAAAA"),
        ("GITHUB_TOKEN=abc123def456 make release", "abc123def456"),
    ];

    /// Text that looks a little like a secret but is not one: left alone.
    const INNOCENT: &[&str] = &[
        "max_tokens=4096 and token_count: 12",
        "PASSWORD=$DB_PASSWORD ./run",
        "see https://example.com/path?x=1",
        "the sk-short key",
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
        "Bearer tokens are explained in RFC 6750",
        "task-ant-colony and desk-9",
        "a = b; key: value",
    ];

    #[test]
    fn corpus_secrets_are_removed() {
        for (text, secret) in SECRETS {
            let r = redact(text);
            assert!(!r.contains(secret), "{text:?} -> {r:?}");
            assert!(r.contains("REDACTED"), "{text:?} -> {r:?}");
        }
        assert!(redact(SECRETS[13].0).ends_with("\nafter"));
        assert!(redact(SECRETS[0].0).starts_with("export ANTHROPIC_API_KEY="));
    }

    #[test]
    fn innocent_text_is_unchanged() {
        for text in INNOCENT {
            assert_eq!(redact(text), *text);
        }
    }

    #[test]
    fn handles_unicode_and_edges() {
        assert_eq!(redact(""), "");
        assert_eq!(redact("ü=ö: ß"), "ü=ö: ß");
        assert_eq!(redact("token="), "token=");
        let r = redact("é password=ünïcödé ok");
        assert_eq!(r, "é password=[REDACTED] ok");
    }

    #[test]
    fn sensitive_names() {
        for k in [
            "DB_PASSWORD",
            "apiKey",
            "api-key",
            "GITHUB_TOKEN",
            "client.secret",
        ] {
            assert!(sensitive_key(k), "{k}");
        }
        for k in ["max_tokens", "token_count", "user", "keyboard"] {
            assert!(!sensitive_key(k), "{k}");
        }
    }

    #[test]
    fn many_bearer_lines_cost_linear_time() {
        // A pasted log: 20,000 lines with a bearer token each (~1 MB).
        let text = "GET / Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123\n".repeat(20_000);
        let t = std::time::Instant::now();
        let out = redact(&text);
        assert!(!out.contains("abcdefghijklmnop"));
        assert!(
            t.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            t.elapsed()
        );
    }
}
