//! Where a Bearer token may be fetched: the realm of an upstream's
//! `WWW-Authenticate` challenge is chosen by whoever runs the upstream, and
//! the token request carries the upstream's Basic credentials, so the realm
//! is held to a rule before anything is sent to it.
//!
//! A realm is accepted when it is on the upstream's own host, on a sibling
//! host under the upstream host's parent domain (`registry-1.docker.io`
//! hands out tokens from `auth.docker.io`), or on a host the operator
//! listed (`DISTR_UPSTREAM_ALLOW`); and it must be HTTPS unless the operator
//! listed it. Its addresses are judged by the egress policy at connect time
//! like every other connection.

use distr_core::upstream::{normalize_host, split_host_port, EgressPolicy, UpstreamError};
use http::Uri;

/// Checks the realm `uri` of an upstream on `upstream_host` (`host` or
/// `host:port`, as in the upstream reference). The error is the same
/// whatever the realm names, and never echoes it.
pub(crate) fn check_realm(
    uri: &Uri,
    upstream_host: &str,
    policy: &EgressPolicy,
) -> Result<(), UpstreamError> {
    let refused = || UpstreamError::Protocol("token realm refused by the egress rules".into());
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(refused()),
    };
    let host = uri.host().ok_or_else(refused)?;
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    if policy.is_listed(host, port) {
        return Ok(());
    }
    if !https {
        return Err(refused());
    }
    let realm = normalize_host(host);
    let upstream = split_host_port(upstream_host)
        .map(|(h, _)| normalize_host(h))
        .ok_or_else(refused)?;
    if realm == upstream || shares_parent(&realm, &upstream) {
        Ok(())
    } else {
        Err(refused())
    }
}

/// True when `realm` is a host under the parent domain of `upstream`, and
/// that parent has at least two labels (`auth.docker.io` for
/// `registry-1.docker.io`; never a sibling under a bare top-level domain).
/// Literal addresses have no parent domain.
fn shares_parent(realm: &str, upstream: &str) -> bool {
    if upstream.parse::<std::net::IpAddr>().is_ok() || realm.parse::<std::net::IpAddr>().is_ok() {
        return false;
    }
    let Some((_, parent)) = upstream.split_once('.') else {
        return false;
    };
    parent.contains('.') && realm.ends_with(&format!(".{parent}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(realm: &str, upstream: &str, allow: &str) -> bool {
        let policy = EgressPolicy::parse(allow).unwrap();
        check_realm(&realm.parse().unwrap(), upstream, &policy).is_ok()
    }

    #[test]
    fn the_upstreams_own_host_and_its_siblings() {
        assert!(check("https://ghcr.io/token", "ghcr.io", ""));
        assert!(check(
            "https://auth.docker.io/token",
            "registry-1.docker.io",
            ""
        ));
        assert!(check("https://GHCR.io./token?x=1", "ghcr.io", ""));
        assert!(check(
            "https://r.example.com:8443/t",
            "r.example.com:5000",
            ""
        ));
    }

    #[test]
    fn other_hosts_and_plain_http_are_refused() {
        assert!(!check("https://evil.example/token", "ghcr.io", ""));
        assert!(!check("https://127.0.0.1/token", "ghcr.io", ""));
        assert!(!check(
            "https://169.254.169.254/latest",
            "r.example.com",
            ""
        ));
        assert!(!check("https://attacker.io/token", "ghcr.io", ""));
        assert!(!check("http://ghcr.io/token", "ghcr.io", ""));
        assert!(!check("ftp://ghcr.io/token", "ghcr.io", ""));
        // Literal addresses have no siblings.
        assert!(!check("https://10.0.0.2/token", "10.0.0.1", ""));
    }

    #[test]
    fn operator_listed_realms_are_accepted() {
        assert!(check(
            "http://127.0.0.1:9000/token",
            "127.0.0.1:5000",
            "127.0.0.1"
        ));
        assert!(check(
            "https://sso.corp.internal/t",
            "ghcr.io",
            "sso.corp.internal"
        ));
        assert!(!check(
            "http://127.0.0.1:9000/token",
            "127.0.0.1:5000",
            "127.0.0.1:5000"
        ));
    }

    #[test]
    fn the_error_does_not_echo_the_realm() {
        let e = check_realm(
            &"https://secret-host.internal/x".parse().unwrap(),
            "ghcr.io",
            &EgressPolicy::public_only(),
        )
        .unwrap_err();
        assert!(!e.to_string().contains("secret-host"), "{e}");
    }
}
