//! Registry behaviour on the in-memory backends.

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};

use super::*;
use crate::blob::{once, ByteStream};
use crate::digest::{Algorithm, Digest};
use crate::error::Error;
use crate::manifest::{OCI_INDEX, OCI_MANIFEST};
use crate::range::ByteRange;
use crate::reference::Reference;
use crate::RepoName;

fn repo(s: &str) -> RepoName {
    s.parse().unwrap()
}

fn tag(s: &str) -> Reference {
    Reference::Tag(s.parse().unwrap())
}

async fn read_all(s: ByteStream) -> Vec<u8> {
    let chunks: Vec<Bytes> = s.try_collect().await.unwrap();
    chunks.concat()
}

async fn push_blob(reg: &Registry, r: &RepoName, data: &[u8]) -> Digest {
    let d = Digest::sha256(data);
    reg.upload_monolithic(
        r,
        &d,
        Some(data.len() as u64),
        once(Bytes::copy_from_slice(data)),
    )
    .await
    .unwrap();
    d
}

fn image_manifest(config: &Digest, layers: &[&Digest], subject: Option<&Digest>) -> Bytes {
    let layers: Vec<String> = layers
        .iter()
        .map(|d| format!(r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{d}","size":1}}"#))
        .collect();
    let subject = subject
        .map(|s| format!(r#","subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{s}","size":1}}"#))
        .unwrap_or_default();
    Bytes::from(format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.example.config+json","digest":"{config}","size":1}},"layers":[{}]{subject}}}"#,
        layers.join(",")
    ))
}

#[tokio::test]
async fn monolithic_upload_and_ranged_reads() {
    let reg = Registry::in_memory();
    let r = repo("acme/app");
    let d = push_blob(&reg, &r, b"0123456789").await;
    assert_eq!(reg.stat_blob(&r, &d).await.unwrap().size, 10);
    let read = reg
        .read_blob(&r, &d, Some(ByteRange::FromTo(2, 4)))
        .await
        .unwrap();
    assert_eq!((read.size, read.range.clone()), (10, Some(2..5)));
    assert_eq!(read_all(read.body).await, b"234");
    assert!(matches!(
        reg.read_blob(&r, &d, Some(ByteRange::From(10))).await,
        Err(Error::RangeNotSatisfiable { size: 10 })
    ));
    // Blobs are per repository.
    assert!(matches!(
        reg.stat_blob(&repo("acme/other"), &d).await,
        Err(Error::BlobUnknown(_))
    ));
    // A wrong digest stores nothing.
    let wrong = Digest::sha256(b"something else");
    assert!(matches!(
        reg.upload_monolithic(&r, &wrong, None, once(Bytes::from_static(b"x")))
            .await,
        Err(Error::DigestInvalid(_))
    ));
    assert!(matches!(
        reg.stat_blob(&r, &wrong).await,
        Err(Error::BlobUnknown(_))
    ));
    reg.delete_blob(&r, &d).await.unwrap();
    assert!(matches!(
        reg.delete_blob(&r, &d).await,
        Err(Error::BlobUnknown(_))
    ));
}

#[tokio::test]
async fn chunked_upload_in_order_out_of_order_and_wrong_digest() {
    let reg = Registry::in_memory();
    let r = repo("acme/app");
    let up = reg.start_upload(&r).await.unwrap();
    reg.append_chunk(&r, &up.id, Some(0..3), once(Bytes::from_static(b"abc")))
        .await
        .unwrap();
    let out_of_order = reg
        .append_chunk(&r, &up.id, Some(10..13), once(Bytes::from_static(b"xyz")))
        .await;
    assert!(matches!(
        out_of_order,
        Err(Error::ChunkOutOfOrder { current_size: 3 })
    ));
    let short = reg
        .append_chunk(&r, &up.id, Some(3..9), once(Bytes::from_static(b"de")))
        .await;
    assert!(matches!(short, Err(Error::BlobUploadInvalid(_))));
    let status = reg
        .append_chunk(&r, &up.id, None, once(Bytes::from_static(b"def")))
        .await
        .unwrap();
    assert_eq!(status.size(), 6);
    let wrong = Digest::sha256(b"abcdefX");
    let bad = reg
        .finish_upload(
            &r,
            &up.id,
            &wrong,
            None,
            Some(once(Bytes::from_static(b"g"))),
        )
        .await;
    assert!(matches!(bad, Err(Error::DigestInvalid(_))));
    assert!(matches!(
        reg.stat_blob(&r, &wrong).await,
        Err(Error::BlobUnknown(_))
    ));
    // The session survives a rejected finish.
    assert_eq!(reg.upload_status(&r, &up.id).await.unwrap().size(), 6);
    let d = Digest::sha256(b"abcdefg");
    reg.finish_upload(
        &r,
        &up.id,
        &d,
        Some(6..7),
        Some(once(Bytes::from_static(b"g"))),
    )
    .await
    .unwrap();
    assert_eq!(
        read_all(reg.read_blob(&r, &d, None).await.unwrap().body).await,
        b"abcdefg"
    );
    assert!(matches!(
        reg.upload_status(&r, &up.id).await,
        Err(Error::BlobUploadUnknown)
    ));
    // No chunk is left behind.
    let leftovers: Vec<_> = reg
        .blobs()
        .object_store()
        .list(Some(&"uploads".into()))
        .collect()
        .await;
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn sha512_and_cancel_and_sessions_are_per_repo() {
    let reg = Registry::in_memory();
    let r = repo("acme/app");
    let up = reg.start_upload(&r).await.unwrap();
    assert!(matches!(
        reg.upload_status(&repo("acme/other"), &up.id).await,
        Err(Error::BlobUploadUnknown)
    ));
    reg.append_chunk(&r, &up.id, None, once(Bytes::from_static(b"512")))
        .await
        .unwrap();
    let d = Digest::of(Algorithm::Sha512, b"512");
    reg.finish_upload(&r, &up.id, &d, None, None).await.unwrap();
    assert_eq!(reg.stat_blob(&r, &d).await.unwrap().size, 3);
    let up = reg.start_upload(&r).await.unwrap();
    reg.append_chunk(&r, &up.id, None, once(Bytes::from_static(b"zzz")))
        .await
        .unwrap();
    reg.cancel_upload(&r, &up.id).await.unwrap();
    assert!(matches!(
        reg.cancel_upload(&r, &up.id).await,
        Err(Error::BlobUploadUnknown)
    ));
}

#[tokio::test]
async fn mount_links_only_blobs_the_source_holds() {
    let reg = Registry::in_memory();
    let (a, b) = (repo("acme/a"), repo("acme/b"));
    let d = push_blob(&reg, &a, b"shared").await;
    assert!(reg.mount_blob(&b, &d, &a).await.unwrap().is_some());
    assert_eq!(reg.stat_blob(&b, &d).await.unwrap().size, 6);
    assert!(reg
        .mount_blob(&repo("acme/c"), &Digest::sha256(b"nope"), &a)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn manifests_validate_references_and_resolve() {
    let reg = Registry::in_memory();
    let r = repo("acme/app");
    let config = push_blob(&reg, &r, b"{}").await;
    let layer = Digest::sha256(b"layer");
    let m = image_manifest(&config, &[&layer], None);
    let missing = reg
        .put_manifest(&r, &tag("1.0"), Some(OCI_MANIFEST), m.clone())
        .await;
    assert!(matches!(missing, Err(Error::ManifestBlobUnknown(d)) if d == layer));
    push_blob(&reg, &r, b"layer").await;
    let pushed = reg
        .put_manifest(&r, &tag("1.0"), Some(OCI_MANIFEST), m.clone())
        .await
        .unwrap();
    assert_eq!(pushed.digest, Digest::sha256(&m));
    let got = reg.get_manifest(&r, &tag("1.0")).await.unwrap();
    assert_eq!(
        (got.content.clone(), got.media_type.as_str()),
        (m.clone(), OCI_MANIFEST)
    );
    assert_eq!(
        reg.get_manifest(&r, &Reference::Digest(pushed.digest.clone()))
            .await
            .unwrap(),
        got
    );
    // Manifests are readable through the blob endpoint too.
    assert_eq!(
        read_all(reg.read_blob(&r, &pushed.digest, None).await.unwrap().body).await,
        m.to_vec()
    );
    // Push by digest checks the content.
    let wrong = Reference::Digest(Digest::sha256(b"other"));
    assert!(matches!(
        reg.put_manifest(&r, &wrong, None, m.clone()).await,
        Err(Error::DigestInvalid(_))
    ));
    let by512 = Reference::Digest(Digest::of(Algorithm::Sha512, &m));
    assert_eq!(
        reg.put_manifest(&r, &by512, None, m.clone())
            .await
            .unwrap()
            .digest
            .algorithm(),
        Algorithm::Sha512
    );
    // Unknown things.
    assert!(matches!(
        reg.get_manifest(&r, &tag("2.0")).await,
        Err(Error::ManifestUnknown(_))
    ));
    assert!(matches!(
        reg.get_manifest(&repo("acme/none"), &tag("1.0")).await,
        Err(Error::NameUnknown)
    ));
    assert!(matches!(
        reg.list_tags(&repo("acme/none"), None, None).await,
        Err(Error::NameUnknown)
    ));
}

#[tokio::test]
async fn index_children_must_exist_and_deletes_follow_the_spec() {
    let reg = Registry::in_memory();
    let r = repo("acme/app");
    let config = push_blob(&reg, &r, b"{}").await;
    let child = image_manifest(&config, &[], None);
    let child_digest = Digest::sha256(&child);
    let index = Bytes::from(format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{child_digest}","size":{}}}]}}"#,
        child.len()
    ));
    assert!(matches!(
        reg.put_manifest(&r, &tag("multi"), Some(OCI_INDEX), index.clone())
            .await,
        Err(Error::ManifestBlobUnknown(_))
    ));
    reg.put_manifest(
        &r,
        &Reference::Digest(child_digest.clone()),
        Some(OCI_MANIFEST),
        child,
    )
    .await
    .unwrap();
    let idx = reg
        .put_manifest(&r, &tag("multi"), Some(OCI_INDEX), index)
        .await
        .unwrap();
    reg.put_manifest(
        &r,
        &tag("also"),
        None,
        reg.get_manifest(&r, &tag("multi")).await.unwrap().content,
    )
    .await
    .unwrap();
    // Deleting a tag keeps the manifest.
    reg.delete_manifest(&r, &tag("multi")).await.unwrap();
    assert!(matches!(
        reg.get_manifest(&r, &tag("multi")).await,
        Err(Error::ManifestUnknown(_))
    ));
    assert!(reg
        .get_manifest(&r, &Reference::Digest(idx.digest.clone()))
        .await
        .is_ok());
    assert!(matches!(
        reg.delete_manifest(&r, &tag("multi")).await,
        Err(Error::ManifestUnknown(_))
    ));
    // Deleting by digest removes the remaining tags.
    reg.delete_manifest(&r, &Reference::Digest(idx.digest.clone()))
        .await
        .unwrap();
    assert!(matches!(
        reg.get_manifest(&r, &tag("also")).await,
        Err(Error::ManifestUnknown(_))
    ));
}

#[tokio::test]
async fn oversized_and_malformed_manifests_are_rejected() {
    let reg = Registry::new(
        std::sync::Arc::new(crate::store::MemoryStore::new()),
        crate::BlobStore::in_memory(),
        RegistryConfig::default().with_max_manifest_size(64),
    );
    let r = repo("acme/app");
    let big = Bytes::from(vec![b' '; 65]);
    assert!(matches!(
        reg.put_manifest(&r, &tag("x"), None, big).await,
        Err(Error::ManifestTooLarge {
            size: 65,
            limit: 64
        })
    ));
    assert!(matches!(
        reg.put_manifest(&r, &tag("x"), None, Bytes::from_static(b"{"))
            .await,
        Err(Error::ManifestInvalid(_))
    ));
    assert!(matches!(reg.catalog(None, None).await, Ok(l) if l.items.is_empty()));
}

#[tokio::test]
async fn referrers_filter_and_pagination() {
    let reg = Registry::in_memory();
    let r = repo("acme/app");
    let config = push_blob(&reg, &r, b"{}").await;
    let subject = reg
        .put_manifest(&r, &tag("v1"), None, image_manifest(&config, &[], None))
        .await
        .unwrap()
        .digest;
    for i in 0..3 {
        let layer = push_blob(&reg, &r, format!("sig{i}").as_bytes()).await;
        let pushed = reg
            .put_manifest(
                &r,
                &tag(&format!("sig{i}")),
                None,
                image_manifest(&config, &[&layer], Some(&subject)),
            )
            .await
            .unwrap();
        assert_eq!(pushed.subject.as_ref(), Some(&subject));
    }
    let all: serde_json::Value =
        serde_json::from_slice(&reg.referrers(&r, &subject, None).await.unwrap()).unwrap();
    assert_eq!(all["mediaType"], OCI_INDEX);
    assert_eq!(all["manifests"].as_array().unwrap().len(), 3);
    assert_eq!(
        all["manifests"][0]["artifactType"],
        "application/vnd.example.config+json"
    );
    let none: serde_json::Value = serde_json::from_slice(
        &reg.referrers(&r, &subject, Some("application/other"))
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(none["manifests"].as_array().is_none_or(|m| m.is_empty()));
    let page = reg.list_tags(&r, None, Some(2)).await.unwrap();
    assert_eq!((page.items.len(), page.more), (2, true));
    let rest = reg
        .list_tags(&r, Some(page.items[1].to_string()), Some(2))
        .await
        .unwrap();
    assert_eq!((rest.items.len(), rest.more), (2, false));
    assert_eq!(
        reg.list_tags(&r, None, Some(0)).await.unwrap().items.len(),
        0
    );
}

#[tokio::test]
async fn tag_parameters_point_every_tag_at_a_push_by_digest() {
    let reg = Registry::in_memory();
    let r = repo("acme/app");
    let config = push_blob(&reg, &r, b"{}").await;
    let m = image_manifest(&config, &[], None);
    let by512 = Reference::Digest(Digest::of(Algorithm::Sha512, &m));
    let tags: Vec<crate::TagName> = ["a", "b", "a"].iter().map(|t| t.parse().unwrap()).collect();
    let pushed = reg
        .put_manifest_tagged(&r, &by512, Some(OCI_MANIFEST), m.clone(), &tags)
        .await
        .unwrap();
    // Each tag once, in request order.
    assert_eq!(pushed.tags, tags[..2]);
    for t in ["a", "b"] {
        let got = reg.get_manifest(&r, &tag(t)).await.unwrap();
        assert_eq!(
            (got.digest, got.content),
            (pushed.digest.clone(), m.clone())
        );
    }
    // A plain push reports no tags; tag parameters on a push by tag, or on
    // content that fails its checks, store nothing.
    assert!(reg
        .put_manifest(&r, &tag("c"), Some(OCI_MANIFEST), m.clone())
        .await
        .unwrap()
        .tags
        .is_empty());
    assert!(matches!(
        reg.put_manifest_tagged(&r, &tag("d"), Some(OCI_MANIFEST), m.clone(), &tags)
            .await,
        Err(Error::TagInvalid(_))
    ));
    let wrong = Reference::Digest(Digest::sha256(b"other"));
    let e: Vec<crate::TagName> = vec!["e".parse().unwrap()];
    assert!(matches!(
        reg.put_manifest_tagged(&r, &wrong, Some(OCI_MANIFEST), m.clone(), &e)
            .await,
        Err(Error::DigestInvalid(_))
    ));
    for t in ["d", "e"] {
        assert!(matches!(
            reg.get_manifest(&r, &tag(t)).await,
            Err(Error::ManifestUnknown(_))
        ));
    }
}
