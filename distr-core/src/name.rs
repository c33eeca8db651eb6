//! Repository names: `<org-slug>/<artifact-name>`, any number of segments.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// Longest accepted repository name, as in CNCF Distribution.
pub const MAX_NAME_LEN: usize = 255;

/// A validated repository name such as `acme/charts/app`.
///
/// Follows the OCI grammar `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`
/// and requires at least two segments: the first is the organisation slug,
/// the rest (which may contain `/`) the artifact name.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoName(String);

impl RepoName {
    /// The full name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The organisation slug (first segment).
    pub fn org(&self) -> &str {
        self.0
            .split_once('/')
            .map(|(org, _)| org)
            .unwrap_or(&self.0)
    }

    /// The artifact name (everything after the organisation slug).
    pub fn artifact(&self) -> &str {
        self.0.split_once('/').map(|(_, a)| a).unwrap_or("")
    }
}

/// True when `c` is one path component of the OCI name grammar.
pub(crate) fn is_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run: ".", "_", "__" or one or more "-".
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

impl FromStr for RepoName {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        if s.len() > MAX_NAME_LEN {
            return Err(Error::NameInvalid(format!(
                "name longer than {MAX_NAME_LEN} characters"
            )));
        }
        let mut segments = 0;
        for c in s.split('/') {
            if !is_component(c) {
                return Err(Error::NameInvalid(format!(
                    "{s:?}: each path segment must be lower-case letters and digits, separated by '.', '_', '__' or '-'"
                )));
            }
            segments += 1;
        }
        if segments < 2 {
            return Err(Error::NameInvalid(format!(
                "{s:?}: repository names are <organisation>/<artifact>"
            )));
        }
        Ok(RepoName(s.to_owned()))
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_valid() {
        for ok in [
            "a/b",
            "acme/app",
            "acme/charts/app",
            "a0/b-c",
            "a/b__c",
            "a/b.c_d---e",
            "x/y/z/w/v/u/t/s/r",
        ] {
            let n: RepoName = ok.parse().unwrap();
            assert_eq!(n.as_str(), ok);
        }
        let n: RepoName = "acme/charts/app".parse().unwrap();
        assert_eq!((n.org(), n.artifact()), ("acme", "charts/app"));
    }

    #[test]
    fn rejects_invalid() {
        for bad in [
            "", "a", "A/b", "a/B", "a/../b", "a/./b", "../a", "a//b", "/a/b", "a/b/", "a/b..c",
            "a/b___c", "a/-b", "a/b-", "a/b c", "a/b:c",
        ] {
            assert!(
                matches!(bad.parse::<RepoName>(), Err(Error::NameInvalid(_))),
                "{bad:?}"
            );
        }
        assert!(format!("a/{}", "b".repeat(300))
            .parse::<RepoName>()
            .is_err());
    }

    fn component() -> impl Strategy<Value = String> {
        "[a-z0-9]{1,5}((\\.|_|__|-{1,3})[a-z0-9]{1,5}){0,3}"
    }

    proptest! {
        #[test]
        fn grammar_names_parse(parts in proptest::collection::vec(component(), 2..6)) {
            let s = parts.join("/");
            prop_assume!(s.len() <= MAX_NAME_LEN);
            let n: RepoName = s.parse().unwrap();
            prop_assert_eq!(n.org(), parts[0].as_str());
            prop_assert_eq!(n.artifact(), parts[1..].join("/"));
        }

        #[test]
        fn arbitrary_input_never_panics(s in "\\PC{0,80}") {
            if let Ok(n) = s.parse::<RepoName>() {
                prop_assert!(!n.as_str().contains(".."));
                prop_assert!(!n.as_str().chars().any(|c| c.is_ascii_uppercase()));
            }
        }
    }
}
