//! Manifest parsing: media types, validation, and the references a manifest
//! makes (config, layers, child manifests, subject).
//!
//! Manifests are stored byte-for-byte; parsing only extracts what the
//! registry needs to validate a push and to answer referrers queries.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::digest::Digest;
use crate::error::Error;

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Helm chart config media type (an artifact manifest's config).
pub const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";

/// Media types of manifests this registry stores.
pub const SUPPORTED_MEDIA_TYPES: [&str; 4] = [
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
];

/// Whether a manifest is a single image/artifact or an index of manifests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManifestKind {
    /// An image (or artifact) manifest with config and layers.
    Image,
    /// An index (manifest list) of other manifests.
    Index,
}

/// A descriptor referenced by a manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// Digest of the referenced content.
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
    /// True for layers that are not distributed through registries (foreign layers).
    pub non_distributable: bool,
}

/// What the registry needs to know about a pushed manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedManifest {
    /// The effective media type.
    pub media_type: String,
    /// Image or index.
    pub kind: ManifestKind,
    /// Config blob (images only).
    pub config: Option<Descriptor>,
    /// Layer blobs (images only).
    pub layers: Vec<Descriptor>,
    /// Child manifests (indexes only).
    pub manifests: Vec<Descriptor>,
    /// The manifest this one refers to (signatures, SBOMs, ...).
    pub subject: Option<Digest>,
    /// The artifact type, as the referrers API reports it: `artifactType`, or
    /// for images without one, the config's media type.
    pub artifact_type: Option<String>,
    /// Top-level annotations.
    pub annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: Option<serde_json::Value>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<RawDescriptor>,
    layers: Option<Vec<RawDescriptor>>,
    manifests: Option<Vec<RawDescriptor>>,
    subject: Option<RawDescriptor>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    media_type: Option<String>,
    digest: String,
    size: i64,
}

impl RawDescriptor {
    fn parse(self, what: &str) -> Result<Descriptor, Error> {
        let digest: Digest = self
            .digest
            .parse()
            .map_err(|e| Error::ManifestInvalid(format!("{what}: {e}")))?;
        let size = u64::try_from(self.size)
            .map_err(|_| Error::ManifestInvalid(format!("{what}: negative size")))?;
        let media_type = self.media_type.unwrap_or_default();
        check_type(what, &media_type)?;
        let non_distributable =
            media_type.contains("nondistributable") || media_type.contains(".foreign.");
        Ok(Descriptor {
            media_type,
            digest,
            size,
            non_distributable,
        })
    }
}

/// Strips parameters (`; charset=…`) from a content type and ignores generic
/// JSON types that say nothing about the manifest kind.
pub fn normalize_content_type(ct: &str) -> Option<&str> {
    let base = ct.split(';').next().unwrap_or("").trim();
    match base {
        "" | "application/json" | "application/octet-stream" | "text/plain" => None,
        other => Some(other),
    }
}

/// Rejects control characters in a media or artifact type: they are never
/// valid there and some stores cannot hold them (NUL in Postgres TEXT).
fn check_type(field: &str, value: &str) -> Result<(), Error> {
    if value.chars().any(char::is_control) {
        return Err(Error::ManifestInvalid(format!(
            "{field} contains control characters"
        )));
    }
    Ok(())
}

/// Parses and validates manifest bytes pushed with `content_type`.
pub fn parse_manifest(bytes: &[u8], content_type: Option<&str>) -> Result<ParsedManifest, Error> {
    let raw: RawManifest = serde_json::from_slice(bytes)
        .map_err(|e| Error::ManifestInvalid(format!("not a valid manifest JSON document: {e}")))?;
    match raw.schema_version.as_ref().and_then(|v| v.as_i64()) {
        Some(2) => {}
        Some(1) => {
            return Err(Error::ManifestInvalid(
                "Docker schema 1 manifests are not supported".into(),
            ))
        }
        _ => return Err(Error::ManifestInvalid("schemaVersion must be 2".into())),
    }
    let declared = content_type.and_then(normalize_content_type);
    let media_type = match (declared, raw.media_type.as_deref()) {
        (Some(h), Some(b)) if h != b => {
            return Err(Error::ManifestInvalid(format!(
                "Content-Type {h:?} does not match the manifest's mediaType {b:?}"
            )))
        }
        (Some(h), _) => h.to_owned(),
        (None, Some(b)) => b.to_owned(),
        (None, None) if raw.manifests.is_some() => OCI_INDEX.to_owned(),
        (None, None) => OCI_MANIFEST.to_owned(),
    };
    if let Some(t) = &raw.artifact_type {
        check_type("artifactType", t)?;
    }
    let kind = match media_type.as_str() {
        OCI_MANIFEST | DOCKER_MANIFEST => ManifestKind::Image,
        OCI_INDEX | DOCKER_MANIFEST_LIST => ManifestKind::Index,
        other => {
            return Err(Error::ManifestInvalid(format!(
                "unsupported manifest media type {other:?}"
            )))
        }
    };
    let mut parsed = ParsedManifest {
        media_type,
        kind,
        config: None,
        layers: Vec::new(),
        manifests: Vec::new(),
        subject: raw
            .subject
            .map(|s| s.parse("subject"))
            .transpose()?
            .map(|d| d.digest),
        artifact_type: raw.artifact_type,
        annotations: raw.annotations.unwrap_or_default(),
    };
    match kind {
        ManifestKind::Image => {
            if raw.manifests.is_some() {
                return Err(Error::ManifestInvalid(
                    "an image manifest has no \"manifests\"".into(),
                ));
            }
            let config = raw
                .config
                .ok_or_else(|| Error::ManifestInvalid("an image manifest needs a config".into()))?
                .parse("config")?;
            if parsed.artifact_type.is_none() {
                parsed.artifact_type = Some(config.media_type.clone());
            }
            parsed.config = Some(config);
            parsed.layers = raw
                .layers
                .unwrap_or_default()
                .into_iter()
                .map(|l| l.parse("layer"))
                .collect::<Result<_, _>>()?;
        }
        ManifestKind::Index => {
            if raw.config.is_some() || raw.layers.is_some() {
                return Err(Error::ManifestInvalid(
                    "an index has no config or layers".into(),
                ));
            }
            parsed.manifests = raw
                .manifests
                .ok_or_else(|| Error::ManifestInvalid("an index needs \"manifests\"".into()))?
                .into_iter()
                .map(|m| m.parse("manifests entry"))
                .collect::<Result<_, _>>()?;
        }
    }
    Ok(parsed)
}

