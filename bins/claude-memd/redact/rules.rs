//! The secret shapes looked for, one rule each. Written for this project, informed by the
//! families that maintained scanners (gitleaks, trufflehog, detect-secrets) cover.
//!
//! Patterns are byte regexes with Unicode off (`\b`, `\s`, `\w` and `(?i)` are ASCII): they
//! run over every string of every stored event, and ASCII classes keep the automata small
//! and fast. The secret is the capture group `s`, or the whole match without one; a rule may
//! add a check on its captures (entropy, a name's strength, a decoded credential).

use super::names;
use base64::Engine;
use regex::bytes::{Captures, Match};

/// One secret shape.
pub struct Rule {
    /// What it finds (for tests and the corpus).
    pub name: &'static str,
    /// The pattern.
    pub pattern: &'static str,
    /// A further test on a match; `None` takes every match.
    pub check: Option<fn(&Captures) -> bool>,
}

const fn rule(name: &'static str, pattern: &'static str) -> Rule {
    Rule {
        name,
        pattern,
        check: None,
    }
}

const fn checked(name: &'static str, pattern: &'static str, check: fn(&Captures) -> bool) -> Rule {
    Rule {
        name,
        pattern,
        check: Some(check),
    }
}

fn group<'a>(c: &'a Captures, name: &str) -> &'a [u8] {
    c.name(name).map_or(&[][..], |m| m.as_bytes())
}

fn text(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or("")
}

/// The secret in a match: group `s`, else `q` (a quoted value), else all of it.
pub fn secret<'a>(c: &Captures<'a>) -> Option<Match<'a>> {
    c.name("s").or_else(|| c.name("q")).or_else(|| c.get(0))
}

