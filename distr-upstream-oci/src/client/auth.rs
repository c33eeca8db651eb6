//! Authentication: Basic credentials (static or from an
//! [`EcrTokenSource`]), the Bearer challenge with its token cache (locked
//! across a fetch so concurrent requests fetch once), and replacing an ECR
//! token the registry rejects.

use std::time::Instant;

use distr_core::upstream::{Missing, UpstreamError, UpstreamResult};
use http::header::WWW_AUTHENTICATE;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, Uri};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::Connect;

use super::response::{header_str, read_body, status_error};
use super::{BasicAuth, Creds, OciUpstream, MAX_SMALL_BODY};
use crate::challenge::{parse_challenges, Challenge};
use crate::link::percent_encode;
use crate::token::{parse_token_response, CachedToken};

impl<C> OciUpstream<C>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    /// The Basic credentials for the next request (an ECR token is fetched
    /// when there is no fresh one).
    pub(super) async fn basic(&self) -> UpstreamResult<Option<BasicAuth>> {
        Ok(match &self.creds {
            Creds::Anonymous => None,
            Creds::Basic(h) => Some(BasicAuth {
                header: h.clone(),
                ecr: None,
            }),
            Creds::Ecr(source) => {
                let token = source.token().await?;
                Some(BasicAuth {
                    header: token.basic.clone(),
                    ecr: Some(token),
                })
            }
        })
    }

    /// The `Authorization` to send before any challenge: a fresh cached
    /// token, else Basic credentials.
    pub(super) async fn current_auth(&self, basic: Option<&HeaderValue>) -> Option<HeaderValue> {
        let guard = self.token.lock().await;
        match guard.as_ref() {
            Some(t) if t.is_fresh(Instant::now()) => bearer(&t.token),
            _ => basic.cloned(),
        }
    }

    /// Sends a request to `<base><suffix>` with auth, answering one Bearer
    /// challenge; an ECR token the registry rejects is replaced and the
    /// request retried once.
    pub(super) async fn send(
        &self,
        method: Method,
        suffix: &str,
        headers: HeaderMap,
    ) -> UpstreamResult<Response<Incoming>> {
        let uri: Uri = format!("{}{suffix}", self.base)
            .parse()
            .map_err(|e| UpstreamError::InvalidReference(format!("{}: {e}", self.base)))?;
        let basic = self.basic().await?;
        let result = self
            .send_once(&method, &uri, &headers, basic.as_ref())
            .await;
        let (Creds::Ecr(source), Some(stale)) =
            (&self.creds, basic.as_ref().and_then(|b| b.ecr.as_ref()))
        else {
            return result;
        };
        let rejected = match &result {
            Ok(resp) => matches!(
                resp.status(),
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
            ),
            // The token realm refused the ECR password.
            Err(UpstreamError::Unauthorized(_)) => true,
            Err(_) => false,
        };
        if !rejected {
            return result;
        }
        drop(result);
        tracing::debug!(upstream = %self.target, "ECR token rejected; fetching a new one");
        source.invalidate(stale).await;
        // Bearer tokens may have been issued for the rejected password.
        *self.token.lock().await = None;
        let basic = self.basic().await?;
        self.send_once(&method, &uri, &headers, basic.as_ref())
            .await
    }

    /// [`send`](Self::send) with the given Basic credentials, answering one
    /// Bearer challenge.
    pub(super) async fn send_once(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        basic: Option<&BasicAuth>,
    ) -> UpstreamResult<Response<Incoming>> {
        let basic = basic.map(|b| &b.header);
        let sent = self.current_auth(basic).await;
        let resp = self
            .execute(method, uri.clone(), headers, sent.as_ref())
            .await?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let challenges = header_str(resp.headers(), WWW_AUTHENTICATE)
            .map(parse_challenges)
            .unwrap_or_default();
        let Some(challenge) = challenges.into_iter().find(|c| c.scheme == "bearer") else {
            return Ok(resp);
        };
        let token = self.refresh_token(&challenge, sent.as_ref(), basic).await?;
        self.execute(method, uri.clone(), headers, token.as_ref())
            .await
    }

    /// A token for `challenge`: the cached one when another request already
    /// refreshed it since `sent` was used, else a new one from the realm.
    pub(super) async fn refresh_token(
        &self,
        challenge: &Challenge,
        sent: Option<&HeaderValue>,
        basic: Option<&HeaderValue>,
    ) -> UpstreamResult<Option<HeaderValue>> {
        let mut guard = self.token.lock().await;
        if let Some(t) = guard.as_ref().filter(|t| t.is_fresh(Instant::now())) {
            let current = bearer(&t.token);
            if current.as_ref() != sent {
                return Ok(current);
            }
        }
        let fresh = self.fetch_token(challenge, basic).await?;
        let header = bearer(&fresh.token);
        *guard = Some(fresh);
        Ok(header)
    }

    pub(super) async fn fetch_token(
        &self,
        challenge: &Challenge,
        basic: Option<&HeaderValue>,
    ) -> UpstreamResult<CachedToken> {
        let realm = challenge
            .param("realm")
            .ok_or_else(|| UpstreamError::Protocol("Bearer challenge without realm".into()))?;
        let default_scope = format!("repository:{}:pull", self.target.repository());
        let scope = challenge.param("scope").unwrap_or(&default_scope);
        let mut url = realm.to_owned();
        let mut sep = if url.contains('?') { '&' } else { '?' };
        if let Some(service) = challenge.param("service") {
            url.push_str(&format!("{sep}service={}", percent_encode(service)));
            sep = '&';
        }
        url.push_str(&format!("{sep}scope={}", percent_encode(scope)));
        let uri: Uri = url
            .parse()
            .map_err(|_| UpstreamError::Protocol("malformed token realm".into()))?;
        crate::realm::check_realm(&uri, self.target.registry(), &self.egress)?;
        let resp = self
            .execute(&Method::GET, uri, &HeaderMap::new(), basic)
            .await?;
        let status = resp.status();
        if !status.is_success() {
            return Err(match status_error(resp, Missing::Repository).await {
                UpstreamError::Unauthorized(m) | UpstreamError::Denied(m) => {
                    UpstreamError::Unauthorized(format!("token realm: {m}"))
                }
                UpstreamError::NotFound(_) => {
                    UpstreamError::Protocol("token realm not found".into())
                }
                other => other,
            });
        }
        let body = read_body(self.body(resp), MAX_SMALL_BODY)
            .await?
            .ok_or_else(|| UpstreamError::Protocol("token response too large".into()))?;
        parse_token_response(&body, Instant::now())
    }
}

pub(super) fn bearer(token: &str) -> Option<HeaderValue> {
    let mut v = HeaderValue::from_str(&format!("Bearer {token}")).ok()?;
    v.set_sensitive(true);
    Some(v)
}
