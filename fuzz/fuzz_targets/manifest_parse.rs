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
        Some("application/json; charset=utf-8"),
    ] {
        if let Ok(m) = parse_manifest(data, content_type) {
            match m.kind {
                ManifestKind::Image => assert!(m.config.is_some() && m.manifests.is_empty()),
                ManifestKind::Index => assert!(m.config.is_none() && m.layers.is_empty()),
            }
        }
    }
});
