//! The [`Upstream`] implementation: tags, manifests and blobs over the
//! authenticated transport.

use std::ops::Range;

use async_trait::async_trait;
use distr_core::upstream::{
    ManifestHead, Missing, TagPage, Upstream, UpstreamBlob, UpstreamError, UpstreamManifest,
    UpstreamRef, UpstreamResult,
};
use distr_core::{Digest, Reference, TagName};
use http::header::{CONTENT_RANGE, LINK, RANGE};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use hyper_util::client::legacy::connect::Connect;

use super::response::{
    announced_digest, content_length, header_str, media_type, parse_content_range, read_body,
    status_error,
};
use super::stream::slice_stream;
use super::{OciUpstream, MAX_MANIFEST_BYTES};
use crate::link::{next_last, percent_encode};

#[async_trait]
impl<C> Upstream for OciUpstream<C>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    fn target(&self) -> &UpstreamRef {
        &self.target
    }

    async fn list_tags(&self, last: Option<&str>, n: Option<u32>) -> UpstreamResult<TagPage> {
        let mut query = Vec::new();
        if let Some(n) = n {
            query.push(format!("n={n}"));
        }
        if let Some(last) = last {
            query.push(format!("last={}", percent_encode(last)));
        }
        let suffix = if query.is_empty() {
            "/tags/list".to_owned()
        } else {
            format!("/tags/list?{}", query.join("&"))
        };
        let resp = self.send(Method::GET, &suffix, HeaderMap::new()).await?;
        if resp.status() != StatusCode::OK {
            return Err(status_error(resp, Missing::Repository).await);
        }
        let next = header_str(resp.headers(), LINK).and_then(next_last);
        let body = read_body(self.body(resp), MAX_MANIFEST_BYTES)
            .await?
            .ok_or_else(|| UpstreamError::Protocol("tag list too large".into()))?;
        #[derive(serde::Deserialize)]
        struct Tags {
            tags: Option<Vec<String>>,
        }
        let parsed: Tags = serde_json::from_slice(&body)
            .map_err(|e| UpstreamError::Protocol(format!("tag list is not JSON: {e}")))?;
        let tags = parsed
            .tags
            .unwrap_or_default()
            .into_iter()
            .map(|t| {
                t.parse::<TagName>()
                    .map_err(|_| UpstreamError::Protocol(format!("invalid tag {t:?} in tag list")))
            })
            .collect::<UpstreamResult<Vec<_>>>()?;
        // A next link without `last` continues after this page's last tag.
        let next = next.map(|n| match (n.is_empty(), tags.last()) {
            (true, Some(t)) => t.as_str().to_owned(),
            _ => n,
        });
        Ok(TagPage { tags, next })
    }

    async fn head_manifest(&self, reference: &Reference) -> UpstreamResult<Option<ManifestHead>> {
        let suffix = format!("/manifests/{reference}");
        let resp = self
            .send(Method::HEAD, &suffix, Self::manifest_headers())
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if resp.status() != StatusCode::OK {
            return Err(status_error(resp, Missing::Manifest(reference.to_string())).await);
        }
        let headers = resp.headers();
        let digest = match (announced_digest(headers)?, reference) {
            (Some(d), Reference::Digest(asked)) if d != *asked => {
                return Err(UpstreamError::DigestMismatch {
                    expected: asked.clone(),
                    actual: d,
                });
            }
            (Some(d), _) => Some(d),
            (None, Reference::Digest(asked)) => Some(asked.clone()),
            (None, Reference::Tag(_)) => None,
        };
        let media_type = media_type(headers);
        let size = content_length(headers);
        match (digest, media_type, size) {
            (Some(digest), Some(media_type), Some(size)) => Ok(Some(ManifestHead {
                digest,
                media_type,
                size,
            })),
            // Not enough headers: fetch and compute.
            _ => match self.get_manifest(reference).await {
                Ok(m) => Ok(Some(ManifestHead {
                    size: m.content.len() as u64,
                    digest: m.digest,
                    media_type: m.media_type,
                })),
                Err(UpstreamError::NotFound(Missing::Manifest(_))) => Ok(None),
                Err(e) => Err(e),
            },
        }
    }

    async fn get_manifest(&self, reference: &Reference) -> UpstreamResult<UpstreamManifest> {
        let suffix = format!("/manifests/{reference}");
        let resp = self
            .send(Method::GET, &suffix, Self::manifest_headers())
            .await?;
        if resp.status() != StatusCode::OK {
            return Err(status_error(resp, Missing::Manifest(reference.to_string())).await);
        }
        let headers = resp.headers().clone();
        if content_length(&headers).is_some_and(|n| n > MAX_MANIFEST_BYTES) {
            return Err(UpstreamError::Protocol(format!(
                "manifest larger than {MAX_MANIFEST_BYTES} bytes"
            )));
        }
        let content = read_body(self.body(resp), MAX_MANIFEST_BYTES)
            .await?
            .ok_or_else(|| {
                UpstreamError::Protocol(format!("manifest larger than {MAX_MANIFEST_BYTES} bytes"))
            })?;
        let expected = match reference {
            Reference::Digest(d) => Some(d.clone()),
            Reference::Tag(_) => announced_digest(&headers)?,
        };
        let digest = match expected {
            Some(expected) => {
                let actual = Digest::of(expected.algorithm(), &content);
                if actual != expected {
                    return Err(UpstreamError::DigestMismatch { expected, actual });
                }
                actual
            }
            None => Digest::sha256(&content),
        };
        let media_type = match media_type(&headers) {
            Some(mt) => mt,
            None => {
                #[derive(serde::Deserialize)]
                struct Mt {
                    #[serde(rename = "mediaType")]
                    media_type: Option<String>,
                }
                serde_json::from_slice::<Mt>(&content)
                    .ok()
                    .and_then(|m| m.media_type)
                    .ok_or_else(|| {
                        UpstreamError::Protocol("manifest without a media type".into())
                    })?
            }
        };
        Ok(UpstreamManifest {
            digest,
            media_type,
            content,
        })
    }

    async fn get_blob(
        &self,
        digest: &Digest,
        range: Option<Range<u64>>,
    ) -> UpstreamResult<UpstreamBlob> {
        let mut headers = HeaderMap::new();
        if let Some(r) = &range {
            if r.start >= r.end {
                return Err(UpstreamError::RangeNotSatisfiable { size: None });
            }
            let v = HeaderValue::from_str(&format!("bytes={}-{}", r.start, r.end - 1))
                .map_err(|e| UpstreamError::Protocol(e.to_string()))?;
            headers.insert(RANGE, v);
        }
        let resp = self
            .send(Method::GET, &format!("/blobs/{digest}"), headers)
            .await?;
        let status = resp.status();
        match (&range, status) {
            (None, StatusCode::OK) => {
                let size = content_length(resp.headers());
                let body = self.body(resp);
                Ok(UpstreamBlob {
                    size,
                    total_size: size,
                    body,
                })
            }
            (Some(r), StatusCode::PARTIAL_CONTENT) => {
                let (first, last, total) = header_str(resp.headers(), CONTENT_RANGE)
                    .and_then(parse_content_range)
                    .ok_or_else(|| {
                        UpstreamError::Protocol("206 without a valid Content-Range".into())
                    })?;
                let wanted_last = match total {
                    Some(t) => (r.end - 1).min(t.saturating_sub(1)),
                    None => r.end - 1,
                };
                if first != r.start || last != wanted_last {
                    return Err(UpstreamError::Protocol(format!(
                        "asked for bytes {}-{}, got {first}-{last}",
                        r.start,
                        r.end - 1
                    )));
                }
                Ok(UpstreamBlob {
                    size: Some(last - first + 1),
                    total_size: total,
                    body: self.body(resp),
                })
            }
            // The upstream ignored `Range`: cut the range out of the whole blob.
            (Some(r), StatusCode::OK) => {
                let total = content_length(resp.headers());
                if total.is_some_and(|t| r.start >= t) {
                    return Err(UpstreamError::RangeNotSatisfiable { size: total });
                }
                let end = total.map_or(r.end, |t| r.end.min(t));
                Ok(UpstreamBlob {
                    size: total.map(|_| end - r.start),
                    total_size: total,
                    body: slice_stream(self.body(resp), r.start..end),
                })
            }
            _ => Err(status_error(resp, Missing::Blob(digest.clone())).await),
        }
    }

    async fn check_access(&self) -> UpstreamResult<()> {
        self.list_tags(None, Some(1)).await.map(|_| ())
    }
}
