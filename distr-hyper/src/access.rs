//! Authentication and authorization of registry requests.
//!
//! Without [`AccessControl`] the service is open: every request acts as
//! [`Principal::System`]. With it, requests must carry a personal access
//! token (HTTP Basic with any user name and the token as password, as
//! `docker login` sends it, or `Authorization: Bearer <token>`), and the
//! [`Policy`] decides what each principal sees.

use std::sync::Arc;

use base64::Engine;
use distr_core::access::{
    GrantedScope, Policy, Principal, RepoAccess, SessionClaims, SessionKey, TokenAuthenticator,
    TokenId, SESSION_TTL_MS,
};
use distr_core::{now_ms, Digest, Error, Reference, RepoName, TagName};
use http::{header, HeaderMap};
use std::net::IpAddr;

use crate::ratelimit::FailedAuthLimiter;

/// Token authentication plus entitlement enforcement.
#[derive(Clone, Debug)]
pub struct AccessControl {
    policy: Policy,
    authn: Arc<TokenAuthenticator>,
    sessions: Option<SessionKey>,
    limiter: Arc<FailedAuthLimiter>,
}

impl AccessControl {
    /// Enforces `policy` on principals authenticated by `authn`. Session
    /// tokens (`/v2/token`) are signed with a random key of this process;
    /// replicas that must accept each other's sessions share one with
    /// [`AccessControl::with_session_key`].
    pub fn new(policy: Policy, authn: Arc<TokenAuthenticator>) -> Self {
        let sessions = match SessionKey::generate() {
            Ok(k) => Some(k),
            Err(e) => {
                tracing::error!(error = %e, "no randomness for a session key: the token flow is off, Basic auth still works");
                None
            }
        };
        Self {
            policy,
            authn,
            sessions,
            limiter: Arc::new(FailedAuthLimiter::default()),
        }
    }

    /// Allows `max_failures` failed authentications per client address per
    /// `window` (default 20 per minute); more get 429 until the window ends.
    pub fn with_failed_auth_limit(
        mut self,
        max_failures: u32,
        window: std::time::Duration,
    ) -> Self {
        self.limiter = Arc::new(FailedAuthLimiter::new(max_failures, window));
        self
    }

    /// Signs and verifies session tokens with `key`.
    pub fn with_session_key(mut self, key: SessionKey) -> Self {
        self.sessions = Some(key);
        self
    }

    /// True when the Docker token flow is available.
    pub(crate) fn issues_sessions(&self) -> bool {
        self.sessions.is_some()
    }

    /// The access token a request authenticates with, for per-token
    /// limits: the one a valid session token was issued for, or the access
    /// token presented (Basic password, `Bearer` or `AccessToken`) when the
    /// authenticator accepts it (a cached check: the request's own
    /// authentication then costs nothing more). `None` when the request
    /// presents no valid token, and, without looking anything up, when
    /// `peer` is blocked for failed authentications.
    pub(crate) async fn token_of(
        &self,
        headers: &HeaderMap,
        peer: Option<IpAddr>,
    ) -> Option<TokenId> {
        let (secret, bearer) = match presented(headers) {
            Some(Credential::Basic(s)) => (s, false),
            Some(Credential::Bearer(s)) => (s, true),
            None => (access_token_scheme(headers)?, false),
        };
        let now = now_ms();
        if bearer {
            if let Some(claims) = self.sessions.as_ref().and_then(|k| k.verify(&secret, now)) {
                return Some(claims.token_id);
            }
        }
        if peer.is_some_and(|ip| self.limiter.check(ip).is_err()) {
            return None;
        }
        self.authn.authenticate(&secret, now).await.ok()?;
        self.authn.token_id(&secret)
    }
}

/// The token of `Authorization: AccessToken <token>` (the management API's
/// scheme).
fn access_token_scheme(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    let rest = rest.trim();
    (scheme.eq_ignore_ascii_case("accesstoken") && !rest.is_empty()).then(|| rest.to_owned())
}

/// A token secret presented by a request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Credential {
    /// The password of HTTP Basic (any user name), as `docker login` sends it.
    Basic(String),
    /// `Authorization: Bearer <secret>`: an access token or a session token.
    Bearer(String),
}

/// The credential a request presents, if any.
pub(crate) fn presented(headers: &HeaderMap) -> Option<Credential> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (_user, password) = text.split_once(':')?;
        (!password.is_empty()).then(|| Credential::Basic(password.to_owned()))
    } else if scheme.eq_ignore_ascii_case("bearer") {
        (!rest.is_empty()).then(|| Credential::Bearer(rest.to_owned()))
    } else {
        None
    }
}

