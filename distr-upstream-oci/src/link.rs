//! Tag-list pagination: `Link: </v2/<name>/tags/list?n=2&last=b>; rel="next"`
//! and the query encoding it needs.

/// The `last` query parameter of the `rel="next"` link in a `Link` header,
/// percent-decoded. `Some("")` when the next link carries no `last`.
pub fn next_last(link: &str) -> Option<String> {
    for part in link.split(',') {
        let part = part.trim();
        let Some(rest) = part.strip_prefix('<') else {
            continue;
        };
        let Some((url, params)) = rest.split_once('>') else {
            continue;
        };
        let is_next = params.split(';').any(|p| {
            let p = p.trim().replace(' ', "");
            p.eq_ignore_ascii_case("rel=\"next\"") || p.eq_ignore_ascii_case("rel=next")
        });
        if !is_next {
            continue;
        }
        let query = url.split_once('?').map(|(_, q)| q).unwrap_or("");
        let last = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("last="))
            .map(percent_decode)
            .unwrap_or_default();
        return Some(last);
    }
    None
}

/// Percent-encodes a query value (everything but RFC 3986 unreserved).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes and `+` (as a space); malformed escapes stay as they are.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => match s.get(i + 1..i + 3).map(|h| u8::from_str_radix(h, 16)) {
                Some(Ok(v)) => {
                    out.push(v);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn finds_next() {
        assert_eq!(
            next_last(r#"</v2/a/b/tags/list?n=2&last=t%2B2>; rel="next""#).as_deref(),
            Some("t+2")
        );
        assert_eq!(
            next_last(r#"<https://x/v2/a/tags/list?last=b&n=2>; rel="prev", </v2/a/tags/list?last=z>; rel=next"#)
                .as_deref(),
            Some("z")
        );
        assert_eq!(next_last(r#"</v2/a/tags/list?last=b>; rel="prev""#), None);
        assert_eq!(next_last("garbage"), None);
    }

    proptest! {
        #[test]
        fn encode_decode_roundtrip(s in "\\PC{0,40}") {
            prop_assert_eq!(percent_decode(&percent_encode(&s)), s);
        }

        #[test]
        fn decode_never_panics(s in "\\PC{0,40}") {
            let _ = percent_decode(&s);
        }
    }
}
