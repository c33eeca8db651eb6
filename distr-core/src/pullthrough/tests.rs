//! Tests of the pull-through cache against an in-memory fake upstream.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use tokio::sync::watch;

use super::*;
use crate::access::{
    AccessStore, Artifact, ArtifactId, ArtifactUpstream, DynAccessStore, MemoryAccessStore, Org,
    OrgId,
};
use crate::blob::ByteStream;
use crate::digest::Digest;
use crate::error::Error;
use crate::manifest::{OCI_INDEX, OCI_MANIFEST};
use crate::name::RepoName;
use crate::range::ByteRange;
use crate::reference::{Reference, TagName};
use crate::registry::Registry;
use crate::upstream::{
    DynUpstream, ManifestHead, Missing, TagPage, Upstream, UpstreamAuth, UpstreamBlob,
    UpstreamError, UpstreamFailure, UpstreamManifest, UpstreamRef, UpstreamResult,
};

// ---------------------------------------------------------------- fakes

#[derive(Debug, Default)]
struct State {
    tags: BTreeMap<String, Digest>,
    manifests: HashMap<Digest, (String, Bytes)>,
    blobs: HashMap<Digest, Bytes>,
    /// Whole-blob responses of these digests have their last byte flipped.
    corrupt: HashSet<Digest>,
}

/// An in-memory upstream repository counting the calls it gets.
#[derive(Debug)]
struct FakeUpstream {
    target: UpstreamRef,
    state: Mutex<State>,
    down: AtomicBool,
    page_size: usize,
    chunk: usize,
    chunk_delay: Duration,
    manifest_delay: Duration,
    /// When set, `list_tags` waits until it turns true.
    list_gate: Mutex<Option<watch::Receiver<bool>>>,
    lists: AtomicUsize,
    heads: AtomicUsize,
    gets: AtomicUsize,
    blob_gets: AtomicUsize,
    range_gets: AtomicUsize,
}

impl FakeUpstream {
    fn new(target: &str) -> Self {
        Self {
            target: target.parse().unwrap(),
            state: Mutex::new(State::default()),
            down: AtomicBool::new(false),
            page_size: 2,
            chunk: 64 * 1024,
            chunk_delay: Duration::from_millis(1),
            manifest_delay: Duration::from_millis(20),
            list_gate: Mutex::new(None),
            lists: AtomicUsize::new(0),
            heads: AtomicUsize::new(0),
            gets: AtomicUsize::new(0),
            blob_gets: AtomicUsize::new(0),
            range_gets: AtomicUsize::new(0),
        }
    }

    fn st(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn check_up(&self) -> UpstreamResult<()> {
        if self.down.load(Ordering::SeqCst) {
            return Err(UpstreamError::Unavailable("connection refused".into()));
        }
        Ok(())
    }

    fn add_blob(&self, data: Bytes) -> Digest {
        let d = Digest::sha256(&data);
        self.st().blobs.insert(d.clone(), data);
        d
    }

    fn add_manifest(&self, tag: Option<&str>, media_type: &str, content: String) -> Digest {
        let content = Bytes::from(content);
        let d = Digest::sha256(&content);
        let mut st = self.st();
        st.manifests
            .insert(d.clone(), (media_type.to_owned(), content));
        if let Some(t) = tag {
            st.tags.insert(t.to_owned(), d.clone());
        }
        d
    }

    /// An image with a unique config and `layers`; returns its digest.
    fn add_image(&self, tag: Option<&str>, layers: &[Bytes]) -> Digest {
        let config = Bytes::from(format!("{{\"id\":\"{}\"}}", uuid::Uuid::new_v4()));
        let desc = |media: &str, data: &Bytes| {
            format!(
                r#"{{"mediaType":"{media}","digest":"{}","size":{}}}"#,
                Digest::sha256(data),
                data.len()
            )
        };
        let config_desc = desc("application/vnd.oci.image.config.v1+json", &config);
        let layer_descs: Vec<String> = layers
            .iter()
            .map(|l| desc("application/vnd.oci.image.layer.v1.tar+gzip", l))
            .collect();
        self.add_blob(config);
        for l in layers {
            self.add_blob(l.clone());
        }
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{config_desc},"layers":[{}]}}"#,
            layer_descs.join(",")
        );
        self.add_manifest(tag, OCI_MANIFEST, m)
    }

    fn add_index(&self, tag: Option<&str>, children: &[Digest]) -> Digest {
        let entries: Vec<String> = {
            let st = self.st();
            children
                .iter()
                .map(|c| {
                    let (media, content) = &st.manifests[c];
                    format!(
                        r#"{{"mediaType":"{media}","digest":"{c}","size":{}}}"#,
                        content.len()
                    )
                })
                .collect()
        };
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{}]}}"#,
            entries.join(",")
        );
        self.add_manifest(tag, OCI_INDEX, m)
    }

    fn set_tag(&self, tag: &str, d: &Digest) {
        self.st().tags.insert(tag.to_owned(), d.clone());
    }

    fn remove_tag(&self, tag: &str) {
        self.st().tags.remove(tag);
    }

    fn resolve(&self, reference: &Reference) -> Option<Digest> {
        let st = self.st();
        match reference {
            Reference::Tag(t) => st.tags.get(t.as_str()).cloned(),
            Reference::Digest(d) => st.manifests.contains_key(d).then(|| d.clone()),
        }
    }

    fn count(c: &AtomicUsize) -> usize {
        c.load(Ordering::SeqCst)
    }
}