/// `name = value`: the name's strength decides, see [`names`]. An unquoted value that reads
/// as code is no secret: see [`reads_as_code`].
fn assignment(c: &Captures) -> bool {
    let name = text(group(c, "name"));
    // `DB_PASS=hunter2secret` is a shell or .env assignment, where a bare word is the value
    // itself (a variable would be `$NAME`): only lower- or mixed-case names are code.
    let environment = name.bytes().any(|b| b.is_ascii_uppercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if !environment
        && c.name("s")
            .is_some_and(|m| reads_as_code(text(m.as_bytes())))
    {
        return false;
    }
    let value = c
        .name("s")
        .or_else(|| c.name("q"))
        .map_or(&[][..], |m| m.as_bytes());
    names::is_secret(names::strength(name), text(value))
}

/// `password == other`, `token = get_token()`, `password: &str`, `token: Token`,
/// `password: Option<String>`, `key = self.api.key`, `password=password`: an operator, a
/// call, a type or a variable named like a secret, not a value.
fn reads_as_code(v: &str) -> bool {
    let identifier = v.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let lower = v.to_ascii_lowercase();
    v.starts_with(['=', '>', '&'])
        || v.contains(['(', '<', '>'])
        || v.contains("::")
        || matches!(lower.as_str(), "str" | "string" | "int" | "bool" | "bytes" | "any")
        // A type: one capitalized word of letters (`Token`, `SecretString`).
        || (v.starts_with(|c: char| c.is_ascii_uppercase()) && v.chars().all(|c| c.is_ascii_alphabetic()))
        // A variable named like a secret (`password=password`, `token: api_token`).
        || (identifier
            && ["pass", "pwd", "token", "secret", "key", "auth", "cred"]
                .iter()
                .any(|k| lower.contains(k)))
        || is_dotted_identifier(v)
}

/// `self.config.token`, `os.environ.get`: names joined by dots, each starting with a letter.
fn is_dotted_identifier(v: &str) -> bool {
    v.contains('.')
        && v.split('.').all(|p| {
            p.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// A command-line flag's value that is not the next flag.
fn flag_value(c: &Captures) -> bool {
    let flag = text(group(c, "flag")).to_ascii_lowercase();
    let v = group(c, "s");
    let refused = ["--no-", "--skip-", "--ask-"]
        .iter()
        .any(|p| flag.starts_with(p));
    !refused && !v.starts_with(b"-") && names::is_real_value(text(v))
}

/// A URL's password: not a port followed by a path (`https://host:8080/a?b=c@d`).
fn url_password(c: &Captures) -> bool {
    let s = group(c, "s");
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    !(digits > 0 && (digits == s.len() || s[digits] == b'/')) && names::is_real_value(text(s))
}

/// `Basic …` outside an Authorization header: only when it decodes to `user:password`.
fn basic_credential(c: &Captures) -> bool {
    base64::engine::general_purpose::STANDARD
        .decode(group(c, "s"))
        .ok()
        .and_then(|d| String::from_utf8(d).ok())
        .is_some_and(|d| d.contains(':') && !d.chars().any(char::is_control))
}

/// A token whose body has a digit (kebab-case words are not keys).
fn has_digit(c: &Captures) -> bool {
    c.get(0)
        .is_some_and(|m| m.as_bytes().iter().any(u8::is_ascii_digit))
}

/// The rules. Order does not matter: every match of every rule is redacted.
pub const RULES: &[Rule] = &[
    // --- Private keys: PEM blocks (multi- or single-line; unclosed hides the rest), PuTTY,
    // age.
    rule(
        "private key block",
        r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----(?s:.*?)(?:-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----|\z)",
    ),
    rule(
        "putty private key",
        r"Private-Lines: *[0-9]+\r?\n(?P<s>(?:[A-Za-z0-9+/=]+\r?\n)+)",
    ),
    rule("age secret key", r"AGE-SECRET-KEY-1[0-9A-Z]{58}"),
    // --- Cloud providers.
    rule(
        "aws access key id",
        r"\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA)[A-Z0-9]{16}\b",
    ),
    rule("google api key", r"\bAIza[0-9A-Za-z_-]{35}"),
    rule("google oauth secret", r"\bGOCSPX-[A-Za-z0-9_-]{24,}"),
    rule("google oauth token", r"\bya29\.[A-Za-z0-9_-]{20,}"),
    rule("google refresh token", r"\b1//0[A-Za-z0-9_-]{30,}"),
    rule(
        "azure connection string key",
        r"(?i)(?:AccountKey|SharedAccessKey|SharedSecretValue)\s*=\s*(?P<s>[A-Za-z0-9+/=_-]{16,})",
    ),
    rule(
        "azure sas signature",
        r"[?&]sig=(?P<s>[A-Za-z0-9%+/=_-]{16,})",
    ),
    rule(
        "azure ad client secret",
        r"\b[A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34}",
    ),
    rule("digitalocean token", r"\bdo[opr]_v1_[a-f0-9]{64}"),
    rule("heroku api key", r"\bHRKU-[A-Za-z0-9_-]{20,}"),
    rule(
        "heroku legacy key",
        r"(?i)heroku[a-z0-9_. -]{0,20}[=:]\s*[\x22']?(?P<s>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})",
    ),
    rule("alibaba access key", r"\bLTAI[A-Za-z0-9]{20}\b"),
    rule(
        "ibm / generic apikey json",
        r#"(?i)"apikey"\s*:\s*"(?P<s>[A-Za-z0-9_-]{20,})""#,
    ),
    // --- Code hosting and CI.
    rule("github token", r"\bgh[pousr]_[A-Za-z0-9]{30,}"),
    rule(
        "github fine-grained token",
        r"\bgithub_pat_[A-Za-z0-9_]{20,}",
    ),
    rule(
        "gitlab token",
        r"\bgl(?:pat|ptt|dt|rt|cbt|imt|oas|ft|soat|agent|ffct)-[A-Za-z0-9_-]{16,}",
    ),
    rule("gitlab runner token", r"\bGR1348941[A-Za-z0-9_-]{20,}"),
    rule(
        "bitbucket / atlassian token",
        r"\b(?:ATBB|ATATT3|ATCTT3)[A-Za-z0-9_=.-]{24,}",
    ),
    rule("npm token", r"\bnpm_[A-Za-z0-9]{30,}"),
    rule("pypi token", r"\bpypi-[A-Za-z0-9_-]{30,}"),
    rule("docker hub token", r"\bdckr_pat_[A-Za-z0-9_-]{20,}"),
    rule("rubygems key", r"\brubygems_[a-f0-9]{48}"),
    rule("hashicorp vault token", r"\bhv[sbr]\.[A-Za-z0-9_-]{24,}"),
    rule(
        "terraform cloud token",
        r"\b[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{40,}",
    ),
    rule("pulumi token", r"\bpul-[a-f0-9]{40}"),
    rule(
        "doppler token",
        r"\bdp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,}",
    ),
    rule("postman key", r"\bPMAK-[A-Za-z0-9]{24}-[A-Za-z0-9]{34}"),
    rule("databricks token", r"\bdapi[a-f0-9]{32}(?:-[0-9])?"),
    rule("sentry token", r"\bsntry[su]_[A-Za-z0-9+/=_]{40,}"),
    rule(
        "grafana token",
        r"\b(?:glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}|glc_[A-Za-z0-9+/]{32,}={0,2})",
    ),
    rule("new relic key", r"\bNR(?:AK|II|JS|AA)-[A-Za-z0-9]{20,}"),
    rule("linear key", r"\blin_(?:api|oauth)_[A-Za-z0-9]{40}"),
    rule(
        "notion token",
        r"\b(?:secret_[A-Za-z0-9]{43}|ntn_[A-Za-z0-9]{40,})",
    ),
    rule(
        "supabase / planetscale token",
        r"\b(?:sbp_[a-f0-9]{40}|pscale_(?:tkn|oauth|pw)_[A-Za-z0-9_.-]{30,})",
    ),
    rule(
        "fly.io token",
        r"\b(?:fo1_[A-Za-z0-9_-]{40,}|fm[12][ar]?_[A-Za-z0-9+/=_-]{40,})",
    ),
    rule("1password service token", r"\bops_eyJ[A-Za-z0-9+/=_-]{50,}"),
    rule(
        "contentful / dynatrace / easypost",
        r"\b(?:CFPAT-[A-Za-z0-9_-]{43}|dt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64}|EZ[AT]K[A-Za-z0-9]{54})",
    ),
    // --- AI providers.
    rule("anthropic key", r"\bsk-ant-[A-Za-z0-9_-]{16,}"),
    rule(
        "openai project key",
        r"\bsk-(?:proj|svcacct|admin|None)-[A-Za-z0-9_-]{16,}",
    ),
    checked(
        "openai / generic sk- key",
        r"\bsk-[A-Za-z0-9_-]{20,}",
        has_digit,
    ),
    rule("hugging face token", r"\bhf_[A-Za-z0-9]{30,}"),
    rule(
        "replicate / groq / xai / perplexity",
        r"\b(?:r8_[A-Za-z0-9]{37}|gsk_[A-Za-z0-9]{50,}|xai-[A-Za-z0-9]{60,}|pplx-[A-Za-z0-9]{40,})",
    ),
    // --- Payments, messaging, mail.
    rule(
        "stripe secret key",
        r"\b(?:sk|rk)_(?:live|test|prod)_[A-Za-z0-9]{10,}",
    ),
    rule("stripe webhook secret", r"\bwhsec_[A-Za-z0-9+/=]{24,}"),
    rule(
        "slack token",
        r"\bxox[a-z](?:\.xox[a-z])?-[A-Za-z0-9-]{10,}",
    ),
    rule("slack app token", r"\bxapp-[0-9]+-[A-Za-z0-9-]{10,}"),
    rule(
        "slack webhook",
        r"hooks\.slack\.com/(?:services|workflows|triggers)/(?P<s>[A-Za-z0-9+/_-]{16,})",
    ),
    rule(
        "discord webhook",
        r"discord(?:app)?\.com/api/webhooks/[0-9]+/(?P<s>[A-Za-z0-9_-]{20,})",
    ),
    rule(
        "discord bot token",
        r"\b[MNO][A-Za-z0-9_-]{23,25}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,38}\b",
    ),
    rule("telegram bot token", r"\b[0-9]{8,10}:AA[A-Za-z0-9_-]{33}"),
    rule(
        "sendgrid key",
        r"\bSG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{16,64}",
    ),
    rule("twilio api key", r"\bSK[0-9a-fA-F]{32}\b"),
    rule("mailgun key", r"\bkey-[0-9a-zA-Z]{32}\b"),
    rule("mailchimp key", r"\b[0-9a-f]{32}-us[0-9]{1,2}\b"),
    rule("shopify token", r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}"),
    rule(
        "square token",
        r"\b(?:sq0(?:atp|csp|idp)-[A-Za-z0-9_-]{22,}|EAAA[A-Za-z0-9_-]{60,})",
    ),
    rule("facebook token", r"\bEAA[A-Za-z0-9]{80,}"),
    rule("mapbox secret token", r"\bsk\.eyJ[A-Za-z0-9._-]{20,}"),
    // --- Structured tokens.
    rule(
        "jwt",
        r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",
    ),
    // --- Credentials in URLs and commands.
    checked(
        "url credentials",
        r"\b[A-Za-z][A-Za-z0-9+.-]{1,20}://[^\s:/?#@\x22'<>]*:(?P<s>[^\s@\x22'<>]+)@",
        url_password,
    ),
    rule(
        "authorization header",
        r#"(?i)(?:proxy-)?authorization["']?\s*[:=]\s*["']?(?:basic|bearer|token|digest|negotiate|ntlm|apikey|api-key|key|sso-key|splunk|hmac|dsn)\s+(?P<s>[A-Za-z0-9._~+/=:,-]{4,})"#,
    ),
    rule(
        "bearer token",
        r"(?i)\bbearer\s+(?P<s>[A-Za-z0-9._~+/-]{16,}=*)",
    ),
    checked(
        "basic credential",
        r"(?i)\bbasic\s+(?P<s>[A-Za-z0-9+/]{6,}={0,2})",
        basic_credential,
    ),
    rule(
        "curl user",
        r#"\bcurl\b[^\n|;&]*?\s(?:-u|--user|-U|--proxy-user)(?:\s+|=)?["']?[^\s:"']*:(?P<s>[^\s"']+)"#,
    ),
    rule(
        "mysql password",
        r#"\b(?:mysql|mysqldump|mysqladmin|mysqlimport|mysqlcheck|mysqlsh|mariadb|mariadb-dump)\b[^\n|;&]*?\s(?:-p|--password=)["']?(?P<s>[^\s"']+)"#,
    ),
    rule(
        "sshpass password",
        r#"\bsshpass\s+-p\s*["']?(?P<s>[^\s"']+)"#,
    ),
    rule(
        "redis-cli password",
        r#"\bredis-cli\b[^\n|;&]*?\s(?:-a|--pass)\s+["']?(?P<s>[^\s"']+)"#,
    ),
    checked(
        "secret flag",
        r#"(?i)(?:^|\s)(?P<flag>--?(?:[a-z0-9]+-)*(?:password|passwd|passphrase|token|secret|api-key|apikey|access-key|secret-key|auth-token|client-secret|private-key))(?:\s+|=)["']?(?P<s>[^\s"']+)"#,
        flag_value,
    ),
    // --- `NAME=value`, `NAME: value`, `"name": "value"`, `name => value` (YAML, JSON, env,
    // TOML, INI, headers): a name that says secret, see `names`.
    checked(
        "secret assignment",
        r#"(?i)(?P<name>[a-z0-9_.-]{0,40}(?:pass|pwd|pw|secret|token|key|auth|cred|sig|salt)[a-z0-9_.-]{0,40})["']?\s{0,3}(?:=>|:=|=|:)\s{0,3}(?:["'](?P<q>[^"'\r\n]+)["']|(?P<s>[^\s"',;}&)\]]+))"#,
        assignment,
    ),
];
