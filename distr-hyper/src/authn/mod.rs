//! Authentication of requests, done once per request by the service.
//!
//! [`Authenticator::authenticate`] reads the one [`Credential`] parser,
//! asks the failed-authentication limiter first, and leaves its
//! [`Authentication`] in the request's extensions; the registry handlers
//! ([`crate::access::Guard`]) and the management API read the principal
//! from there instead of parsing headers again. The registry and the API
//! share one limiter, so guesses against either count against both.
//!
//! The two boundaries accept different schemes ([`Boundary`]): the registry
//! Basic (what `docker login` sends) and Bearer (access or session
//! tokens); the API `AccessToken` and Bearer with a personal access token
//! only. The API refuses Basic on purpose: a browser replays Basic
//! credentials it cached for the registry on its own, which would make every
//! API call forgeable across sites.

mod credential;

use std::net::IpAddr;
use std::sync::Arc;

use distr_core::access::{
    PlainToken, Principal, SessionClaims, SessionKey, TokenAuthenticator, TokenId,
};
use distr_core::{Error, StoreError};
use http::{header, HeaderMap};

pub(crate) use self::credential::{Credential, Scheme};
use crate::ratelimit::FailedAuthLimiter;

/// Which endpoints a request is for: they accept different schemes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Boundary {
    /// `/v2`: Basic and Bearer (access or session token).
    Registry,
    /// `/api/v1`: `AccessToken` and Bearer, personal access tokens only.
    Api,
}

impl Boundary {
    /// True when the boundary accepts a credential presented with `scheme`.
    pub(crate) fn accepts(self, scheme: Scheme) -> bool {
        match self {
            Boundary::Registry => matches!(scheme, Scheme::Basic | Scheme::Bearer),
            Boundary::Api => matches!(scheme, Scheme::AccessToken | Scheme::Bearer),
        }
    }
}

/// Who made a request, as authentication established it.
#[derive(Clone, Debug)]
pub(crate) struct Authenticated {
    /// The principal.
    pub(crate) principal: Principal,
    /// The personal access token the request authenticated with (the one a
    /// session was issued for).
    pub(crate) token_id: Option<TokenId>,
    /// The session's claims, when a session token was presented.
    pub(crate) session: Option<SessionClaims>,
}

/// The outcome of authenticating a request; in its extensions.
#[derive(Clone, Debug)]
pub(crate) enum Authentication {
    /// A valid credential.
    Authenticated(Authenticated),
    /// No acceptable credential, or one that was refused (401).
    Refused,
    /// The client address used up its failed authentications (429).
    Blocked {
        /// Seconds until it may try again.
        retry_after_secs: u64,
    },
    /// Authentication could not be decided (a store failure: 500).
    Failed(Arc<Error>),
    /// The operator token of the management API (no user: it manages
    /// organisations only).
    Operator,
}

impl Authentication {
    /// The access token of an authenticated request, for per-token limits.
    pub(crate) fn token_id(&self) -> Option<TokenId> {
        match self {
            Authentication::Authenticated(a) => a.token_id,
            _ => None,
        }
    }

    /// The authenticated request, or the error it fails with.
    pub(crate) fn into_result(self) -> Result<Authenticated, Error> {
        match self {
            Authentication::Authenticated(a) => Ok(a),
            Authentication::Refused => Err(Error::Unauthorized),
            Authentication::Blocked { retry_after_secs } => {
                Err(Error::TooManyRequests { retry_after_secs })
            }
            Authentication::Failed(e) => {
                Err(Arc::try_unwrap(e).unwrap_or_else(|e| Error::Store(StoreError::backend(e))))
            }
            Authentication::Operator => Err(Error::Denied(
                "the operator token manages organisations only (/api/v1/orgs)".into(),
            )),
        }
    }
}

/// Authenticates the requests of one boundary.
#[derive(Clone, Debug)]
pub(crate) struct Authenticator {
    boundary: Boundary,
    authn: Arc<TokenAuthenticator>,
    sessions: Option<SessionKey>,
    limiter: Arc<FailedAuthLimiter>,
    /// The hash of the operator token (management API only).
    operator: Option<String>,
}