fn chunked(data: Bytes, chunk: usize, delay: Duration) -> ByteStream {
    futures::stream::unfold(0usize, move |at| {
        let data = data.clone();
        async move {
            if at >= data.len() {
                return None;
            }
            tokio::time::sleep(delay).await;
            let end = (at + chunk).min(data.len());
            Some((Ok::<_, io::Error>(data.slice(at..end)), end))
        }
    })
    .boxed()
}

#[async_trait]
impl Upstream for FakeUpstream {
    fn target(&self) -> &UpstreamRef {
        &self.target
    }

    async fn list_tags(&self, last: Option<&str>, _n: Option<u32>) -> UpstreamResult<TagPage> {
        self.lists.fetch_add(1, Ordering::SeqCst);
        let gate = self.list_gate.lock().unwrap().clone();
        if let Some(mut gate) = gate {
            let _ = gate.wait_for(|open| *open).await;
        }
        self.check_up()?;
        let st = self.st();
        let rest: Vec<&String> = st
            .tags
            .keys()
            .filter(|t| last.is_none_or(|l| t.as_str() > l))
            .collect();
        let page: Vec<TagName> = rest
            .iter()
            .take(self.page_size)
            .map(|t| t.parse().unwrap())
            .collect();
        let next = (rest.len() > self.page_size).then(|| rest[self.page_size - 1].clone());
        Ok(TagPage { tags: page, next })
    }

    async fn head_manifest(&self, reference: &Reference) -> UpstreamResult<Option<ManifestHead>> {
        self.heads.fetch_add(1, Ordering::SeqCst);
        self.check_up()?;
        let Some(d) = self.resolve(reference) else {
            return Ok(None);
        };
        let st = self.st();
        let (media_type, content) = &st.manifests[&d];
        Ok(Some(ManifestHead {
            digest: d.clone(),
            media_type: media_type.clone(),
            size: content.len() as u64,
        }))
    }

    async fn get_manifest(&self, reference: &Reference) -> UpstreamResult<UpstreamManifest> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.manifest_delay).await;
        self.check_up()?;
        let Some(d) = self.resolve(reference) else {
            return Err(UpstreamError::NotFound(Missing::Manifest(
                reference.to_string(),
            )));
        };
        let st = self.st();
        let (media_type, content) = &st.manifests[&d];
        Ok(UpstreamManifest {
            digest: d.clone(),
            media_type: media_type.clone(),
            content: content.clone(),
        })
    }

    async fn get_blob(
        &self,
        digest: &Digest,
        range: Option<Range<u64>>,
    ) -> UpstreamResult<UpstreamBlob> {
        match range {
            Some(_) => self.range_gets.fetch_add(1, Ordering::SeqCst),
            None => self.blob_gets.fetch_add(1, Ordering::SeqCst),
        };
        self.check_up()?;
        let (data, corrupt) = {
            let st = self.st();
            let Some(data) = st.blobs.get(digest) else {
                return Err(UpstreamError::NotFound(Missing::Blob(digest.clone())));
            };
            (data.clone(), st.corrupt.contains(digest))
        };
        let total = data.len() as u64;
        let data = match range {
            Some(r) => data.slice(r.start as usize..r.end as usize),
            None if corrupt => {
                let mut v = data.to_vec();
                if let Some(last) = v.last_mut() {
                    *last ^= 0xff;
                }
                Bytes::from(v)
            }
            None => data,
        };
        Ok(UpstreamBlob {
            size: Some(data.len() as u64),
            total_size: Some(total),
            body: chunked(data, self.chunk, self.chunk_delay),
        })
    }

    async fn check_access(&self) -> UpstreamResult<()> {
        self.check_up()
    }
}

/// Connects every upstream reference it knows to its fake, counting calls.
#[derive(Debug, Default)]
struct FakeConnector {
    upstreams: Mutex<HashMap<String, Arc<FakeUpstream>>>,
    connects: AtomicUsize,
}

impl UpstreamConnector for FakeConnector {
    fn connect(&self, upstream: &ArtifactUpstream) -> UpstreamResult<Arc<DynUpstream>> {
        self.connects.fetch_add(1, Ordering::SeqCst);
        let fake = self
            .upstreams
            .lock()
            .unwrap()
            .get(&upstream.reference.to_string())
            .cloned()
            .ok_or_else(|| UpstreamError::Unavailable("no such host".into()))?;
        Ok(fake)
    }
}

// ---------------------------------------------------------------- fixture

const UPSTREAM: &str = "upstream.example.com/vendor/app";
const SECRET: &str = "s3cret-upstream-password";

struct Fx {
    pt: PullThrough,
    registry: Arc<Registry>,
    access: Arc<MemoryAccessStore>,
    up: Arc<FakeUpstream>,
    conn: Arc<FakeConnector>,
    org: Org,
    artifact: Artifact,
    repo: RepoName,
}

fn mirror_config(reference: &str, password: &str) -> ArtifactUpstream {
    ArtifactUpstream {
        reference: reference.parse().unwrap(),
        auth: UpstreamAuth::basic("robot", password),
        insecure: false,
    }
}

