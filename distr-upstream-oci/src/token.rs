//! Bearer tokens from a registry's token realm, and how long to trust them.

use std::time::{Duration, Instant};

use distr_core::upstream::UpstreamError;

/// Lifetime assumed when the realm does not say (the Docker token spec's default).
pub const DEFAULT_EXPIRES_IN: u64 = 60;
/// Longest safety margin before a token's announced expiry.
pub const MAX_MARGIN: Duration = Duration::from_secs(10);

/// A token and the instant to stop using it.
#[derive(Clone)]
pub struct CachedToken {
    /// The bearer token.
    pub token: String,
    /// When to fetch a new one.
    pub refresh_at: Instant,
}

impl std::fmt::Debug for CachedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedToken")
            .field("token", &"<redacted>")
            .field("refresh_at", &self.refresh_at)
            .finish()
    }
}

impl CachedToken {
    /// True while the token may still be sent.
    pub fn is_fresh(&self, now: Instant) -> bool {
        now < self.refresh_at
    }
}

#[derive(serde::Deserialize)]
struct TokenResponse {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

/// Parses a token endpoint's JSON answer received at `now`.
///
/// The token is used until `expires_in` (default 60 s) minus a margin of
/// `min(10 s, expires_in / 2)`.
pub fn parse_token_response(body: &[u8], now: Instant) -> Result<CachedToken, UpstreamError> {
    let r: TokenResponse = serde_json::from_slice(body)
        .map_err(|e| UpstreamError::Protocol(format!("token response is not JSON: {e}")))?;
    let token = r
        .token
        .or(r.access_token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| UpstreamError::Protocol("token response without a token".into()))?;
    let lifetime = Duration::from_secs(r.expires_in.unwrap_or(DEFAULT_EXPIRES_IN));
    let margin = MAX_MARGIN.min(lifetime / 2);
    Ok(CachedToken {
        token,
        refresh_at: now + (lifetime - margin),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes() {
        let now = Instant::now();
        let t = parse_token_response(br#"{"token":"abc"}"#, now).unwrap();
        assert_eq!(t.token, "abc");
        assert_eq!(t.refresh_at - now, Duration::from_secs(50));
        let t =
            parse_token_response(br#"{"access_token":"secret-tok","expires_in":4}"#, now).unwrap();
        assert_eq!(t.refresh_at - now, Duration::from_secs(2));
        assert!(t.is_fresh(now) && !t.is_fresh(now + Duration::from_secs(2)));
        assert!(parse_token_response(br#"{"expires_in":4}"#, now).is_err());
        assert!(parse_token_response(b"nope", now).is_err());
        assert!(!format!("{t:?}").contains("secret-tok"));
    }
}
