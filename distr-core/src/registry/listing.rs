//! Tag lists, the catalog, and the referrers API.

use std::collections::HashMap;
use std::str::FromStr;

use bytes::Bytes;
use oci_spec::image::{Descriptor, ImageIndex, MediaType};

use super::Registry;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::OCI_INDEX;
use crate::name::RepoName;
use crate::reference::TagName;
use crate::store::{ManifestRecord, Page};

/// One page of a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing<T> {
    /// The items, in lexical order.
    pub items: Vec<T>,
    /// True when more items follow the last one.
    pub more: bool,
}

impl<T: std::fmt::Display> Listing<T> {
    /// One page of lexically sorted `items`: those after `last`, at most `limit`.
    pub fn paginate(items: Vec<T>, last: Option<&str>, limit: usize) -> Self {
        let mut items: Vec<T> = items
            .into_iter()
            .filter(|i| last.is_none_or(|l| i.to_string().as_str() > l))
            .collect();
        let more = items.len() > limit;
        items.truncate(limit);
        Listing { items, more }
    }
}

impl Registry {
    /// The page size used for a request asking for `n` items.
    pub fn page_limit(&self, n: Option<usize>) -> usize {
        n.unwrap_or(self.config.max_page_size)
            .min(self.config.max_page_size)
    }

    fn page(&self, last: Option<String>, n: Option<usize>) -> Page {
        let limit = n
            .unwrap_or(self.config.max_page_size)
            .min(self.config.max_page_size);
        Page {
            last,
            limit: Some(limit.saturating_add(1)),
        }
    }

    /// `repo`'s tags after `last`, at most `n` (capped by the configured page size).
    pub async fn list_tags(
        &self,
        repo: &RepoName,
        last: Option<String>,
        n: Option<usize>,
    ) -> Result<Listing<TagName>> {
        let page = self.page(last, n);
        let mut items = self.store.list_tags(repo, &page).await?;
        if items.is_empty() && !self.store.repository_exists(repo).await? {
            return Err(Error::NameUnknown);
        }
        Ok(trim(&mut items, &page))
    }

    /// Repositories after `last`, at most `n`.
    pub async fn catalog(
        &self,
        last: Option<String>,
        n: Option<usize>,
    ) -> Result<Listing<RepoName>> {
        let page = self.page(last, n);
        let mut items = self.store.list_repositories(&page).await?;
        Ok(trim(&mut items, &page))
    }

    /// The referrers of `subject` in `repo` as an OCI image index, filtered to
    /// `artifact_type` when given.
    pub async fn referrers(
        &self,
        repo: &RepoName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Bytes> {
        let descriptors = self
            .store
            .list_referrers(repo, subject)
            .await?
            .into_iter()
            .filter(|m| artifact_type.is_none() || m.artifact_type.as_deref() == artifact_type)
            .map(|m| descriptor_of(&m))
            .collect::<Result<Vec<_>>>()?;
        let mut index = ImageIndex::default();
        index.set_media_type(Some(MediaType::from(OCI_INDEX)));
        index.set_manifests(descriptors);
        let json = serde_json::to_vec(&index).map_err(|e| {
            Error::Store(crate::StoreError::Corrupt(format!("referrers index: {e}")))
        })?;
        Ok(Bytes::from(json))
    }
}

fn trim<T>(items: &mut Vec<T>, page: &Page) -> Listing<T> {
    let wanted = page.limit.unwrap_or(usize::MAX).saturating_sub(1);
    let more = items.len() > wanted;
    items.truncate(wanted);
    Listing {
        items: std::mem::take(items),
        more,
    }
}

fn descriptor_of(m: &ManifestRecord) -> Result<Descriptor> {
    let digest = oci_spec::image::Digest::from_str(&m.digest.to_string()).map_err(|e| {
        Error::Store(crate::StoreError::Corrupt(format!(
            "digest {}: {e}",
            m.digest
        )))
    })?;
    let mut d = Descriptor::new(MediaType::from(m.media_type.as_str()), m.size(), digest);
    d.set_artifact_type(m.artifact_type.as_deref().map(MediaType::from));
    if !m.annotations.is_empty() {
        d.set_annotations(Some(
            m.annotations
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<HashMap<_, _>>(),
        ));
    }
    Ok(d)
}