async fn fixture() -> Fx {
    let registry = Arc::new(Registry::in_memory());
    let access = Arc::new(MemoryAccessStore::new());
    let org = Org {
        id: OrgId::new(),
        slug: "acme".into(),
        name: "Acme".into(),
        created_at_ms: 0,
    };
    access.create_org(&org).await.unwrap();
    let artifact = Artifact {
        id: ArtifactId::new(),
        org_id: org.id,
        name: "app".into(),
        upstream: Some(mirror_config(UPSTREAM, SECRET)),
        created_at_ms: 1,
    };
    access.create_artifact(&artifact).await.unwrap();
    let plain = Artifact {
        id: ArtifactId::new(),
        org_id: org.id,
        name: "plain".into(),
        upstream: None,
        created_at_ms: 2,
    };
    access.create_artifact(&plain).await.unwrap();
    let up = Arc::new(FakeUpstream::new(UPSTREAM));
    let conn = Arc::new(FakeConnector::default());
    conn.upstreams
        .lock()
        .unwrap()
        .insert(UPSTREAM.to_owned(), Arc::clone(&up));
    let access_dyn: Arc<DynAccessStore> = access.clone();
    let pt = PullThrough::new(Arc::clone(&registry), access_dyn, conn.clone())
        .with_lookup_ttl(Duration::ZERO);
    Fx {
        pt,
        registry,
        access,
        up,
        conn,
        org,
        artifact,
        repo: "acme/app".parse().unwrap(),
    }
}

fn tag(t: &str) -> Reference {
    Reference::Tag(t.parse().unwrap())
}

fn tag_name(t: &str) -> TagName {
    t.parse().unwrap()
}

fn data(len: usize, seed: u8) -> Bytes {
    Bytes::from(
        (0..len)
            .map(|i| (i % 251) as u8 ^ seed)
            .collect::<Vec<u8>>(),
    )
}

async fn collect(body: ByteStream) -> io::Result<Vec<u8>> {
    let chunks: Vec<Bytes> = body.try_collect().await?;
    Ok(chunks.concat())
}

async fn fills_done(pt: &PullThrough) {
    for _ in 0..500 {
        if pt.filler().in_flight() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("fills did not end");
}

async fn local_tags(fx: &Fx) -> Vec<(String, Digest)> {
    fx.registry
        .store()
        .list_tag_targets(&fx.repo)
        .await
        .unwrap()
        .into_iter()
        .map(|(t, d)| (t.to_string(), d))
        .collect()
}

// ---------------------------------------------------------------- manifests

#[tokio::test]
async fn tag_pull_on_demand_stores_and_serves() {
    let fx = fixture().await;
    let layer = data(1000, 1);
    let d = fx.up.add_image(Some("v1"), std::slice::from_ref(&layer));

    let m = fx
        .pt
        .get_manifest(&fx.repo, &tag("v1"), false)
        .await
        .unwrap();
    assert_eq!(m.digest, d);
    assert_eq!(m.media_type, OCI_MANIFEST);
    assert_eq!(m.blobs.len(), 2);
    assert!(m.blobs.contains(&Digest::sha256(&layer)));
    assert_eq!(FakeUpstream::count(&fx.up.gets), 1);
    // Stored byte-for-byte under the tag.
    let stored = fx
        .registry
        .get_manifest(&fx.repo, &tag("v1"))
        .await
        .unwrap();
    assert_eq!(stored.content, fx.up.st().manifests[&d].1);

    let again = fx
        .pt
        .get_manifest(&fx.repo, &tag("v1"), false)
        .await
        .unwrap();
    assert_eq!(again.digest, d);
    assert_eq!(FakeUpstream::count(&fx.up.gets), 1, "second pull is local");

    let unknown = fx.pt.get_manifest(&fx.repo, &tag("nope"), false).await;
    assert!(
        matches!(unknown, Err(Error::ManifestUnknown(_))),
        "{unknown:?}"
    );
}

#[tokio::test]
async fn concurrent_misses_share_one_manifest_fetch() {
    let fx = fixture().await;
    fx.up.add_image(Some("v1"), &[data(10, 1)]);
    let v1 = tag("v1");
    let pulls = (0..16).map(|_| fx.pt.get_manifest(&fx.repo, &v1, false));
    for r in futures::future::join_all(pulls).await {
        r.unwrap();
    }
    assert_eq!(FakeUpstream::count(&fx.up.gets), 1);
}

#[tokio::test]
async fn index_pull_stores_children() {
    let fx = fixture().await;
    let a = fx.up.add_image(None, &[data(10, 1)]);
    let b = fx.up.add_image(None, &[data(20, 2)]);
    let idx = fx.up.add_index(Some("multi"), &[a.clone(), b.clone()]);

    let m = fx
        .pt
        .get_manifest(&fx.repo, &tag("multi"), false)
        .await
        .unwrap();
    assert_eq!(m.digest, idx);
    assert_eq!(m.children, vec![a.clone(), b.clone()]);
    for child in [&a, &b] {
        let c = fx
            .registry
            .get_manifest(&fx.repo, &Reference::Digest(child.clone()))
            .await
            .unwrap();
        assert_eq!(&c.digest, child);
    }
    assert_eq!(FakeUpstream::count(&fx.up.gets), 3);
    // Children are now local: pulling them by digest needs no upstream.
    fx.pt
        .get_manifest(&fx.repo, &Reference::Digest(a), false)
        .await
        .unwrap();
    assert_eq!(FakeUpstream::count(&fx.up.gets), 3);
}

#[tokio::test]
async fn digest_on_demand_only_with_allow_digest() {
    let fx = fixture().await;
    let d = fx.up.add_image(None, &[data(10, 1)]);
    let by_digest = Reference::Digest(d.clone());

    let denied = fx.pt.get_manifest(&fx.repo, &by_digest, false).await;
    assert!(
        matches!(denied, Err(Error::ManifestUnknown(_) | Error::NameUnknown)),
        "{denied:?}"
    );
    assert_eq!(FakeUpstream::count(&fx.up.gets), 0);

    let m = fx
        .pt
        .get_manifest(&fx.repo, &by_digest, true)
        .await
        .unwrap();
    assert_eq!(m.digest, d);
    assert_eq!(FakeUpstream::count(&fx.up.gets), 1);
    // Stored without a tag.
    assert!(local_tags(&fx).await.is_empty());
    // Now local: served without allow_digest too.
    fx.pt
        .get_manifest(&fx.repo, &by_digest, false)
        .await
        .unwrap();
}

#[tokio::test]
async fn repos_without_upstream_are_untouched() {
    let fx = fixture().await;
    fx.up.add_image(Some("v1"), &[data(10, 1)]);
    let plain: RepoName = "acme/plain".parse().unwrap();
    let r = fx.pt.get_manifest(&plain, &tag("v1"), true).await;
    assert!(matches!(r, Err(Error::NameUnknown)), "{r:?}");
    let other: RepoName = "nobody/app".parse().unwrap();
    assert!(fx.pt.upstream_for(&other).await.unwrap().is_none());
    assert!(fx.pt.upstream_for(&plain).await.unwrap().is_none());
    assert_eq!(FakeUpstream::count(&fx.up.gets), 0);
}

// ---------------------------------------------------------------- blobs

#[tokio::test]
async fn blob_fill_once_for_32_concurrent_readers() {
    let fx = fixture().await;
    let layer = data(4 * 1024 * 1024 + 17, 3);
    let ld = Digest::sha256(&layer);
    fx.up.add_image(Some("v1"), std::slice::from_ref(&layer));
    fx.pt
        .get_manifest(&fx.repo, &tag("v1"), false)
        .await
        .unwrap();

    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (pt, repo, ld) = (fx.pt.clone(), fx.repo.clone(), ld.clone());
        tasks.push(tokio::spawn(async move {
            let read = pt.read_blob(&repo, &ld, None).await.unwrap();
            assert_eq!(read.size, 4 * 1024 * 1024 + 17);
            assert!(read.range.is_none());
            collect(read.body).await.unwrap()
        }));
    }
    for t in tasks {
        assert!(t.await.unwrap() == layer);
    }
    assert_eq!(FakeUpstream::count(&fx.up.blob_gets), 1);
    // Cached and linked: the registry serves it alone now.
    let local = fx.registry.stat_blob(&fx.repo, &ld).await.unwrap();
    assert_eq!(local.size, layer.len() as u64);
    fx.up.set_down(true);
    let read = fx.pt.read_blob(&fx.repo, &ld, None).await.unwrap();
    assert!(collect(read.body).await.unwrap() == layer);
    assert_eq!(FakeUpstream::count(&fx.up.blob_gets), 1);
}

