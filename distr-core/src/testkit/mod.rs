//! Store conformance suites: [`MetadataStore`] in [`metadata`] (re-exported
//! here), [`crate::access::AccessStore`] in [`access`], and the analytics,
//! run-claim and garbage-collection stores in their modules.
//!
//! Written once, run against every backend: a backend's tests call
//! [`run_all`] (or each case) with a fresh store, [`run_concurrent`] with the
//! views of one, and [`Sample`] around reopening it. Enabled for other crates
//! by the `testkit` feature.

pub mod access;
pub mod analytics;
pub mod claims;
pub mod gc;
pub mod metadata;

pub use metadata::*;

use bytes::Bytes;
use std::collections::BTreeMap;

use crate::digest::Digest;
use crate::name::RepoName;
use crate::reference::TagName;
use crate::store::ManifestRecord;

/// A repository name of a test.
pub(crate) fn repo(s: &str) -> RepoName {
    s.parse().expect("test repository name")
}

/// A tag of a test.
pub(crate) fn tag(s: &str) -> TagName {
    s.parse().expect("test tag")
}

/// A manifest record with distinct content derived from `seed`.
pub fn manifest(seed: &str, subject: Option<&Digest>) -> ManifestRecord {
    let content = Bytes::from(format!("{{\"schemaVersion\":2,\"seed\":\"{seed}\"}}"));
    let mut annotations = BTreeMap::new();
    annotations.insert("org.example.seed".to_owned(), seed.to_owned());
    ManifestRecord {
        digest: Digest::sha256(&content),
        media_type: crate::manifest::OCI_MANIFEST.to_owned(),
        content,
        subject: subject.cloned(),
        artifact_type: Some("application/vnd.example.sig".to_owned()),
        annotations,
        blobs: vec![Digest::sha256(seed.as_bytes())],
        children: vec![Digest::sha256(format!("child-{seed}").as_bytes())],
        created_at_ms: 1_700_000_000_000,
    }
}
