//! Tag patterns of entitlements: exact names or globs (`1.2.*`, `v1.?`).

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// A tag pattern: a tag name in which `*` matches any run of characters
/// (including none) and `?` matches exactly one. A pattern without wildcards
/// matches only the tag of that name, so patterns also cover tags that appear
/// later.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TagPattern(String);

impl TagPattern {
    /// The pattern text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when the pattern has no wildcard.
    pub fn is_exact(&self) -> bool {
        !self.0.contains(['*', '?'])
    }

    /// True when `tag` matches the pattern.
    pub fn matches(&self, tag: &str) -> bool {
        glob_match(self.0.as_bytes(), tag.as_bytes())
    }
}

/// Iterative glob matching with single-star backtracking: linear in practice,
/// never exponential.
fn glob_match(p: &[u8], t: &[u8]) -> bool {
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        // The star first: a '*' in the text must not consume the pattern's.
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && (p[pi] == b'?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

impl FromStr for TagPattern {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let ok_char =
            |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b'*' | b'?');
        if s.is_empty() || s.len() > 128 || !s.bytes().all(ok_char) || s.starts_with(['.', '-']) {
            return Err(Error::TagInvalid(format!(
                "{s:?}: a tag pattern is 1 to 128 of [A-Za-z0-9_.-*?] and does not start with '.' or '-'"
            )));
        }
        Ok(TagPattern(s.to_owned()))
    }
}

impl TryFrom<String> for TagPattern {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        s.parse()
    }
}

impl From<TagPattern> for String {
    fn from(p: TagPattern) -> String {
        p.0
    }
}

impl fmt::Display for TagPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TagPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> TagPattern {
        s.parse().unwrap()
    }

    #[test]
    fn matching() {
        assert!(p("1.2.*").matches("1.2.0"));
        assert!(p("1.2.*").matches("1.2."));
        assert!(!p("1.2.*").matches("1.20.0"));
        assert!(!p("1.2.*").matches("1.2"));
        assert!(p("v1.*").matches("v1.0-rc1"));
        assert!(p("latest").matches("latest") && !p("latest").matches("latest2"));
        assert!(p("1.?").matches("1.5") && !p("1.?").matches("1.10"));
        assert!(p("*").matches("anything"));
        assert!(p("*-rc*").matches("2.0-rc1") && !p("*-rc*").matches("2.0"));
        assert!(p("a*b*c").matches("aXXbYYc") && !p("a*b*c").matches("aXXbYY"));
        assert!(p("latest").is_exact() && !p("1.*").is_exact());
        // A '*' in the text is not the pattern's star.
        assert!(p("*").matches("*z") && p("a*").matches("a*b") && !p("a?").matches("a*b"));
    }

    #[test]
    fn validation() {
        for bad in ["", ".x", "-x", "a/b", "a b", "a:b", &"a".repeat(129)] {
            assert!(bad.parse::<TagPattern>().is_err(), "{bad:?}");
        }
    }

    /// A straightforward recursive matcher to check the iterative one against.
    fn reference(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => reference(&p[1..], t) || (!t.is_empty() && reference(p, &t[1..])),
            (Some(b'?'), Some(_)) => reference(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => reference(&p[1..], &t[1..]),
            _ => false,
        }
    }

    proptest! {
        #[test]
        fn agrees_with_the_reference_matcher(pat in "[ab1.*?]{1,8}", tag in "[ab1.]{0,10}") {
            prop_assume!(!pat.starts_with('.'));
            let pattern: TagPattern = pat.parse().unwrap();
            prop_assert_eq!(pattern.matches(&tag), reference(pat.as_bytes(), tag.as_bytes()));
        }

        #[test]
        fn exact_patterns_match_only_themselves(tag in "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,20}", other in "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,20}") {
            let pattern: TagPattern = tag.parse().unwrap();
            prop_assert!(pattern.matches(&tag));
            prop_assert_eq!(pattern.matches(&other), tag == other);
        }
    }
}
