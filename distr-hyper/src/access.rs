//! Authentication and authorization of registry requests.
//!
//! Without [`AccessControl`] the service is open: every request acts as
//! [`Principal::System`]. With it, requests must carry a personal access
//! token (HTTP Basic with any user name and the token as password, as
//! `docker login` sends it, or `Authorization: Bearer <token>`), and the
//! [`Policy`] decides what each principal sees.
//!
//! The service authenticates each request once ([`crate::authn`]) before
//! routing it; a [`Guard`] is built from that outcome, found in the
//! request's extensions, and never reads credentials itself.

use std::sync::Arc;

use distr_core::access::{
    Action, GrantedScope, Policy, Principal, RepoAccess, SessionClaims, SessionKey,
    TokenAuthenticator, TokenId, SESSION_TTL_MS,
};
use distr_core::{now_ms, Digest, Error, Reference, RepoName, TagName};
use http::Extensions;

use crate::authn::{Authentication, Authenticator, Boundary};
use crate::public_url::PublicUrl;
use crate::ratelimit::FailedAuthLimiter;

/// Token authentication plus entitlement enforcement.
#[derive(Clone, Debug)]
pub struct AccessControl {
    policy: Policy,
    authenticator: Authenticator,
    public_url: Option<PublicUrl>,
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
            authenticator: Authenticator::new(
                Boundary::Registry,
                authn,
                sessions,
                Arc::new(FailedAuthLimiter::default()),
            ),
            public_url: None,
        }
    }

    /// The URL clients reach this registry at: the realm of the Bearer
    /// challenge is `<url>/v2/token`. Without one, the request's `Host`
    /// header is used when it is a plain host (never one with quotes,
    /// commas or spaces).
    pub fn with_public_url(mut self, url: PublicUrl) -> Self {
        self.public_url = Some(url);
        self
    }

    /// The configured public URL.
    pub(crate) fn public_url(&self) -> Option<&PublicUrl> {
        self.public_url.as_ref()
    }

    /// Allows `max_failures` failed authentications per client address per
    /// `window` (default 20 per minute); more get 429 until the window ends.
    /// Mounted with a [`crate::ManagementApi`], this limit counts the
    /// failures of both: the registry and the API share one limiter.
    pub fn with_failed_auth_limit(
        mut self,
        max_failures: u32,
        window: std::time::Duration,
    ) -> Self {
        self.authenticator
            .set_limiter(Arc::new(FailedAuthLimiter::new(max_failures, window)));
        self
    }

    /// Signs and verifies session tokens with `key`.
    pub fn with_session_key(mut self, key: SessionKey) -> Self {
        self.authenticator.set_sessions(key);
        self
    }

    /// True when the Docker token flow is available.
    pub(crate) fn issues_sessions(&self) -> bool {
        self.authenticator.sessions().is_some()
    }

    /// Authenticates registry requests.
    pub(crate) fn authenticator(&self) -> &Authenticator {
        &self.authenticator
    }
}

/// Most distinct scopes one `/v2/token` request may ask for (a session
/// token carries its scopes, and must fit in a request header).
pub(crate) const MAX_SESSION_SCOPES: usize = 32;

/// What one request may do.
pub(crate) struct Guard<'a> {
    control: Option<&'a AccessControl>,
    principal: Principal,
    session: Option<SessionClaims>,
    token_id: Option<TokenId>,
}

/// One repository as a request sees it: `None` means everything.
pub(crate) struct ReadScope(Option<RepoAccess>);

