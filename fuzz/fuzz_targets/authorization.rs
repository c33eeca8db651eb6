//! `Authorization` header parsing (`Basic` / `Bearer` credentials of
//! requests): no panic on any header value; a Bearer token is the trimmed
//! rest of the header; a Basic password is the part after the first ':' of
//! the decoded user-pass; well-formed headers built from the input always
//! yield exactly the secret they carry.
#![no_main]

use base64::Engine;
use distr_hyper::fuzzing::parse_authorization;
use libfuzzer_sys::fuzz_target;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    // 1. The raw bytes as a header value.
    check_raw(data);
    match mode % 4 {
        // 2. `Basic base64(user:password)` built from the input.
        0 | 1 => {
            let Ok(text) = std::str::from_utf8(rest) else {
                return;
            };
            let (user, password) = text.split_once('\u{0}').unwrap_or(("", text));
            let user = user.replace(':', "");
            let scheme = if mode & 4 == 0 { "Basic" } else { "bAsIc" };
            let header = format!("{scheme} {}", B64.encode(format!("{user}:{password}")));
            let got = parse_authorization(header.as_bytes());
            if password.is_empty() {
                assert_eq!(got, None);
            } else {
                assert_eq!(got, Some(("basic", password.to_owned())), "{header:?}");
            }
        }
        // 3. `Bearer <token>`, with optional padding.
        2 => {
            let pad = if mode & 8 == 0 { "" } else { "  \t" };
            let mut header = format!("{pad}Bearer {pad}").into_bytes();
            header.extend_from_slice(rest);
            header.extend_from_slice(pad.as_bytes());
            let got = parse_authorization(&header);
            let token = std::str::from_utf8(rest).ok().map(|t| t.trim_matches([' ', '\t']));
            match token {
                Some(t) if !t.is_empty() && rest.iter().all(|&c| c == b'\t' || (b' '..=b'~').contains(&c)) => {
                    assert_eq!(got, Some(("bearer", t.to_owned())), "{header:?}")
                }
                _ => assert_eq!(got, None, "{header:?}"),
            }
        }
        // 4. Base64 of arbitrary bytes behind `Basic`.
        _ => {
            let header = format!("Basic {}", B64.encode(rest));
            let got = parse_authorization(header.as_bytes());
            let expect = std::str::from_utf8(rest)
                .ok()
                .and_then(|t| t.split_once(':'))
                .filter(|(_, p)| !p.is_empty())
                .map(|(_, p)| ("basic", p.to_owned()));
            assert_eq!(got, expect, "{header:?}");
        }
    }
});

fn check_raw(value: &[u8]) {
    let Some((scheme, secret)) = parse_authorization(value) else {
        return;
    };
    assert!(!secret.is_empty());
    // Only visible ASCII, space and tab make it through `HeaderValue::to_str`.
    let text = std::str::from_utf8(value).expect("accepted header is ASCII");
    let text = text.trim();
    let (s, rest) = text.split_once(' ').expect("scheme and credentials");
    assert!(s.eq_ignore_ascii_case(scheme));
    match scheme {
        "bearer" => {
            assert_eq!(secret, rest.trim());
            assert!(text.contains(&secret));
        }
        "basic" => {
            let decoded = B64.decode(rest.trim()).expect("valid base64");
            let decoded = String::from_utf8(decoded).expect("UTF-8");
            assert!(decoded.split_once(':').is_some_and(|(_, p)| p == secret));
        }
        other => panic!("unknown scheme {other}"),
    }
}
