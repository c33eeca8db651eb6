//! What the tenancy model accepts as an organisation slug and as an e-mail
//! address: one definition for the management API and the admin command
//! line.

use crate::name::RepoName;

/// Longest e-mail address, in characters.
pub const EMAIL_MAX: usize = 254;

/// True when `slug` is one repository-name segment (`acme`, `big-corp`): it
/// becomes the first segment of the vendor's repository names.
pub fn is_valid_slug(slug: &str) -> bool {
    !slug.contains('/') && format!("{slug}/x").parse::<RepoName>().is_ok()
}

/// `email` trimmed and lower-cased when it is a plausible address:
/// `local@domain`, no spaces, control characters or `:` (Docker's `auth`
/// is `user:password`), at most [`EMAIL_MAX`] characters.
pub fn normalize_email(email: &str) -> Option<String> {
    let v = email.trim().to_lowercase();
    let ok = v.chars().count() <= EMAIL_MAX
        && !v
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ':')
        && v.split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty() && !d.contains('@'));
    ok.then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        for ok in ["acme", "big-corp", "a1", "x.y", "a__b"] {
            assert!(is_valid_slug(ok), "{ok}");
        }
        for bad in ["", "Acme", "a/b", "-a", "a b", "a-", "ü"] {
            assert!(!is_valid_slug(bad), "{bad}");
        }
    }

    #[test]
    fn emails() {
        assert_eq!(
            normalize_email(" A@Example.com ").as_deref(),
            Some("a@example.com")
        );
        let long = format!("{}@x.test", "a".repeat(EMAIL_MAX));
        for bad in [
            "",
            "a",
            "@x",
            "a@",
            "a@b@c",
            "a b@c",
            "a:b@c",
            "a\u{7}@c",
            long.as_str(),
        ] {
            assert_eq!(normalize_email(bad), None, "{bad:?}");
        }
    }
}