#[tokio::test]
async fn cached_bytes_of_another_repo_are_linked_without_fetch() {
    let fx = fixture().await;
    let layer = data(5000, 4);
    let ld = Digest::sha256(&layer);
    fx.up.add_image(Some("v1"), std::slice::from_ref(&layer));
    fx.pt
        .get_manifest(&fx.repo, &tag("v1"), false)
        .await
        .unwrap();
    fx.registry
        .blobs()
        .write_verified(&ld, None, vec![crate::blob::once(layer.clone())])
        .await
        .unwrap();
    let read = fx.pt.read_blob(&fx.repo, &ld, None).await.unwrap();
    assert!(collect(read.body).await.unwrap() == layer);
    assert_eq!(FakeUpstream::count(&fx.up.blob_gets), 0);
    assert!(fx.registry.stat_blob(&fx.repo, &ld).await.is_ok());
}

#[tokio::test]
async fn corrupt_upstream_blob_is_not_cached_and_retried() {
    let fx = fixture().await;
    let layer = data(300_000, 5);
    let ld = Digest::sha256(&layer);
    fx.up.add_image(Some("v1"), std::slice::from_ref(&layer));
    fx.pt
        .get_manifest(&fx.repo, &tag("v1"), false)
        .await
        .unwrap();
    fx.up.st().corrupt.insert(ld.clone());

    let read = fx.pt.read_blob(&fx.repo, &ld, None).await.unwrap();
    assert!(collect(read.body).await.is_err(), "corrupt body must fail");
    fills_done(&fx.pt).await;
    assert!(!fx.registry.blobs().exists(&ld).await.unwrap());
    assert!(matches!(
        fx.registry.stat_blob(&fx.repo, &ld).await,
        Err(Error::BlobUnknown(_))
    ));

    fx.up.st().corrupt.clear();
    let read = fx.pt.read_blob(&fx.repo, &ld, None).await.unwrap();
    assert!(collect(read.body).await.unwrap() == layer);
    assert_eq!(FakeUpstream::count(&fx.up.blob_gets), 2);
    assert!(fx.registry.blobs().exists(&ld).await.unwrap());
}

