//! Entry points for the cargo-fuzz crate (`fuzz/`) ONLY: hidden from the docs
//! and not part of distr-hyper's API; anything here may change or vanish.
//! It exposes internal parsers of request and upstream headers so that they
//! can be fuzzed without making them public.

/// The credential a request with `Authorization: <value>` presents, as the
/// access layer sees it: `Some(("basic", password))` for HTTP Basic (any user
/// name), `Some(("bearer", token))`, or `None` when the header is ignored
/// (including values that are not a valid header value).
pub fn parse_authorization(value: &[u8]) -> Option<(&'static str, String)> {
    let value = http::HeaderValue::from_bytes(value).ok()?;
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::AUTHORIZATION, value);
    crate::access::presented(&headers).map(|c| match c {
        crate::access::Credential::Basic(s) => ("basic", s),
        crate::access::Credential::Bearer(s) => ("bearer", s),
    })
}
