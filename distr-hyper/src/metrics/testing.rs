//! Test support: an in-memory upstream with one image, and a reader of the
//! text exposition.

use std::io;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use distr_core::access::{
    AccessStore, Artifact, ArtifactId, ArtifactUpstream, DynAccessStore, MemoryAccessStore, Org,
    OrgId,
};
use distr_core::manifest::OCI_MANIFEST;
use distr_core::pullthrough::{PullThrough, UpstreamConnector};
use distr_core::upstream::{
    DynUpstream, ManifestHead, Missing, TagPage, Upstream, UpstreamAuth, UpstreamBlob,
    UpstreamError, UpstreamManifest, UpstreamRef, UpstreamResult,
};
use distr_core::{Digest, Reference, Registry};
use futures::StreamExt;

use super::Metrics;

/// The upstream host of [`FakeUpstream`].
pub(crate) const HOST: &str = "upstream.example.com:5000";
/// A password that must never show in metrics.
pub(crate) const SECRET: &str = "s3cret-upstream-password";

/// One image under tag `1.0`; `down` answers every call `Unavailable`;
/// tag `gone` is `NotFound`; `denied` is `Denied`; blobs arrive in 2
/// chunks, the second one an error when `corrupt`.
#[derive(Debug)]
pub(crate) struct FakeUpstream {
    pub(crate) target: UpstreamRef,
    pub(crate) manifest: Bytes,
    pub(crate) layer: Bytes,
    pub(crate) delay: Duration,
    pub(crate) down: bool,
    pub(crate) corrupt: bool,
}

impl FakeUpstream {
    pub(crate) fn new() -> Self {
        let layer = Bytes::from_static(b"layer bytes of the only image, 40 bytes.");
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{}","size":{}}}]}}"#,
            Digest::sha256(&layer),
            layer.len(),
            Digest::sha256(&layer),
            layer.len()
        );
        Self {
            target: format!("{HOST}/vendor/app").parse().expect("upstream ref"),
            manifest: Bytes::from(manifest),
            layer,
            delay: Duration::ZERO,
            down: false,
            corrupt: false,
        }
    }

    pub(crate) fn layer_digest(&self) -> Digest {
        Digest::sha256(&self.layer)
    }

    async fn call(&self) -> UpstreamResult<()> {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        if self.down {
            return Err(UpstreamError::Unavailable("connection refused".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl Upstream for FakeUpstream {
    fn target(&self) -> &UpstreamRef {
        &self.target
    }

    async fn list_tags(&self, _last: Option<&str>, _n: Option<u32>) -> UpstreamResult<TagPage> {
        self.call().await?;
        Ok(TagPage {
            tags: vec!["1.0".parse().expect("tag")],
            next: None,
        })
    }

    async fn head_manifest(&self, reference: &Reference) -> UpstreamResult<Option<ManifestHead>> {
        let m = match self.get_manifest(reference).await {
            Ok(m) => m,
            Err(UpstreamError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(Some(ManifestHead {
            size: m.content.len() as u64,
            digest: m.digest,
            media_type: m.media_type,
        }))
    }

    async fn get_manifest(&self, reference: &Reference) -> UpstreamResult<UpstreamManifest> {
        self.call().await?;
        let name = reference.to_string();
        match name.as_str() {
            "gone" => Err(UpstreamError::NotFound(Missing::Manifest(name))),
            "denied" => Err(UpstreamError::Denied("no".into())),
            _ => Ok(UpstreamManifest {
                digest: Digest::sha256(&self.manifest),
                media_type: OCI_MANIFEST.into(),
                content: self.manifest.clone(),
            }),
        }
    }

    async fn get_blob(
        &self,
        digest: &Digest,
        _range: Option<Range<u64>>,
    ) -> UpstreamResult<UpstreamBlob> {
        self.call().await?;
        if digest != &self.layer_digest() {
            return Err(UpstreamError::NotFound(Missing::Blob(digest.clone())));
        }
        let (a, b) = self.layer.split_at(10);
        let second: io::Result<Bytes> = if self.corrupt {
            Err(io::Error::other("connection reset"))
        } else {
            Ok(Bytes::copy_from_slice(b))
        };
        let chunks = vec![Ok(Bytes::copy_from_slice(a)), second];
        Ok(UpstreamBlob {
            size: Some(self.layer.len() as u64),
            total_size: Some(self.layer.len() as u64),
            body: futures::stream::iter(chunks).boxed(),
        })
    }

    async fn check_access(&self) -> UpstreamResult<()> {
        self.call().await
    }
}

/// Hands out one fake.
#[derive(Debug)]
pub(crate) struct FakeConnector(pub(crate) Arc<FakeUpstream>);

impl UpstreamConnector for FakeConnector {
    fn connect(&self, upstream: &ArtifactUpstream) -> UpstreamResult<Arc<DynUpstream>> {
        if upstream.reference.registry() != HOST {
            return Err(UpstreamError::InvalidReference("unknown host".into()));
        }
        Ok(self.0.clone())
    }
}

/// A pull-through cache whose `acme/app` mirrors `fake` (with credentials
/// holding [`SECRET`]), connecting through `metrics`' metered connector.
pub(crate) async fn pull_through(metrics: &Metrics, fake: FakeUpstream) -> PullThrough {
    let registry = Arc::new(Registry::in_memory());
    let access = Arc::new(MemoryAccessStore::new());
    let org = Org {
        id: OrgId::new(),
        slug: "acme".into(),
        name: "Acme".into(),
        created_at_ms: 0,
    };
    access.create_org(&org).await.expect("org");
    let artifact = Artifact {
        id: ArtifactId::new(),
        org_id: org.id,
        name: "app".into(),
        upstream: Some(ArtifactUpstream {
            reference: format!("{HOST}/vendor/app").parse().expect("upstream ref"),
            auth: UpstreamAuth::basic("robot", SECRET),
            insecure: true,
        }),
        created_at_ms: 1,
    };
    access.create_artifact(&artifact).await.expect("artifact");
    let access: Arc<DynAccessStore> = access;
    let connector = metrics.connector(Arc::new(FakeConnector(Arc::new(fake))));
    let pt = PullThrough::new(registry, access, Arc::new(connector));
    metrics.observe_pull_through(&pt);
    pt
}

/// The value of the sample `name{labels…}` (labels in any order, all of
/// them given) in a text exposition.
pub(crate) fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().find_map(|line| {
        if line.starts_with('#') {
            return None;
        }
        let (series, value) = line.rsplit_once(' ')?;
        let (series_name, series_labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.strip_suffix('}')?),
            None => (series, ""),
        };
        if series_name != name {
            return None;
        }
        let have: Vec<(&str, &str)> = if series_labels.is_empty() {
            Vec::new()
        } else {
            series_labels
                .split(',')
                .filter_map(|kv| {
                    let (k, v) = kv.split_once('=')?;
                    Some((k, v.trim_matches('"')))
                })
                .collect()
        };
        if have.len() != labels.len() || !labels.iter().all(|l| have.contains(l)) {
            return None;
        }
        value.parse().ok()
    })
}