impl Authenticator {
    /// Authenticates with `authn` (and session tokens signed by `sessions`)
    /// the schemes `boundary` accepts, limited by `limiter`.
    pub(crate) fn new(
        boundary: Boundary,
        authn: Arc<TokenAuthenticator>,
        sessions: Option<SessionKey>,
        limiter: Arc<FailedAuthLimiter>,
    ) -> Self {
        Self {
            boundary,
            authn,
            sessions,
            limiter,
            operator: None,
        }
    }

    /// Accepts `token` as the operator's (on the management API only).
    pub(crate) fn set_operator(&mut self, token: &PlainToken) {
        if self.boundary == Boundary::Api {
            self.operator = Some(token.hash());
        }
    }

    /// The failed-authentication limiter.
    pub(crate) fn limiter(&self) -> &Arc<FailedAuthLimiter> {
        &self.limiter
    }

    /// Counts failures with `limiter` from now on.
    pub(crate) fn set_limiter(&mut self, limiter: Arc<FailedAuthLimiter>) {
        self.limiter = limiter;
    }

    /// The session key, when the token flow is on.
    pub(crate) fn sessions(&self) -> Option<&SessionKey> {
        self.sessions.as_ref()
    }

    /// Signs sessions with `key`.
    pub(crate) fn set_sessions(&mut self, key: SessionKey) {
        self.sessions = Some(key);
    }

    /// The token authenticator.
    pub(crate) fn tokens(&self) -> &TokenAuthenticator {
        &self.authn
    }

    /// Authenticates a request with `headers` from the `client` address
    /// (the connection's peer, or behind trusted proxies the address they
    /// forward). Valid credentials are always accepted, whatever other
    /// requests from the same address did; a request that fails to
    /// authenticate counts as a failure of `client` when it presented a
    /// credential, and is answered 429 instead of 401 while `client` is
    /// blocked.
    pub(crate) async fn authenticate(
        &self,
        headers: &HeaderMap,
        client: Option<IpAddr>,
        now_ms: i64,
    ) -> Authentication {
        let credential =
            Credential::from_headers(headers).filter(|c| self.boundary.accepts(c.scheme()));
        if credential.as_ref().is_some_and(|c| self.is_operator(c)) {
            return Authentication::Operator;
        }
        match self.identify(credential, now_ms).await {
            Ok(a) => Authentication::Authenticated(a),
            Err(Error::Unauthorized) => {
                let Some(ip) = client else {
                    return Authentication::Refused;
                };
                if let Err(retry_after_secs) = self.limiter.check(ip) {
                    return Authentication::Blocked { retry_after_secs };
                }
                if headers.contains_key(header::AUTHORIZATION) {
                    self.limiter.record_failure(ip);
                }
                Authentication::Refused
            }
            Err(e) => Authentication::Failed(Arc::new(e)),
        }
    }

    /// True when `credential` is the operator token (compared by hash, so
    /// the comparison says nothing about the token itself).
    fn is_operator(&self, credential: &Credential) -> bool {
        self.operator.as_ref().is_some_and(|expected| {
            &PlainToken::from_secret(credential.secret()).hash() == expected
        })
    }

    /// The principal of a credential this boundary accepts.
    async fn identify(
        &self,
        credential: Option<Credential>,
        now_ms: i64,
    ) -> Result<Authenticated, Error> {
        let credential = credential.ok_or(Error::Unauthorized)?;
        if credential.scheme() == Scheme::Bearer {
            if let Some(claims) = self
                .sessions
                .as_ref()
                .and_then(|k| k.verify(credential.secret(), now_ms))
            {
                let principal = self.authn.authenticate_session(&claims, now_ms).await?;
                return Ok(Authenticated {
                    principal,
                    token_id: Some(claims.token_id),
                    session: Some(claims),
                });
            }
        }
        let principal = self.authn.authenticate(credential.secret(), now_ms).await?;
        Ok(Authenticated {
            principal,
            token_id: self.authn.token_id(credential.secret()),
            session: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_boundary_accepts_its_schemes() {
        use Scheme::*;
        assert!(Boundary::Registry.accepts(Basic) && Boundary::Registry.accepts(Bearer));
        assert!(!Boundary::Registry.accepts(AccessToken));
        assert!(Boundary::Api.accepts(AccessToken) && Boundary::Api.accepts(Bearer));
        assert!(!Boundary::Api.accepts(Basic), "browsers replay Basic");
    }
}
