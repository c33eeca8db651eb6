//! Entry points for the cargo-fuzz crate (`fuzz/`) ONLY: hidden from the docs
//! and not part of distr-hyper's API; anything here may change or vanish.
//! It exposes internal parsers of request and upstream headers so that they
//! can be fuzzed without making them public.

use crate::authn::{Boundary, Credential};

/// The credential a request with `Authorization: <value>` presents, as the
/// registry sees it (the one parser every boundary uses, with the schemes
/// `/v2` accepts): `Some(("basic", password))` for HTTP Basic (any user
/// name), `Some(("bearer", token))`, or `None` when the header is ignored
/// (including values that are not a valid header value).
pub fn parse_authorization(value: &[u8]) -> Option<(&'static str, String)> {
    let value = http::HeaderValue::from_bytes(value).ok()?;
    Credential::parse(&value)
        .filter(|c| Boundary::Registry.accepts(c.scheme()))
        .map(|c| (c.scheme().as_str(), c.into_secret()))
}
