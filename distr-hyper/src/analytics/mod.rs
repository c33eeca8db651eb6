//! Download analytics at the HTTP layer: turning served manifests and blobs
//! into [`PullEvent`]s and [`BytesServed`] for a [`Recorder`].
//!
//! Recording never slows or fails a request: the recorder's queue never
//! waits, and a repository whose artifact cannot be resolved (no such
//! artifact in the tenancy model, a store error) is simply not recorded.

mod artifacts;
mod counting;

use std::net::IpAddr;
use std::sync::Arc;

use distr_core::access::{AccessStore, ArtifactId, CustomerId, OrgId, Principal, UserId};
use distr_core::analytics::{cap_user_agent, PullEvent, PullId, Recorder};
use distr_core::manifest::{DOCKER_MANIFEST_LIST, OCI_INDEX};
use distr_core::store::ManifestRecord;
use distr_core::{now_ms, ByteStream, RepoName, TagName};
use http::{header, HeaderMap};

pub(crate) use artifacts::ArtifactIndex;

use crate::access::Guard;
use crate::client_ip::TrustedProxies;

/// Records pulls for [`crate::DistrService::with_analytics`]: every
/// manifest GET (by tag or digest; never a HEAD) becomes a [`PullEvent`],
/// and the bytes of every blob GET, counted as the body streams, are added
/// to the (artifact, customer) counters when the body ends or is dropped.
///
/// Repositories are mapped to their organisation and artifact through the
/// access store given (the same one the access policy reads), cached until
/// the tenancy model changes. Pull-through artifacts count like any other.
#[derive(Clone, Debug)]
pub struct PullAnalytics {
    recorder: Recorder,
    artifacts: Arc<ArtifactIndex>,
    proxies: TrustedProxies,
}

/// The request facts a pull event needs beyond the guard.
pub(crate) struct Client<'a> {
    /// The connection's peer address, if the server supplied it.
    pub peer: Option<IpAddr>,
    /// The request headers (`User-Agent`, `X-Forwarded-For`).
    pub headers: &'a HeaderMap,
}

impl PullAnalytics {
    /// Records into `recorder`, resolving repositories through `access`.
    /// No proxy is trusted: the client address is the connection's peer.
    pub fn new(recorder: Recorder, access: Arc<dyn AccessStore>) -> Self {
        Self {
            recorder,
            artifacts: Arc::new(ArtifactIndex::new(access)),
            proxies: TrustedProxies::none(),
        }
    }

    /// Takes the client address from `X-Forwarded-For` when the peer is one
    /// of `proxies` (see [`TrustedProxies::client_ip`]).
    pub fn with_trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.proxies = proxies;
        self
    }

    /// The recorder events go to.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// The artifact index (shared with the tag listing).
    pub(crate) fn artifacts(&self) -> &Arc<ArtifactIndex> {
        &self.artifacts
    }

    /// The org and artifact of `repo`; `None` (logged) when unknown or on a
    /// store error.
    async fn resolve(&self, repo: &RepoName) -> Option<(OrgId, ArtifactId)> {
        match self.artifacts.resolve(repo).await {
            Ok(resolved) => resolved,
            Err(e) => {
                tracing::debug!(error = %e, %repo, "analytics: cannot resolve the artifact; not recorded");
                None
            }
        }
    }

    /// Queues the event of a manifest GET that is being answered with
    /// `manifest`.
    pub(crate) async fn record_pull(
        &self,
        guard: &Guard<'_>,
        repo: &RepoName,
        tag: Option<&TagName>,
        manifest: &ManifestRecord,
        client: &Client<'_>,
    ) {
        let Some((org, artifact)) = self.resolve(repo).await else {
            return;
        };
        let (customer, user) = who(guard.principal());
        let user_agent = client
            .headers
            .get(header::USER_AGENT)
            .map(|v| cap_user_agent(&String::from_utf8_lossy(v.as_bytes())).to_owned());
        self.recorder.record_pull(PullEvent {
            id: PullId::new(),
            at_ms: now_ms(),
            org,
            artifact,
            tag: tag.cloned(),
            digest: manifest.digest.clone(),
            index: is_index(&manifest.media_type),
            customer,
            user,
            token: guard.token_id(),
            ip: client
                .peer
                .map(|p| self.proxies.client_ip(p, client.headers)),
            user_agent,
        });
    }

    /// `body` counted: its bytes go to the (artifact, customer) counter when
    /// it ends or is dropped. `body` unchanged when the artifact is unknown.
    pub(crate) async fn count_blob(
        &self,
        guard: &Guard<'_>,
        repo: &RepoName,
        body: ByteStream,
    ) -> ByteStream {
        match self.resolve(repo).await {
            Some((org, artifact)) => {
                let (customer, _) = who(guard.principal());
                counting::count(
                    body,
                    counting::Counter::new(self.recorder.clone(), org, artifact, customer),
                )
            }
            None => body,
        }
    }
}

/// The customer and user of a principal.
fn who(p: &Principal) -> (Option<CustomerId>, Option<UserId>) {
    match p {
        Principal::System => (None, None),
        Principal::VendorAdmin { user, .. } => (None, Some(*user)),
        Principal::Customer { customer, user, .. } => (Some(*customer), Some(*user)),
    }
}

/// True for an OCI image index or a Docker manifest list.
fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}
