//! The checked-in corpus (`tests/data/redaction/`) and the engine's edges.

use super::*;

const POSITIVES: &str = include_str!("../../../tests/data/redaction/positives.txt");
const FALSE_POSITIVES: &str = include_str!("../../../tests/data/redaction/false_positives.txt");

fn cases(corpus: &str) -> impl Iterator<Item = String> + '_ {
    corpus
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.replace('↵', "\n"))
}

/// A positive line: its input, its marked secrets and the unmarked parts around them.
fn split_marked(line: &str) -> (String, Vec<String>, Vec<String>) {
    let (mut input, mut secrets, mut kept) = (String::new(), Vec::new(), Vec::new());
    let mut rest = line;
    while let Some(a) = rest.find('⟦') {
        let b = rest[a..].find('⟧').expect("a closing ⟧") + a;
        kept.push(rest[..a].to_string());
        secrets.push(rest[a + '⟦'.len_utf8()..b].to_string());
        input.push_str(&rest[..a]);
        input.push_str(&rest[a + '⟦'.len_utf8()..b]);
        rest = &rest[b + '⟧'.len_utf8()..];
    }
    kept.push(rest.to_string());
    input.push_str(rest);
    (input, secrets, kept)
}

#[test]
fn corpus_positives_are_redacted_and_nothing_else() {
    let mut failures = Vec::new();
    for line in cases(POSITIVES) {
        let (input, secrets, kept) = split_marked(&line);
        assert!(!secrets.is_empty(), "no ⟦secret⟧ marked in {line:?}");
        let out = redact(&input);
        let context: String = kept.concat();
        for s in &secrets {
            let k = s.chars().count().min(6);
            let chars: Vec<char> = s.chars().collect();
            let leak = chars
                .windows(k)
                .map(|w| w.iter().collect::<String>())
                .find(|w| out.contains(w.as_str()) && !context.contains(w.as_str()));
            if let Some(w) = leak {
                failures.push(format!("LEAK {w:?}\n  in:  {input:?}\n  out: {out:?}"));
            }
        }
        // Precision: the unmarked parts survive, in order.
        let mut at = 0;
        for part in kept.iter().filter(|p| !p.is_empty()) {
            match out[at..].find(part.as_str()) {
                Some(i) => at += i + part.len(),
                None => {
                    failures.push(format!("LOST {part:?}\n  in:  {input:?}\n  out: {out:?}"));
                    break;
                }
            }
        }
        assert_eq!(redact(&out), out, "redaction is idempotent: {input:?}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn corpus_false_positives_are_unchanged() {
    let failures: Vec<String> = cases(FALSE_POSITIVES)
        .filter_map(|l| {
            let out = redact(&l);
            (out != l).then(|| format!("in:  {l:?}\nout: {out:?}"))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_rule_is_exercised_by_the_corpus() {
    let engine = &*ENGINE;
    let mut hit = vec![false; rules::RULES.len()];
    for line in cases(POSITIVES) {
        let (input, _, _) = split_marked(&line);
        let mut texts = vec![input.clone()];
        texts.extend(unescape::view(&input).map(|v| v.text));
        for t in texts {
            for i in engine.set.matches(t.as_bytes()).iter() {
                hit[i] = true;
            }
        }
    }
    let unused: Vec<&str> = rules::RULES
        .iter()
        .zip(hit)
        .filter(|(_, h)| !h)
        .map(|(r, _)| r.name)
        .collect();
    assert!(
        unused.is_empty(),
        "rules with no positive in the corpus: {unused:?}"
    );
}

#[test]
fn handles_unicode_and_edges() {
    assert_eq!(redact(""), "");
    assert_eq!(redact("ü=ö: ß"), "ü=ö: ß");
    assert_eq!(redact("token="), "token=");
    assert_eq!(redact("é password=ünïcödé ok"), "é password=[REDACTED] ok");
    // Touching secrets become one marker; the text between two is kept.
    let two = "ghp_0123456789abcdefghijABCDEFGHIJ012345 and AKIAIOSFODNN7EXAMPLE.";
    assert_eq!(redact(two), "[REDACTED] and [REDACTED].");
    // An unclosed private key block hides the rest.
    assert_eq!(
        redact("x -----BEGIN PRIVATE KEY-----\nMIIE\nstill key"),
        "x [REDACTED]"
    );
    // Escaped JSON keeps its escapes around the redacted span.
    assert_eq!(
        redact(r#"{\"password\": \"hunter2\"}\nnext"#),
        r#"{\"password\": \"[REDACTED]\"}\nnext"#
    );
}

#[test]
fn json_fields_by_name() {
    assert!(secret_field("password", "x1"));
    assert!(secret_field("STRIPE_KEY", "a8F3kQ9zLm2Px7Rw"));
    assert!(!secret_field("sort_key", "created_at"));
    assert!(!secret_field("max_tokens", "4096"));
    assert!(!secret_field("user", "bob"));
}

#[test]
fn many_bearer_lines_cost_linear_time() {
    // A pasted log: 20,000 lines with a bearer token each (~1 MB).
    let text = "GET / Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123\n".repeat(20_000);
    let t = std::time::Instant::now();
    let out = redact(&text);
    assert!(!out.contains("abcdefghijklmnop"));
    assert!(
        t.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        t.elapsed()
    );
}

/// Throughput on 4 MB of ordinary tool output (code, logs, JSON; a few secrets), printed
/// for the record (`cargo test --release redaction_throughput -- --nocapture`). The
/// assertion is far below any build's speed: it only catches a rule gone super-linear.
#[test]
fn redaction_throughput() {
    let chunk = concat!(
        "fn main() { let config = Config::load(\"/etc/app.toml\")?; println!(\"{}\", config.name); }\n",
        "2026-12-03T06:40:00Z INFO request id=550e8400-e29b-41d4-a716-446655440000 path=/v1/hook status=200 took=3ms\n",
        "{\"tool_name\": \"Bash\", \"tool_input\": {\"command\": \"cargo test --locked\"}, \"stdout\": \"ok\\n\"}\n",
        "commit 3f2a9c1e8b7d6f5e4a3b2c1d0e9f8a7b6c5d4e3f Author: Alice <alice@example.com>\n",
        "    - name: build\n      run: make -j4 && ./target/release/app --port 8080\n",
    );
    let mut text = chunk.repeat(4 * 1024 * 1024 / chunk.len());
    text.push_str("export GITHUB_TOKEN=ghp_0123456789abcdefghijABCDEFGHIJ012345\n");
    let mb = text.len() as f64 / 1e6;
    let t = std::time::Instant::now();
    let out = redact(&text);
    let secs = t.elapsed().as_secs_f64();
    assert!(!out.contains("ghp_0123"));
    eprintln!(
        "redaction throughput: {:.1} MB/s ({mb:.1} MB in {secs:.3} s)",
        mb / secs
    );
    assert!(secs < 60.0, "{secs} s for {mb} MB");
}
