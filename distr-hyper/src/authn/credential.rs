//! The one parser of the `Authorization` header.
//!
//! Three schemes carry a token secret: HTTP Basic (any user name, the
//! token as password, as `docker login` sends it), `Bearer <token>` (an
//! access token or a `/v2/token` session) and `AccessToken <token>` (the
//! management API's own scheme). Which of them a boundary accepts is its
//! own decision ([`Scheme`]); how a header reads is decided only here.

use std::fmt;

use base64::Engine;
use http::{header, HeaderMap, HeaderValue};

/// The scheme of a [`Credential`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// `Basic base64(user:token)`.
    Basic,
    /// `Bearer <token>`.
    Bearer,
    /// `AccessToken <token>`.
    AccessToken,
}

impl Scheme {
    /// The scheme's name in lower case.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Scheme::Basic => "basic",
            Scheme::Bearer => "bearer",
            Scheme::AccessToken => "accesstoken",
        }
    }
}

/// A token secret presented in `Authorization`. `Debug` shows the scheme
/// only, never the secret.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Credential {
    scheme: Scheme,
    secret: String,
}

impl Credential {
    /// The credential of a request's `Authorization` header, if it has one
    /// that parses.
    pub(crate) fn from_headers(headers: &HeaderMap) -> Option<Credential> {
        Self::parse(headers.get(header::AUTHORIZATION)?)
    }

    /// Parses one header value: `<scheme> <rest>` (the scheme in any case,
    /// surrounding blanks ignored). `None` for another scheme, an empty
    /// secret, a value that is not visible ASCII, and for Basic bad base64,
    /// a decoded user-pass that is not UTF-8 or has no `:`.
    pub(crate) fn parse(value: &HeaderValue) -> Option<Credential> {
        let value = value.to_str().ok()?.trim();
        let (scheme, rest) = value.split_once(' ')?;
        let rest = rest.trim();
        let scheme = [Scheme::Basic, Scheme::Bearer, Scheme::AccessToken]
            .into_iter()
            .find(|s| scheme.eq_ignore_ascii_case(s.as_str()))?;
        let secret = match scheme {
            Scheme::Basic => {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(rest)
                    .ok()?;
                let text = String::from_utf8(decoded).ok()?;
                let (_user, password) = text.split_once(':')?;
                password.to_owned()
            }
            Scheme::Bearer | Scheme::AccessToken => rest.to_owned(),
        };
        (!secret.is_empty()).then_some(Credential { scheme, secret })
    }

    /// How the secret was presented.
    pub(crate) fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The token secret.
    pub(crate) fn secret(&self) -> &str {
        &self.secret
    }

    /// The secret, consuming the credential.
    pub(crate) fn into_secret(self) -> String {
        self.secret
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

    fn parse(v: &str) -> Option<(Scheme, String)> {
        Credential::parse(&HeaderValue::from_str(v).unwrap()).map(|c| (c.scheme(), c.into_secret()))
    }

    #[test]
    fn basic_with_any_user_name() {
        for user in ["anyone", "", "puller@a.test", "AWS"] {
            let v = format!("Basic {}", B64.encode(format!("{user}:distr_abc")));
            assert_eq!(parse(&v), Some((Scheme::Basic, "distr_abc".into())), "{v}");
        }
        // The password is everything after the first ':'.
        let v = format!("Basic {}", B64.encode("u:pa:ss"));
        assert_eq!(parse(&v), Some((Scheme::Basic, "pa:ss".into())));
    }

    #[test]
    fn bearer_and_access_token_in_any_case() {
        let basic = format!("bAsIc {}", B64.encode("u:s"));
        for (value, scheme, secret) in [
            ("Bearer distr_x", Scheme::Bearer, "distr_x"),
            ("  Bearer   distr_x \t", Scheme::Bearer, "distr_x"),
            ("BEARER t", Scheme::Bearer, "t"),
            ("AccessToken distr_a", Scheme::AccessToken, "distr_a"),
            ("accesstoken t", Scheme::AccessToken, "t"),
            (basic.as_str(), Scheme::Basic, "s"),
        ] {
            assert_eq!(parse(value), Some((scheme, secret.to_owned())), "{value}");
        }
    }

    #[test]
    fn malformed_values_present_nothing() {
        let empty = B64.encode("user:");
        let no_colon = B64.encode("userpass");
        let not_utf8 = B64.encode([b'u', b':', 0xff, 0xfe]);
        for bad in [
            format!("Basic {empty}"),
            format!("Basic {no_colon}"),
            format!("Basic {not_utf8}"),
            "Basic !!!".into(),
            "Basic".into(),
            "Digest x".into(),
            "Token x".into(),
            "Bearer ".into(),
            "Bearer".into(),
            "AccessToken  ".into(),
            "Bearer\tx".into(),
        ] {
            assert_eq!(parse(&bad), None, "{bad}");
        }
        let opaque = HeaderValue::from_bytes(b"Bearer \xfftoken").unwrap();
        assert_eq!(Credential::parse(&opaque), None, "not visible ASCII");
        assert_eq!(Credential::from_headers(&HeaderMap::new()), None);
    }

    #[test]
    fn debug_hides_the_secret() {
        let c = Credential::parse(&HeaderValue::from_static("Bearer hunter2")).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