/// What one request may do.
pub(crate) struct Guard<'a> {
    control: Option<&'a AccessControl>,
    principal: Principal,
    session: Option<SessionClaims>,
    secret: Option<String>,
}

/// One repository as a request sees it: `None` means everything.
pub(crate) struct ReadScope(Option<RepoAccess>);

impl<'a> Guard<'a> {
    /// Authenticates the request (or, without access control, lets it act as
    /// the system).
    pub(crate) async fn authenticate_from(
        control: Option<&'a AccessControl>,
        headers: &HeaderMap,
        client: Option<IpAddr>,
    ) -> Result<Guard<'a>, Error> {
        let (Some(c), Some(ip)) = (control, client) else {
            return Self::authenticate(control, headers).await;
        };
        c.limiter
            .check(ip)
            .map_err(|retry_after_secs| Error::TooManyRequests { retry_after_secs })?;
        let result = Self::authenticate(control, headers).await;
        if matches!(result, Err(Error::Unauthorized)) && headers.contains_key(header::AUTHORIZATION)
        {
            c.limiter.record_failure(ip);
        }
        result
    }

    pub(crate) async fn authenticate(
        control: Option<&'a AccessControl>,
        headers: &HeaderMap,
    ) -> Result<Guard<'a>, Error> {
        let Some(c) = control else {
            return Ok(Guard {
                control,
                principal: Principal::System,
                session: None,
                secret: None,
            });
        };
        let (secret, bearer) = match presented(headers).ok_or(Error::Unauthorized)? {
            Credential::Basic(s) => (s, false),
            Credential::Bearer(s) => (s, true),
        };
        let now = now_ms();
        if bearer {
            if let Some(claims) = c.sessions.as_ref().and_then(|k| k.verify(&secret, now)) {
                let principal = c.authn.authenticate_session(&claims, now).await?;
                return Ok(Guard {
                    control,
                    principal,
                    session: Some(claims),
                    secret: None,
                });
            }
        }
        let principal = c.authn.authenticate(&secret, now).await?;
        Ok(Guard {
            control,
            principal,
            session: None,
            secret: Some(secret),
        })
    }

    /// With a session token, fails with [`Error::Unauthorized`] unless the
    /// session grants `action` on `repo` (`None`: the catalog), so the client
    /// asks for a token with that scope.
    pub(crate) fn check_scope(&self, repo: Option<&RepoName>, action: &str) -> Result<(), Error> {
        let Some(claims) = &self.session else {
            return Ok(());
        };
        let ok = match repo {
            Some(r) => claims.allows(r.as_str(), action),
            None => claims.allows_catalog(),
        };
        if ok {
            Ok(())
        } else {
            Err(Error::Unauthorized)
        }
    }

    /// Issues a session token for the requested `scopes`, granting of each
    /// only what the principal may do. Needs a personal access token, not a
    /// session.
    pub(crate) async fn issue_session(&self, scopes: &[&str]) -> Result<(String, i64), Error> {
        let c = self
            .control
            .ok_or_else(|| Error::Unsupported("this registry does not require tokens".into()))?;
        let key = c
            .sessions
            .as_ref()
            .ok_or_else(|| Error::Unsupported("the token flow is off".into()))?;
        let secret = self.secret.as_deref().ok_or(Error::Unauthorized)?;
        let token_id = c.authn.token_id(secret).ok_or(Error::Unauthorized)?;
        let mut granted = Vec::new();
        for requested in scopes.iter().filter_map(|s| GrantedScope::parse_request(s)) {
            let actions = match requested.kind.as_str() {
                "registry" if requested.name == "catalog" => vec!["*".to_owned()],
                "repository" => self.grantable(&requested).await,
                _ => Vec::new(),
            };
            if !actions.is_empty() {
                granted.push(GrantedScope {
                    actions,
                    ..requested
                });
            }
        }
        let expires_at_ms = now_ms() + SESSION_TTL_MS;
        let claims = SessionClaims {
            principal: self.principal.clone(),
            token_id,
            scopes: granted,
            expires_at_ms,
        };
        Ok((key.sign(&claims), SESSION_TTL_MS / 1000))
    }

    /// The requested actions on a repository the principal may perform.
    async fn grantable(&self, requested: &GrantedScope) -> Vec<String> {
        let Ok(repo) = requested.name.parse::<RepoName>() else {
            return Vec::new();
        };
        let may_read = self.read(&repo).await.is_ok();
        let may_write = self.write(&repo).await.is_ok();
        requested
            .actions
            .iter()
            .filter(|a| match a.as_str() {
                "pull" => may_read,
                "push" | "delete" | "*" => may_write,
                _ => false,
            })
            .cloned()
            .collect()
    }

    /// Who makes the request.
    pub(crate) fn principal(&self) -> &Principal {
        &self.principal
    }

    /// The access token the request authenticated with: the one a session
    /// was issued for, or the one presented (as cached by the
    /// authenticator). `None` without access control.
    pub(crate) fn token_id(&self) -> Option<TokenId> {
        if let Some(claims) = &self.session {
            return Some(claims.token_id);
        }
        let (c, secret) = (self.control?, self.secret.as_deref()?);
        c.authn.token_id(secret)
    }

    /// The principal's read access to `repo` ([`Error::NameUnknown`] when it
    /// may not see the repository at all).
    pub(crate) async fn read(&self, repo: &RepoName) -> Result<ReadScope, Error> {
        match self.control {
            None => Ok(ReadScope(None)),
            Some(c) => {
                let access = c
                    .policy
                    .repo_access(&self.principal, repo, now_ms())
                    .await?;
                Ok(ReadScope((!access.is_full()).then_some(access)))
            }
        }
    }

    /// Succeeds when the principal may push to or delete from `repo`.
    pub(crate) async fn write(&self, repo: &RepoName) -> Result<(), Error> {
        match self.control {
            None => Ok(()),
            Some(c) => c.policy.check_write(&self.principal, repo).await,
        }
    }

    /// Creates the artifact record of a repository a vendor pushed to. A
    /// failure is logged, never failing the push that already succeeded.
    pub(crate) async fn after_push(&self, repo: &RepoName) {
        if let Some(c) = self.control {
            if let Err(e) = c.policy.ensure_artifact(repo, now_ms()).await {
                tracing::warn!(error = %e, %repo, "could not record the artifact of a push");
            }
        }
    }

    /// Applies the deletion rules to an OCI manifest delete.
    pub(crate) async fn check_delete(
        &self,
        repo: &RepoName,
        reference: &Reference,
    ) -> Result<(), Error> {
        match self.control {
            None => Ok(()),
            Some(c) => c.policy.check_reference_removal(repo, reference).await,
        }
    }

    /// Repositories the principal may list; `None` means all.
    pub(crate) async fn visible_repositories(&self) -> Result<Option<Vec<RepoName>>, Error> {
        match (self.control, &self.principal) {
            (None, _) | (_, Principal::System) => Ok(None),
            (Some(c), p) => Ok(Some(c.policy.visible_repositories(p, now_ms()).await?)),
        }
    }
}