impl<'a> Guard<'a> {
    /// The guard of a request the service authenticated (its
    /// [`Authentication`] is in `extensions`) or, without access control,
    /// one that acts as the system.
    pub(crate) fn from_extensions(
        control: Option<&'a AccessControl>,
        extensions: &Extensions,
    ) -> Result<Guard<'a>, Error> {
        let Some(c) = control else {
            return Ok(Guard {
                control,
                principal: Principal::System,
                session: None,
                token_id: None,
            });
        };
        let authenticated = extensions
            .get::<Authentication>()
            .cloned()
            .unwrap_or(Authentication::Refused)
            .into_result()?;
        Ok(Guard {
            control: Some(c),
            principal: authenticated.principal,
            session: authenticated.session,
            token_id: authenticated.token_id,
        })
    }

    /// With a session token, succeeds when the session grants `action` on
    /// `repo` (`None`: the catalog). When it does not, the principal's own
    /// rights decide the answer: a request it could never make fails with
    /// that refusal (`DENIED` for a write, `NAME_UNKNOWN` for a repository it
    /// may not see, exactly as without a session), so clients stop instead
    /// of fetching the same session again; one it may make fails with
    /// [`Error::Unauthorized`], and the challenge (see [`Guard::has_session`])
    /// sends the client for a token with the missing scope.
    pub(crate) async fn check_scope(
        &self,
        repo: Option<&RepoName>,
        action: Action,
    ) -> Result<(), Error> {
        let Some(claims) = &self.session else {
            return Ok(());
        };
        let ok = match repo {
            Some(r) => claims.allows(r.as_str(), action),
            None => claims.allows_catalog(),
        };
        if ok {
            return Ok(());
        }
        if let Some(repo) = repo {
            if action.writes() {
                self.write(repo).await?;
            } else {
                self.read(repo).await?;
            }
        }
        Err(Error::Unauthorized)
    }

    /// True when the request authenticated with a session token: an
    /// [`Error::Unauthorized`] then means its scope is insufficient.
    pub(crate) fn has_session(&self) -> bool {
        self.session.is_some()
    }

    /// Issues a session token for the requested `scopes`, granting of each
    /// only what the principal may do. Needs a personal access token, not a
    /// session.
    pub(crate) async fn issue_session(&self, scopes: &[&str]) -> Result<(String, i64), Error> {
        let c = self
            .control
            .ok_or_else(|| Error::Unsupported("this registry does not require tokens".into()))?;
        let key = c
            .authenticator
            .sessions()
            .ok_or_else(|| Error::Unsupported("the token flow is off".into()))?;
        if self.session.is_some() {
            return Err(Error::Unauthorized);
        }
        let token_id = self.token_id.ok_or(Error::Unauthorized)?;
        let requests = GrantedScope::parse_requests(scopes, MAX_SESSION_SCOPES)
            .map_err(|e| Error::Denied(e.to_string()))?;
        let mut granted = Vec::new();
        for requested in requests {
            let actions = match requested.kind.as_str() {
                "registry" if requested.name == "catalog" => vec![Action::All],
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
    async fn grantable(&self, requested: &GrantedScope) -> Vec<Action> {
        let Ok(repo) = requested.name.parse::<RepoName>() else {
            return Vec::new();
        };
        let may_read = self.read(&repo).await.is_ok();
        let may_write = self.write(&repo).await.is_ok();
        requested
            .actions
            .iter()
            .copied()
            .filter(|a| if a.writes() { may_write } else { may_read })
            .collect()
    }

    /// Who makes the request.
    pub(crate) fn principal(&self) -> &Principal {
        &self.principal
    }

    /// The access token the request authenticated with: the one a session
    /// was issued for, or the one presented. `None` without access control.
    pub(crate) fn token_id(&self) -> Option<TokenId> {
        self.token_id
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
            Some(c) => {
                c.policy
                    .check_reference_removal(repo, reference, now_ms())
                    .await
            }
        }
    }

    /// Applies the deletion rules to an OCI blob delete.
    pub(crate) async fn check_blob_delete(
        &self,
        repo: &RepoName,
        digest: &Digest,
    ) -> Result<(), Error> {
        match self.control {
            None => Ok(()),
            Some(c) => c.policy.check_blob_removal(repo, digest, now_ms()).await,
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
