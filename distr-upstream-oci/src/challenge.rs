//! `WWW-Authenticate` challenges (RFC 7235): `Bearer realm="…",service="…"`.

/// One authentication challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// The scheme, lower-cased (`bearer`, `basic`).
    pub scheme: String,
    /// The auth-params, names lower-cased, values unquoted, in order.
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// The value of parameter `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn token(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.pos += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.pos]).into_owned()
    }

    /// A quoted-string after its opening quote; `None` when unterminated.
    fn quoted(&mut self) -> Option<String> {
        let mut out = Vec::new();
        loop {
            let c = self.peek()?;
            self.pos += 1;
            match c {
                b'"' => return Some(String::from_utf8_lossy(&out).into_owned()),
                b'\\' => {
                    out.push(self.peek()?);
                    self.pos += 1;
                }
                c => out.push(c),
            }
        }
    }
}

/// Parses a `WWW-Authenticate` value into its challenges. Malformed input
/// yields the challenges parsed before the error; token68 credentials (as in
/// `Negotiate abc==`) are skipped.
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut cur = Cursor {
        s: header.as_bytes(),
        pos: 0,
    };
    let mut out: Vec<Challenge> = Vec::new();
    'challenges: loop {
        while matches!(cur.peek(), Some(b' ' | b'\t' | b',')) {
            cur.pos += 1;
        }
        let scheme = cur.token();
        if scheme.is_empty() {
            return out;
        }
        let mut challenge = Challenge {
            scheme: scheme.to_ascii_lowercase(),
            params: Vec::new(),
        };
        loop {
            while matches!(cur.peek(), Some(b' ' | b'\t' | b',')) {
                cur.pos += 1;
            }
            let start = cur.pos;
            let name = cur.token();
            if name.is_empty() {
                // End of input, or garbage.
                out.push(challenge);
                return out;
            }
            cur.skip_ws();
            if cur.peek() != Some(b'=') {
                // Not a parameter: the next challenge's scheme.
                cur.pos = start;
                out.push(challenge);
                continue 'challenges;
            }
            cur.pos += 1;
            while cur.peek() == Some(b'=') {
                cur.pos += 1; // token68 padding
            }
            cur.skip_ws();
            let value = match cur.peek() {
                Some(b'"') => {
                    cur.pos += 1;
                    match cur.quoted() {
                        Some(v) => v,
                        None => {
                            out.push(challenge);
                            return out;
                        }
                    }
                }
                Some(c) if is_tchar(c) => cur.token(),
                // `abc==` followed by nothing or a comma: a token68.
                _ => continue,
            };
            challenge.params.push((name.to_ascii_lowercase(), value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn docker_hub_style() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/redis:pull""#,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(c[0].param("SERVICE"), Some("registry.docker.io"));
        assert_eq!(c[0].param("scope"), Some("repository:library/redis:pull"));
    }

    #[test]
    fn commas_quotes_and_multiple_challenges() {
        let c = parse_challenges(
            r#"BASIC realm="a, \"quoted\" realm" , bearer realm=tok, scope="repository:a/b:pull,push", error="invalid_token""#,
        );
        assert_eq!(c.len(), 2, "{c:?}");
        assert_eq!(c[0].scheme, "basic");
        assert_eq!(c[0].param("realm"), Some(r#"a, "quoted" realm"#));
        assert_eq!(c[1].scheme, "bearer");
        assert_eq!(c[1].param("realm"), Some("tok"));
        assert_eq!(c[1].param("scope"), Some("repository:a/b:pull,push"));
        assert_eq!(c[1].param("error"), Some("invalid_token"));
    }

    #[test]
    fn token68_and_garbage() {
        let c = parse_challenges("Negotiate abc==, Basic realm=x");
        assert_eq!(
            c.iter().map(|c| c.scheme.as_str()).collect::<Vec<_>>(),
            ["negotiate", "basic"]
        );
        assert_eq!(c[1].param("realm"), Some("x"));
        assert_eq!(
            parse_challenges("Basic"),
            vec![Challenge {
                scheme: "basic".into(),
                params: vec![]
            }]
        );
        assert!(parse_challenges("").is_empty());
        let c = parse_challenges(r#"Bearer realm="unterminated"#);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].param("realm"), None);
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

    fn random_case(s: &str, mask: u64) -> String {
        s.chars()
            .enumerate()
            .map(|(i, c)| {
                if mask >> (i % 64) & 1 == 1 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect()
    }

    proptest! {
        #[test]
        fn roundtrip(
            challenges in proptest::collection::vec(
                ("[a-z][a-z0-9]{0,8}", proptest::collection::vec(("[a-z][a-z0-9_]{0,8}", "[ -~]{0,20}", any::<bool>()), 1..4), any::<u64>()),
                1..4,
            ),
            ws in "[ ]{0,2}",
        ) {
            let mut header = Vec::new();
            for (scheme, params, mask) in &challenges {
                let ps: Vec<String> = params.iter().map(|(n, v, bare)| {
                    let token_ok = !v.is_empty() && v.bytes().all(is_tchar);
                    let v = if *bare && token_ok { v.clone() } else { quote(v) };
                    format!("{n}{ws}={ws}{v}")
                }).collect();
                header.push(format!("{} {}", random_case(scheme, *mask), ps.join(&format!("{ws},{ws}"))));
            }
            let parsed = parse_challenges(&header.join(", "));
            prop_assert_eq!(parsed.len(), challenges.len());
            for (p, (scheme, params, _)) in parsed.iter().zip(&challenges) {
                prop_assert_eq!(&p.scheme, scheme);
                let expect: Vec<(String, String)> = params.iter().map(|(n, v, _)| (n.clone(), v.clone())).collect();
                prop_assert_eq!(&p.params, &expect);
            }
        }

        #[test]
        fn never_panics(s in "\\PC{0,120}") {
            let _ = parse_challenges(&s);
        }
    }
}
