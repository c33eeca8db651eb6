//! `WWW-Authenticate` challenge parsing (upstream registries' 401 answers):
//! no panic; schemes and parameter names are lower-cased tokens that occur
//! in the header; values are the header's bytes minus quoting (a subsequence);
//! printing the challenges back and re-parsing gives the same challenges.
#![no_main]

use distr_upstream_oci::{parse_challenges, Challenge};
use libfuzzer_sys::fuzz_target;

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

fn is_lower_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| is_tchar(c) && !c.is_ascii_uppercase())
}

fn is_subsequence(needle: &[u8], hay: &[u8]) -> bool {
    let mut hay = hay.iter();
    needle.iter().all(|c| hay.any(|h| h == c))
}

fn quote(v: &str) -> String {
    let mut s = String::from("\"");
    for ch in v.chars() {
        if ch == '"' || ch == '\\' {
            s.push('\\');
        }
        s.push(ch);
    }
    s.push('"');
    s
}

fn print(challenges: &[Challenge]) -> String {
    challenges
        .iter()
        .map(|c| {
            let params: Vec<String> = c.params.iter().map(|(n, v)| format!("{n}={}", quote(v))).collect();
            format!("{} {}", c.scheme, params.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fuzz_target!(|data: &[u8]| {
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    let challenges = parse_challenges(header);
    let lower = header.to_ascii_lowercase();
    for c in &challenges {
        assert!(is_lower_token(&c.scheme), "{c:?}");
        assert!(lower.contains(&c.scheme), "{c:?}");
        for (name, value) in &c.params {
            assert!(is_lower_token(name), "{c:?}");
            assert!(lower.contains(name.as_str()), "{c:?}");
            assert!(is_subsequence(value.as_bytes(), header.as_bytes()), "{c:?}");
            assert_eq!(c.param(&name.to_ascii_uppercase()), c.param(name));
        }
    }
    let reparsed = parse_challenges(&print(&challenges));
    assert_eq!(reparsed, challenges, "{header:?}");
});
