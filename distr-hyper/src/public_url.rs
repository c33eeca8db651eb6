//! The address clients reach the registry at: the realm of the Bearer
//! challenge points there. From configuration ([`PublicUrl`]), never from a
//! request's `Host` header when configured; without one, only a `Host` that
//! is a plain host name or address (no quotes, commas, spaces or paths that
//! could smuggle parameters into the challenge) is used.

use std::fmt;
use std::str::FromStr;

use http::header::{self, HeaderMap};

/// The registry's public base URL (`https://registry.example.com`, or with a
/// path prefix), validated to be safe inside a quoted challenge parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicUrl(String);

/// A value that is not an `http(s)://host[:port][/path]` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidPublicUrl(String);

impl fmt::Display for InvalidPublicUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid public URL {:?}: expected http(s)://host[:port][/path], \
             without query, quotes, commas or spaces",
            self.0
        )
    }
}

impl std::error::Error for InvalidPublicUrl {}

impl PublicUrl {
    /// The URL, without a trailing `/`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for PublicUrl {
    type Err = InvalidPublicUrl;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || InvalidPublicUrl(s.to_owned());
        let trimmed = s.trim().trim_end_matches('/');
        let rest = trimmed
            .strip_prefix("https://")
            .or_else(|| trimmed.strip_prefix("http://"))
            .ok_or_else(bad)?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let path_ok = path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-._~".contains(&b));
        if !is_safe_host(authority) || !path_ok {
            return Err(bad());
        }
        Ok(PublicUrl(trimmed.to_owned()))
    }
}

impl fmt::Display for PublicUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// True for `host`, `host:port`, `[v6]` or `[v6]:port` made only of the
/// characters of host names and addresses.
fn is_safe_host(authority: &str) -> bool {
    !authority.is_empty()
        && authority.len() <= 255
        && authority
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
}

/// The base URL of the token realm: the configured one, else
/// `<X-Forwarded-Proto or http>://<Host>` when the `Host` header is a safe
/// host, else `http://localhost`.
pub(crate) fn realm_base(configured: Option<&PublicUrl>, headers: &HeaderMap) -> String {
    if let Some(url) = configured {
        return url.0.clone();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| is_safe_host(h))
        .unwrap_or("localhost");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .filter(|p| *p == "https" || *p == "http")
        .unwrap_or("http");
    format!("{scheme}://{host}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_safe_urls_only() {
        for ok in [
            "https://registry.example.com",
            "https://registry.example.com/",
            "http://127.0.0.1:5000",
            "https://[::1]:8443/prefix",
        ] {
            assert!(ok.parse::<PublicUrl>().is_ok(), "{ok}");
        }
        assert_eq!(
            "https://r.example.com/"
                .parse::<PublicUrl>()
                .unwrap()
                .as_str(),
            "https://r.example.com"
        );
        for bad in [
            "",
            "registry.example.com",
            "ftp://r.example.com",
            "https://",
            "https://evil\",service=\"x",
            "https://a b",
            "https://a,b",
            "https://r.example.com/?q=1",
            "https://user@r.example.com",
        ] {
            assert!(bad.parse::<PublicUrl>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_hostile_host_header_is_not_the_realm() {
        let mut h = HeaderMap::new();
        h.insert(
            header::HOST,
            "evil.example\",realm=\"https://x".parse().unwrap(),
        );
        assert_eq!(realm_base(None, &h), "http://localhost");
        h.insert(header::HOST, "reg.example.com:5000".parse().unwrap());
        assert_eq!(realm_base(None, &h), "http://reg.example.com:5000");
        let configured: PublicUrl = "https://registry.example.com".parse().unwrap();
        assert_eq!(
            realm_base(Some(&configured), &h),
            "https://registry.example.com"
        );
    }
}
