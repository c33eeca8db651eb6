//! Entitlement tag patterns (`1.2.*`, `v1.?`): no panic; validation accepts
//! exactly the documented syntax; `matches` agrees with a straightforward
//! reference glob matcher (dynamic programming, so it cannot blow up).
#![no_main]

use distr_core::access::TagPattern;
use distr_core::TagName;
use libfuzzer_sys::fuzz_target;

/// Reference: `*` matches any run of bytes (including none), `?` exactly one
/// byte, anything else itself. `dp[j]` = pattern prefix matches `t[..j]`.
fn reference_glob(p: &[u8], t: &[u8]) -> bool {
    let mut dp = vec![false; t.len() + 1];
    dp[0] = true;
    for &pc in p {
        let mut next = vec![false; t.len() + 1];
        match pc {
            b'*' => {
                let mut any = false;
                for j in 0..=t.len() {
                    any |= dp[j];
                    next[j] = any;
                }
            }
            _ => {
                for j in 1..=t.len() {
                    next[j] = dp[j - 1] && (pc == b'?' || pc == t[j - 1]);
                }
            }
        }
        dp = next;
    }
    dp[t.len()]
}

fn valid_syntax(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && !s.starts_with(['.', '-'])
        && s.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b'*' | b'?'))
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    // `<pattern>\n<tag>\n<tag>…`; a lone line is checked against itself.
    let mut lines = s.split('\n');
    let pat = lines.next().unwrap_or("");
    let parsed = pat.parse::<TagPattern>();
    assert_eq!(parsed.is_ok(), valid_syntax(pat), "{pat:?}");
    let Ok(pattern) = parsed else {
        return;
    };
    assert_eq!(pattern.as_str(), pat);
    assert_eq!(pattern.to_string().parse::<TagPattern>().unwrap(), pattern);
    assert_eq!(pattern.is_exact(), !pat.contains(['*', '?']));
    // serde goes through the same validation.
    let json = format!("{pat:?}");
    assert_eq!(serde_json::from_str::<TagPattern>(&json).unwrap(), pattern);
    // An exact pattern is a valid tag name.
    if pattern.is_exact() {
        assert!(pat.parse::<TagName>().is_ok());
    }
    let mut tags: Vec<&str> = lines.collect();
    if tags.is_empty() {
        tags.push(pat);
    }
    for tag in tags {
        let got = pattern.matches(tag);
        assert_eq!(got, reference_glob(pat.as_bytes(), tag.as_bytes()), "{pat:?} vs {tag:?}");
        if pattern.is_exact() {
            assert_eq!(got, tag == pat);
        }
    }
    // Every pattern matches its own text and the tag obtained by filling
    // each wildcard with one character.
    assert!(pattern.matches(pat));
    let filled: String = pat.chars().map(|c| if c == '*' || c == '?' { 'x' } else { c }).collect();
    assert!(pattern.matches(&filled), "{pat:?} vs {filled:?}");
});
