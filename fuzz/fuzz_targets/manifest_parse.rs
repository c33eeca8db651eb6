//! Manifest and index parsing must never panic, and whatever it accepts must
//! be internally consistent.
#![no_main]

use distr_core::manifest::{parse_manifest, ManifestKind, OCI_INDEX, OCI_MANIFEST};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for content_type in [
        None,
        Some(OCI_MANIFEST),
        Some(OCI_INDEX),
        Some("application/vnd.docker.distribution.manifest.v2+json"),
        Some("application/vnd.docker.distribution.manifest.list.v2+json"),
        Some("application/json; charset=utf-8"),
    ] {
        if let Ok(m) = parse_manifest(data, content_type) {
            match m.kind {
                ManifestKind::Image => assert!(m.config.is_some() && m.manifests.is_empty()),
                ManifestKind::Index => assert!(m.config.is_none() && m.layers.is_empty()),
            }
            // Declaring the effective media type changes nothing. (Not
            // asserted: that accepted bytes are UTF-8. serde_json, like Go's
            // encoding/json, does not validate strings of ignored fields, and
            // the bytes are stored and served verbatim.)
            assert_eq!(parse_manifest(data, Some(&m.media_type)).unwrap(), m);
            // The effective media type is the one the kind was derived from.
            let image = [OCI_MANIFEST, "application/vnd.docker.distribution.manifest.v2+json"];
            assert_eq!(image.contains(&m.media_type.as_str()), m.kind == ManifestKind::Image);
            if let Some(a) = &m.artifact_type {
                assert!(!a.chars().any(char::is_control));
            }
            for d in m.config.iter().chain(&m.layers).chain(&m.manifests) {
                assert_eq!(d.digest.to_string().parse::<distr_core::Digest>().unwrap(), d.digest);
            }
        }
    }
});