/// True when a manifest of `media_type` may be served to a client that sent
/// these `Accept` values. No `Accept`, `*/*`, or an `Accept` naming no
/// manifest type at all (generic clients) accepts everything.
pub fn accepts(accept_values: &[&str], media_type: &str) -> bool {
    let mut named_any_manifest_type = false;
    for value in accept_values {
        for item in value.split(',') {
            let t = item.split(';').next().unwrap_or("").trim();
            if t == "*/*" || t == media_type {
                return true;
            }
            if SUPPORTED_MEDIA_TYPES.contains(&t) {
                named_any_manifest_type = true;
            }
        }
    }
    !named_any_manifest_type
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> String {
        Digest::sha256(s.as_bytes()).to_string()
    }

    #[test]
    fn image_with_subject() {
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{HELM_CONFIG}","digest":"{}","size":3}},
            "layers":[{{"mediaType":"application/vnd.cncf.helm.chart.content.v1.tar+gzip","digest":"{}","size":10}}],
            "subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":5}},"annotations":{{"a":"b"}}}}"#,
            d("c"),
            d("l"),
            d("s")
        );
        let p = parse_manifest(m.as_bytes(), Some(OCI_MANIFEST)).unwrap();
        assert_eq!(p.kind, ManifestKind::Image);
        assert_eq!(p.artifact_type.as_deref(), Some(HELM_CONFIG));
        assert_eq!(p.subject, Some(Digest::sha256(b"s")));
        assert_eq!(p.layers.len(), 1);
        assert_eq!(p.annotations.get("a").map(String::as_str), Some("b"));
    }

    #[test]
    fn index_inferred_without_media_type() {
        let m = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":1}}]}}"#,
            d("x")
        );
        let p = parse_manifest(m.as_bytes(), None).unwrap();
        assert_eq!(
            (p.kind, p.media_type.as_str()),
            (ManifestKind::Index, OCI_INDEX)
        );
    }

    #[test]
    fn rejects_bad_manifests() {
        let cfg = format!(
            r#""config":{{"mediaType":"x","digest":"{}","size":1}}"#,
            d("c")
        );
        for (body, ct) in [
            ("not json".to_string(), None),
            (r#"{"schemaVersion":1}"#.to_string(), None),
            (format!(r#"{{"schemaVersion":2,{cfg}}}"#), Some(OCI_INDEX)),
            (
                format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}",{cfg}}}"#),
                Some(OCI_MANIFEST),
            ),
            (
                r#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:zz","size":1}}"#
                    .to_string(),
                None,
            ),
            (
                format!(
                    r#"{{"schemaVersion":2,"config":{{"mediaType":"x","digest":"{}","size":-1}}}}"#,
                    d("c")
                ),
                None,
            ),
            (r#"{"schemaVersion":2}"#.to_string(), None),
            (
                format!(r#"{{"schemaVersion":2,{cfg}}}"#),
                Some("application/vnd.example+json"),
            ),
            (
                format!(r#"{{"schemaVersion":2,"artifactType":"a\u0000b",{cfg}}}"#),
                None,
            ),
            (
                format!(
                    r#"{{"schemaVersion":2,"config":{{"mediaType":"x\u0001","digest":"{}","size":1}}}}"#,
                    d("c")
                ),
                None,
            ),
        ] {
            assert!(
                matches!(
                    parse_manifest(body.as_bytes(), ct),
                    Err(Error::ManifestInvalid(_))
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn accept_negotiation() {
        assert!(accepts(&[], OCI_INDEX));
        assert!(accepts(&["*/*"], OCI_INDEX));
        assert!(accepts(&["application/json"], OCI_INDEX));
        assert!(accepts(
            &[&format!("{DOCKER_MANIFEST}, {OCI_INDEX};q=0.5")],
            OCI_INDEX
        ));
        assert!(!accepts(&[DOCKER_MANIFEST], OCI_INDEX));
    }
}