#[tokio::test]
async fn range_of_uncached_blob_is_forwarded_and_never_cached_partially() {
    let fx = fixture().await;
    let layer = data(1024 * 1024, 6);
    let ld = Digest::sha256(&layer);
    fx.up.add_image(Some("v1"), std::slice::from_ref(&layer));
    fx.pt
        .get_manifest(&fx.repo, &tag("v1"), false)
        .await
        .unwrap();
    // Whole-blob fetches come back corrupt, so the background fill fails.
    fx.up.st().corrupt.insert(ld.clone());

    let read = fx
        .pt
        .read_blob(&fx.repo, &ld, Some(ByteRange::FromTo(100, 1099)))
        .await
        .unwrap();
    assert_eq!(read.size, layer.len() as u64);
    assert_eq!(read.range, Some(100..1100));
    assert_eq!(collect(read.body).await.unwrap(), &layer[100..1100]);
    assert_eq!(FakeUpstream::count(&fx.up.range_gets), 1);
    fills_done(&fx.pt).await;
    assert_eq!(FakeUpstream::count(&fx.up.blob_gets), 1, "background fill");
    assert!(!fx.registry.blobs().exists(&ld).await.unwrap());
    assert!(fx
        .registry
        .store()
        .get_blob(&fx.repo, &ld)
        .await
        .unwrap()
        .is_none());

    // With a good upstream the background fill caches the whole blob.
    fx.up.st().corrupt.clear();
    let read = fx
        .pt
        .read_blob(&fx.repo, &ld, Some(ByteRange::Suffix(10)))
        .await
        .unwrap();
    assert_eq!(
        read.range,
        Some(layer.len() as u64 - 10..layer.len() as u64)
    );
    assert_eq!(
        collect(read.body).await.unwrap(),
        &layer[layer.len() - 10..]
    );
    fills_done(&fx.pt).await;
    let mut linked = false;
    for _ in 0..100 {
        if fx.registry.stat_blob(&fx.repo, &ld).await.is_ok() {
            linked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(linked, "background fill links the blob");
    let whole = fx.registry.read_blob(&fx.repo, &ld, None).await.unwrap();
    assert!(collect(whole.body).await.unwrap() == layer);

    // Cached now: ranges come from the cache.
    let ranges = FakeUpstream::count(&fx.up.range_gets);
    let read = fx
        .pt
        .read_blob(&fx.repo, &ld, Some(ByteRange::From(5)))
        .await
        .unwrap();
    assert_eq!(collect(read.body).await.unwrap(), &layer[5..]);
    assert_eq!(FakeUpstream::count(&fx.up.range_gets), ranges);
    // Unsatisfiable ranges are the client's error.
    let r = fx
        .pt
        .read_blob(&fx.repo, &ld, Some(ByteRange::From(1 << 30)))
        .await;
    assert!(matches!(r, Err(Error::RangeNotSatisfiable { .. })), "{r:?}");
}

#[tokio::test]
async fn range_during_fill_is_served_from_the_fill() {
    let fx = fixture().await;
    let layer = data(2 * 1024 * 1024, 7);
    let ld = Digest::sha256(&layer);
    fx.up.add_image(Some("v1"), std::slice::from_ref(&layer));
    fx.pt
        .get_manifest(&fx.repo, &tag("v1"), false)
        .await
        .unwrap();
    let whole = fx.pt.read_blob(&fx.repo, &ld, None).await.unwrap();
    let read = fx
        .pt
        .read_blob(&fx.repo, &ld, Some(ByteRange::FromTo(70_000, 199_999)))
        .await
        .unwrap();
    assert_eq!(collect(read.body).await.unwrap(), &layer[70_000..200_000]);
    assert!(collect(whole.body).await.unwrap() == layer);
    assert_eq!(FakeUpstream::count(&fx.up.range_gets), 0);
    assert_eq!(FakeUpstream::count(&fx.up.blob_gets), 1);
}

#[tokio::test]
async fn upstream_down_serves_cache_and_fails_uncached_as_upstream_error() {
    let fx = fixture().await;
    let (l1, l2) = (data(1000, 8), data(2000, 9));
    let (d1, d2) = (Digest::sha256(&l1), Digest::sha256(&l2));
    fx.up.add_image(Some("v1"), &[l1.clone(), l2.clone()]);
    fx.pt
        .get_manifest(&fx.repo, &tag("v1"), false)
        .await
        .unwrap();
    let read = fx.pt.read_blob(&fx.repo, &d1, None).await.unwrap();
    collect(read.body).await.unwrap();

    fx.up.set_down(true);
    fx.pt
        .get_manifest(&fx.repo, &tag("v1"), false)
        .await
        .unwrap();
    let read = fx.pt.read_blob(&fx.repo, &d1, None).await.unwrap();
    assert!(collect(read.body).await.unwrap() == l1);
    let stat = fx.pt.stat_blob(&fx.repo, &d2).await.unwrap();
    assert_eq!(stat.size, 2000);

    let r = fx.pt.read_blob(&fx.repo, &d2, None).await;
    assert!(
        matches!(r, Err(Error::Upstream(UpstreamError::Unavailable(_)))),
        "{r:?}"
    );
    let r = fx
        .pt
        .read_blob(&fx.repo, &d2, Some(ByteRange::From(10)))
        .await;
    assert!(matches!(r, Err(Error::Upstream(_))), "{r:?}");
    let r = fx.pt.get_manifest(&fx.repo, &tag("v2"), false).await;
    assert!(
        matches!(r, Err(Error::Upstream(UpstreamError::Unavailable(_)))),
        "{r:?}"
    );
}

#[tokio::test]
async fn unreferenced_digest_is_unknown_without_upstream_call() {
    let fx = fixture().await;
    fx.up.add_image(Some("v1"), &[data(10, 1)]);
    fx.pt
        .get_manifest(&fx.repo, &tag("v1"), false)
        .await
        .unwrap();
    let stray = fx.up.add_blob(data(100, 10));
    let r = fx.pt.read_blob(&fx.repo, &stray, None).await;
    assert!(matches!(r, Err(Error::BlobUnknown(_))), "{r:?}");
    let r = fx
        .pt
        .read_blob(&fx.repo, &stray, Some(ByteRange::From(0)))
        .await;
    assert!(matches!(r, Err(Error::BlobUnknown(_))), "{r:?}");
    let r = fx.pt.stat_blob(&fx.repo, &stray).await;
    assert!(matches!(r, Err(Error::BlobUnknown(_))), "{r:?}");
    assert_eq!(FakeUpstream::count(&fx.up.blob_gets), 0);
    assert_eq!(FakeUpstream::count(&fx.up.range_gets), 0);
}

#[tokio::test]
async fn stat_blob_from_descriptor_without_upstream() {
    let fx = fixture().await;
    let layer = data(12_345, 11);
    let ld = Digest::sha256(&layer);
    fx.up.add_image(Some("v1"), std::slice::from_ref(&layer));
    fx.pt
        .get_manifest(&fx.repo, &tag("v1"), false)
        .await
        .unwrap();
    fx.up.set_down(true);
    let stat = fx.pt.stat_blob(&fx.repo, &ld).await.unwrap();
    assert_eq!(stat.size, 12_345);
    assert_eq!(stat.digest, ld);
    assert_eq!(FakeUpstream::count(&fx.up.blob_gets), 0);
    // Manifests are blobs too.
    let m = fx
        .registry
        .get_manifest(&fx.repo, &tag("v1"))
        .await
        .unwrap();
    assert_eq!(
        fx.pt.stat_blob(&fx.repo, &m.digest).await.unwrap().size,
        m.size()
    );
}

// ---------------------------------------------------------------- sync

#[tokio::test]
async fn sync_adds_moves_and_removes_tags_heading_before_getting() {
    let fx = fixture().await;
    let v1 = fx.up.add_image(Some("v1"), &[data(10, 1)]);
    let v2 = fx.up.add_image(Some("v2"), &[data(20, 2)]);
    let a = fx.up.add_image(None, &[data(30, 3)]);
    let idx = fx.up.add_index(Some("multi"), std::slice::from_ref(&a));
    fx.up.set_tag("alias", &v1);

    let r = fx.pt.sync_artifact(&fx.artifact).await.unwrap();
    assert_eq!(
        r.added,
        vec![
            tag_name("alias"),
            tag_name("multi"),
            tag_name("v1"),
            tag_name("v2")
        ]
    );
    assert!(r.updated.is_empty() && r.removed.is_empty() && r.failed.is_empty());
    assert_eq!(r.unchanged, 0);
    assert_eq!(FakeUpstream::count(&fx.up.lists), 2, "paginated");
    // v1 (or alias), v2, multi and its child; the shared digest may be
    // fetched once per tag racing for it.
    let gets = FakeUpstream::count(&fx.up.gets);
    assert!((4..=5).contains(&gets), "{gets}");
    assert_eq!(r.manifests_fetched, gets);
    assert_eq!(
        local_tags(&fx).await,
        vec![
            ("alias".to_string(), v1.clone()),
            ("multi".to_string(), idx.clone()),
            ("v1".to_string(), v1.clone()),
            ("v2".to_string(), v2.clone()),
        ]
    );
    assert!(fx
        .registry
        .get_manifest(&fx.repo, &Reference::Digest(a.clone()))
        .await
        .is_ok());

    // Nothing changed: HEADs only.
    let heads = FakeUpstream::count(&fx.up.heads);
    let r = fx.pt.sync_artifact(&fx.artifact).await.unwrap();
    assert_eq!(r.unchanged, 4);
    assert_eq!(r.manifests_fetched, 0);
    assert_eq!(
        FakeUpstream::count(&fx.up.gets),
        gets,
        "no GET without change"
    );
    assert_eq!(FakeUpstream::count(&fx.up.heads), heads + 4);

    // v1 moves to a new image, alias to v2 (stored already), v2 goes away,
    // v3 appears.
    let v1b = fx.up.add_image(Some("v1"), &[data(40, 4)]);
    fx.up.set_tag("alias", &v2);
    fx.up.remove_tag("v2");
    let v3 = fx.up.add_image(Some("v3"), &[data(50, 5)]);
    let r = fx.pt.sync_artifact(&fx.artifact).await.unwrap();
    assert_eq!(r.added, vec![tag_name("v3")]);
    assert_eq!(r.updated, vec![tag_name("alias"), tag_name("v1")]);
    assert_eq!(r.removed, vec![tag_name("v2")]);
    assert_eq!(r.unchanged, 1);
    assert_eq!(r.manifests_fetched, 2);
    assert_eq!(FakeUpstream::count(&fx.up.gets), gets + 2);
    assert_eq!(
        local_tags(&fx).await,
        vec![
            ("alias".to_string(), v2.clone()),
            ("multi".to_string(), idx),
            ("v1".to_string(), v1b),
            ("v3".to_string(), v3),
        ]
    );
}

#[tokio::test]
async fn sync_failure_removes_nothing() {
    let fx = fixture().await;
    fx.up.add_image(Some("v1"), &[data(10, 1)]);
    fx.pt.sync_artifact(&fx.artifact).await.unwrap();
    fx.up.set_down(true);
    let r = fx.pt.sync_artifact(&fx.artifact).await;
    assert!(matches!(r, Err(Error::Upstream(_))), "{r:?}");
    assert_eq!(local_tags(&fx).await.len(), 1);
}

#[tokio::test]
async fn trigger_sync_joins_a_running_sync_and_records_status() {
    let fx = fixture().await;
    fx.up.add_image(Some("v1"), &[data(10, 1)]);
    let (open, gate) = watch::channel(false);
    *fx.up.list_gate.lock().unwrap() = Some(gate);
    let id = fx.artifact.id;

    let (s1, h1) = fx.pt.trigger_sync(id);
    let (s2, h2) = fx.pt.trigger_sync(id);
    assert_eq!((s1, s2), (SyncStarted::Started, SyncStarted::Joined));
    assert!(fx.pt.is_syncing(id));
    open.send_replace(true);
    let (r1, r2) = (h1.await.unwrap(), h2.wait().await.unwrap());
    assert_eq!(r1, r2);
    assert_eq!(r1.added, vec![tag_name("v1")]);
    assert_eq!(FakeUpstream::count(&fx.up.lists), 1, "one run");
    assert!(!fx.pt.is_syncing(id));
    let ok = fx.access.get_sync_status(id).await.unwrap();
    let synced_at = ok.last_synced_at_ms.expect("success recorded");
    let attempt = ok.last_sync_attempt_at_ms.expect("attempt recorded");
    assert!(synced_at >= attempt);
    assert_eq!(ok.last_sync_error, None);

    // A failure keeps the last success.
    tokio::time::sleep(Duration::from_millis(5)).await;
    fx.up.set_down(true);
    let (s3, h3) = fx.pt.trigger_sync(id);
    assert_eq!(s3, SyncStarted::Started, "the first run ended");
    assert!(h3.await.is_err());
    let failed = fx.access.get_sync_status(id).await.unwrap();
    assert_eq!(failed.last_synced_at_ms, Some(synced_at));
    assert!(failed.last_sync_attempt_at_ms.unwrap() > attempt);
    let message = failed.last_sync_error.expect("error recorded");
    assert_eq!(
        message,
        UpstreamFailure::Unreachable.message(),
        "a fixed category, no peer text"
    );
    assert!(!message.contains(SECRET));

    // Dropping the handle does not stop the sync.
    fx.up.set_down(false);
    fx.up.add_image(Some("v2"), &[data(20, 2)]);
    drop(fx.pt.trigger_sync(id));
    for _ in 0..200 {
        if !fx.pt.is_syncing(id) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(local_tags(&fx).await.len(), 2);
    let ok = fx.access.get_sync_status(id).await.unwrap();
    assert_eq!(ok.last_sync_error, None);
}

#[tokio::test]
async fn sync_all_syncs_every_mirror_despite_failures() {
    let fx = fixture().await;
    fx.up.add_image(Some("v1"), &[data(10, 1)]);
    let broken = Artifact {
        id: ArtifactId::new(),
        org_id: fx.org.id,
        name: "broken".into(),
        upstream: Some(mirror_config("unknown.example.com/x/y", "pw")),
        created_at_ms: 3,
    };
    fx.access.create_artifact(&broken).await.unwrap();
    let report = fx.pt.sync_all().await;
    assert_eq!(report.synced.len(), 1);
    assert_eq!(report.synced[0].0, fx.artifact.id);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].0, broken.id);
    assert!(!report.is_success());
    assert_eq!(local_tags(&fx).await.len(), 1);
    let st = fx.access.get_sync_status(broken.id).await.unwrap();
    assert!(st.last_sync_error.is_some() && st.last_synced_at_ms.is_none());
}

// ---------------------------------------------------------------- access

#[tokio::test]
async fn check_writable_denies_mirrored_repos_only() {
    let fx = fixture().await;
    match fx.pt.check_writable(&fx.repo).await {
        Err(Error::Denied(m)) => assert_eq!(
            m,
            "acme/app mirrors an upstream repository; push to the upstream instead"
        ),
        other => panic!("{other:?}"),
    }
    fx.pt
        .check_writable(&"acme/plain".parse().unwrap())
        .await
        .unwrap();
    fx.pt
        .check_writable(&"acme/new-thing".parse().unwrap())
        .await
        .unwrap();
    fx.pt
        .check_writable(&"other/app".parse().unwrap())
        .await
        .unwrap();
}

#[tokio::test]
async fn client_cache_reconnects_after_upstream_change() {
    let fx = fixture().await;
    let m = fx.pt.upstream_for(&fx.repo).await.unwrap().unwrap();
    assert_eq!(m.artifact.id, fx.artifact.id);
    fx.pt.upstream_for(&fx.repo).await.unwrap().unwrap();
    assert_eq!(fx.conn.connects.load(Ordering::SeqCst), 1);

    let changed = mirror_config(UPSTREAM, "rotated-password");
    fx.access
        .update_artifact_upstream(fx.artifact.id, Some(&changed))
        .await
        .unwrap();
    let m = fx.pt.upstream_for(&fx.repo).await.unwrap().unwrap();
    assert_eq!(m.artifact.upstream.as_ref(), Some(&changed));
    fx.pt.upstream_for(&fx.repo).await.unwrap().unwrap();
    assert_eq!(fx.conn.connects.load(Ordering::SeqCst), 2);

    fx.access
        .update_artifact_upstream(fx.artifact.id, None)
        .await
        .unwrap();
    assert!(fx.pt.upstream_for(&fx.repo).await.unwrap().is_none());
    fx.pt.check_writable(&fx.repo).await.unwrap();
}

#[tokio::test]
async fn lookups_are_cached_within_the_ttl() {
    let fx = fixture().await;
    let access_dyn: Arc<DynAccessStore> = fx.access.clone();
    let pt = PullThrough::new(Arc::clone(&fx.registry), access_dyn, fx.conn.clone())
        .with_lookup_ttl(Duration::from_secs(60));
    assert!(pt.upstream_for(&fx.repo).await.unwrap().is_some());
    fx.access
        .update_artifact_upstream(fx.artifact.id, None)
        .await
        .unwrap();
    assert!(
        pt.upstream_for(&fx.repo).await.unwrap().is_some(),
        "cached lookup"
    );
}

#[tokio::test]
async fn debug_hides_secrets() {
    let fx = fixture().await;
    let m = fx.pt.upstream_for(&fx.repo).await.unwrap().unwrap();
    let s = format!("{:?} {:?} {:#?}", fx.pt, m, m);
    assert!(!s.contains(SECRET), "{s}");
    assert!(s.contains("upstream.example.com"), "{s}");
}

#[tokio::test]
async fn handles_and_futures_are_send() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(t: T) -> T {
        t
    }
    let fx = fixture().await;
    send_sync(&fx.pt);
    let (_, handle) = fx.pt.trigger_sync(fx.artifact.id);
    send_sync(&handle);
    let d = Digest::sha256(b"x");
    let v1 = tag("v1");
    send(fx.pt.get_manifest(&fx.repo, &v1, true)).await.ok();
    send(fx.pt.stat_blob(&fx.repo, &d)).await.ok();
    send(fx.pt.read_blob(&fx.repo, &d, None)).await.ok();
    send(fx.pt.upstream_for(&fx.repo)).await.unwrap();
    send(fx.pt.check_writable(&fx.repo)).await.ok();
    send(fx.pt.sync_artifact(&fx.artifact)).await.unwrap();
    send(fx.pt.sync_all()).await;
    send(handle).await.unwrap();
}

