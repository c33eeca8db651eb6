//! Tags and manifest references (a tag or a digest).

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;
use crate::error::Error;

/// A validated tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TagName(String);

impl TagName {
    /// The tag text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for TagName {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let b = s.as_bytes();
        let first_ok = b
            .first()
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_');
        let rest_ok = b
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
        if !first_ok || !rest_ok || b.len() > 128 {
            return Err(Error::TagInvalid(format!(
                "{s:?}: tags are 1 to 128 of [A-Za-z0-9_.-] and do not start with '.' or '-'"
            )));
        }
        Ok(TagName(s.to_owned()))
    }
}

impl fmt::Display for TagName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TagName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// A manifest reference: a tag or a digest.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Reference {
    /// By tag.
    Tag(TagName),
    /// By digest.
    Digest(Digest),
}

impl FromStr for Reference {
    type Err = Error;

    /// A reference containing `:` is a digest; anything else must be a tag.
    fn from_str(s: &str) -> Result<Self, Error> {
        if s.contains(':') {
            Ok(Reference::Digest(s.parse()?))
        } else {
            Ok(Reference::Tag(s.parse()?))
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Tag(t) => t.fmt(f),
            Reference::Digest(d) => d.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tags() {
        for ok in ["latest", "1.2.3", "_x", "v1-rc.1", &"a".repeat(128)] {
            assert!(ok.parse::<TagName>().is_ok(), "{ok}");
        }
        for bad in ["", ".a", "-a", "a/b", "a:b", "a b", &"a".repeat(129)] {
            assert!(bad.parse::<TagName>().is_err(), "{bad}");
        }
    }

    #[test]
    fn references() {
        assert!(matches!(
            "latest".parse::<Reference>(),
            Ok(Reference::Tag(_))
        ));
        let d = Digest::sha256(b"x").to_string();
        assert!(matches!(d.parse::<Reference>(), Ok(Reference::Digest(_))));
        assert!(matches!(
            "sha256:xyz".parse::<Reference>(),
            Err(Error::DigestInvalid(_))
        ));
    }

    proptest! {
        #[test]
        fn valid_tags_roundtrip(s in "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}") {
            let r: Reference = s.parse().unwrap();
            prop_assert_eq!(r.to_string(), s);
        }

        #[test]
        fn arbitrary_references_never_panic(s in "\\PC{0,140}") {
            if let Ok(r) = s.parse::<Reference>() {
                prop_assert_eq!(r.to_string(), s);
            }
        }
    }
}