fn denied(what: String) -> Error {
    Error::Denied(format!("not entitled to {what}"))
}

impl ReadScope {
    /// True when the principal sees the whole repository.
    pub(crate) fn is_full(&self) -> bool {
        self.0.is_none()
    }

    /// Fails with DENIED unless the tag is entitled.
    pub(crate) fn check_tag(&self, tag: &TagName) -> Result<(), Error> {
        match &self.0 {
            Some(a) if !a.allows_tag(tag) => Err(denied(format!("tag {tag}"))),
            _ => Ok(()),
        }
    }

    /// Fails with DENIED unless the manifest is reachable from an entitled tag.
    pub(crate) async fn check_manifest(&self, digest: &Digest) -> Result<(), Error> {
        match &self.0 {
            Some(a) if !a.allows_manifest(digest).await? => {
                Err(denied(format!("manifest {digest}")))
            }
            _ => Ok(()),
        }
    }

    /// Fails with DENIED unless an allowed manifest references the blob.
    pub(crate) async fn check_blob(&self, digest: &Digest) -> Result<(), Error> {
        match &self.0 {
            Some(a) if !a.allows_blob(digest).await? => Err(denied(format!("blob {digest}"))),
            _ => Ok(()),
        }
    }

    /// The visible tags, when restricted; `None` means all.
    pub(crate) async fn visible_tags(&self) -> Result<Option<Vec<TagName>>, Error> {
        match &self.0 {
            Some(a) => Ok(Some(a.visible_tags().await?)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, v.parse().unwrap());
        h
    }

    #[test]
    fn secrets_from_basic_and_bearer() {
        let basic = base64::engine::general_purpose::STANDARD.encode("anyone:distr_abc");
        assert_eq!(
            presented(&headers(&format!("Basic {basic}"))),
            Some(Credential::Basic("distr_abc".into()))
        );
        assert_eq!(
            presented(&headers("bearer distr_xyz")),
            Some(Credential::Bearer("distr_xyz".into()))
        );
        let empty = base64::engine::general_purpose::STANDARD.encode("user:");
        for bad in [
            format!("Basic {empty}"),
            "Basic !!!".into(),
            "Digest x".into(),
            "Bearer ".into(),
            "Basic".into(),
        ] {
            assert_eq!(presented(&headers(&bad)), None, "{bad}");
        }
        assert_eq!(presented(&HeaderMap::new()), None);
    }
}