#[tokio::test]
async fn index_nesting_is_bounded() {
    let fx = fixture().await;
    let mut d = fx.up.add_image(None, &[data(10, 1)]);
    for _ in 0..MAX_INDEX_DEPTH {
        d = fx.up.add_index(None, &[d]);
    }
    fx.up.set_tag("ok", &d);
    fx.pt
        .get_manifest(&fx.repo, &tag("ok"), false)
        .await
        .unwrap();
    let deeper = fx.up.add_index(Some("deep"), &[d]);
    let r = fx.pt.get_manifest(&fx.repo, &tag("deep"), false).await;
    assert!(
        r.is_ok(),
        "children already stored are not refetched: {r:?}"
    );
    assert_eq!(r.unwrap().digest, deeper);

    let fresh = fixture().await;
    let mut d = fresh.up.add_image(None, &[data(10, 1)]);
    for _ in 0..=MAX_INDEX_DEPTH {
        d = fresh.up.add_index(None, &[d]);
    }
    fresh.up.set_tag("deep", &d);
    let r = fresh
        .pt
        .get_manifest(&fresh.repo, &tag("deep"), false)
        .await;
    assert!(
        matches!(r, Err(Error::Upstream(UpstreamError::Protocol(_)))),
        "{r:?}"
    );
    assert!(local_tags(&fresh).await.is_empty());
}

// ---------------------------------------------------------------- sync request counts

/// Upstream requests of a first sync and a re-sync of many tags: 50 tags
/// on one image, 10 on one index with 3 children, 10 on images of their own.
#[tokio::test]
async fn sync_request_counts_first_sync_gets_resync_heads() {
    let fx = fixture().await;
    let shared = fx.up.add_image(None, &[data(10, 1)]);
    for i in 0..50 {
        fx.up.set_tag(&format!("shared-{i:02}"), &shared);
    }
    let children: Vec<Digest> = (0..3u8)
        .map(|i| fx.up.add_image(None, &[data(20, 10 + i)]))
        .collect();
    let idx = fx.up.add_index(None, &children);
    for i in 0..10 {
        fx.up.set_tag(&format!("multi-{i}"), &idx);
    }
    for i in 0..10u8 {
        fx.up
            .add_image(Some(&format!("own-{i}")), &[data(30, 20 + i)]);
    }
    let tags = 70;
    let pages = tags / fx.up.page_size;

    let r = fx.pt.sync_artifact(&fx.artifact).await.unwrap();
    let (lists, heads, gets) = (
        FakeUpstream::count(&fx.up.lists),
        FakeUpstream::count(&fx.up.heads),
        FakeUpstream::count(&fx.up.gets),
    );
    eprintln!("first sync: {lists} tag-list pages, {heads} HEADs, {gets} GETs");
    assert_eq!(r.added.len(), tags);
    assert!(r.is_complete(), "{:?}", r.failed);
    assert_eq!(lists, pages);
    // Tags distr did not know are fetched by tag at once (no HEAD first);
    // the index's children once, however many tags point at it.
    assert_eq!(heads, 0, "no HEAD for new tags");
    assert_eq!(gets, tags + children.len());
    assert_eq!(r.manifests_fetched, gets);
    assert_eq!(local_tags(&fx).await.len(), tags);
    for c in &children {
        assert!(fx
            .registry
            .get_manifest(&fx.repo, &Reference::Digest(c.clone()))
            .await
            .is_ok());
    }

    // Nothing changed: one HEAD per tag, no GET.
    let r = fx.pt.sync_artifact(&fx.artifact).await.unwrap();
    let heads2 = FakeUpstream::count(&fx.up.heads) - heads;
    let gets2 = FakeUpstream::count(&fx.up.gets) - gets;
    eprintln!("re-sync: {heads2} HEADs, {gets2} GETs");
    assert_eq!(r.unchanged, tags);
    assert_eq!((heads2, gets2), (tags, 0));

    // All 50 shared tags move to one new image: it is fetched once.
    let moved = fx.up.add_image(None, &[data(40, 40)]);
    for i in 0..50 {
        fx.up.set_tag(&format!("shared-{i:02}"), &moved);
    }
    let gets_before = FakeUpstream::count(&fx.up.gets);
    let r = fx.pt.sync_artifact(&fx.artifact).await.unwrap();
    let gets3 = FakeUpstream::count(&fx.up.gets) - gets_before;
    eprintln!("after moving 50 tags to one new image: {gets3} GETs");
    assert_eq!(r.updated.len(), 50);
    assert_eq!(r.unchanged, tags - 50);
    assert_eq!(gets3, 1, "the new digest is fetched once");
    assert_eq!(r.manifests_fetched, 1);
    let local = local_tags(&fx).await;
    assert_eq!(local.iter().filter(|(_, d)| *d == moved).count(), 50);
}
