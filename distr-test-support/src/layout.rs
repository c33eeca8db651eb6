//! OCI image layouts on disk: generated ones (a multi-arch image, a single
//! image) for skopeo to push, and the checks of a layout skopeo pulled.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::digest::{pseudo_random_bytes, sha256_digest, sha256_hex};
use crate::media::{OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST};

/// Build a deterministic gzip'd tar of `files`; returns (tar.gz bytes,
/// diff_id = sha256 of the uncompressed tar).
pub fn make_layer(files: &[(String, Vec<u8>)]) -> (Vec<u8>, String) {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        builder
            .append_data(&mut h, name, data.as_slice())
            .expect("tar append");
    }
    let tar_bytes = builder.into_inner().expect("finish tar");
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar_bytes).unwrap();
    let gz_bytes = gz.finish().unwrap();
    (gz_bytes, sha256_digest(&tar_bytes))
}

/// A minimal but valid OCI image config JSON.
pub fn image_config(arch: &str, os: &str, diff_ids: &[String]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "created": "2024-01-01T00:00:00Z",
        "architecture": arch,
        "os": os,
        "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/hello"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": diff_ids.iter().map(|_| json!({"created": "2024-01-01T00:00:00Z", "created_by": "distr e2e"})).collect::<Vec<_>>()
    }))
    .unwrap()
}

/// One platform of a generated multi-arch image.
#[derive(Clone, Debug)]
pub struct PlatformImage {
    /// `linux`.
    pub os: String,
    /// `amd64`, `arm64`.
    pub arch: String,
    /// Digest of the platform's image manifest.
    pub manifest_digest: String,
    /// Digest of its config.
    pub config_digest: String,
    /// Digests of its layers, in order.
    pub layer_digests: Vec<String>,
}

/// What [`generate_multiarch_layout`] wrote.
#[derive(Clone, Debug)]
pub struct GeneratedLayout {
    /// The layout's directory.
    pub dir: PathBuf,
    /// The one tag in it.
    pub tag: String,
    /// What the tag points at (an index, or a manifest for a single image).
    pub index: Vec<u8>,
    /// Digest of [`GeneratedLayout::index`].
    pub index_digest: String,
    /// The images, one a platform.
    pub platforms: Vec<PlatformImage>,
    /// Every blob written (digest → bytes), index and manifests included.
    pub blobs: BTreeMap<String, Vec<u8>>,
}

fn write_blob(dir: &Path, blobs: &mut BTreeMap<String, Vec<u8>>, data: Vec<u8>) -> String {
    let hex = sha256_hex(&data);
    fs::write(dir.join("blobs/sha256").join(&hex), &data).expect("write blob");
    let digest = format!("sha256:{hex}");
    blobs.insert(digest.clone(), data);
    digest
}

/// Write an OCI image layout at `dir` holding a multi-arch image tagged
/// `tag`: an image index over linux/amd64 and linux/arm64 manifests, each
/// with a config and two gzip'd tar layers (one shared base layer, one
/// per-platform layer).
pub fn generate_multiarch_layout(dir: &Path, tag: &str) -> GeneratedLayout {
    generate_multiarch_layout_seeded(dir, tag, 0)
}

/// [`generate_multiarch_layout`] with different per-platform layers, configs,
/// manifests and index for each `seed` (the base layer is the same for all
/// seeds, like a base image shared by several versions). Seed 0 is exactly
/// what [`generate_multiarch_layout`] writes.
pub fn generate_multiarch_layout_seeded(dir: &Path, tag: &str, seed: u64) -> GeneratedLayout {
    fs::create_dir_all(dir.join("blobs/sha256")).expect("mkdir blobs");
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let mut blobs = BTreeMap::new();

    let (base_layer, base_diff) = make_layer(&[
        (
            "etc/os-release".to_string(),
            b"NAME=distr-e2e\nVERSION=1.0\n".to_vec(),
        ),
        (
            "usr/share/doc/README".to_string(),
            pseudo_random_bytes(1, 64 * 1024),
        ),
    ]);
    let base_digest = write_blob(dir, &mut blobs, base_layer.clone());

    let mut platforms = Vec::new();
    let mut index_manifests = Vec::new();
    for (i, arch) in ["amd64", "arm64"].iter().enumerate() {
        let (layer, diff) = make_layer(&[
            (
                format!("bin/hello-{arch}"),
                pseudo_random_bytes(100 + i as u64 + seed * 1000, 96 * 1024),
            ),
            ("etc/arch".to_string(), format!("{arch}\n").into_bytes()),
        ]);
        let layer_len = layer.len();
        let layer_digest = write_blob(dir, &mut blobs, layer);
        let config = image_config(arch, "linux", &[base_diff.clone(), diff]);
        let config_len = config.len();
        let config_digest = write_blob(dir, &mut blobs, config);
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_len},
            "layers": [
                {"mediaType": OCI_LAYER_GZIP, "digest": base_digest, "size": base_layer.len()},
                {"mediaType": OCI_LAYER_GZIP, "digest": layer_digest, "size": layer_len}
            ]
        }))
        .unwrap();
        let manifest_len = manifest.len();
        let manifest_digest = write_blob(dir, &mut blobs, manifest);
        index_manifests.push(json!({
            "mediaType": OCI_MANIFEST,
            "digest": manifest_digest,
            "size": manifest_len,
            "platform": {"architecture": arch, "os": "linux"}
        }));
        platforms.push(PlatformImage {
            os: "linux".into(),
            arch: arch.to_string(),
            manifest_digest,
            config_digest,
            layer_digests: vec![base_digest.clone(), layer_digest],
        });
    }

    let mut annotations = json!({"org.opencontainers.image.title": "distr e2e multi-arch"});
    if seed != 0 {
        annotations["org.opencontainers.image.version"] = json!(tag);
        annotations["org.example.seed"] = json!(seed.to_string());
    }
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": index_manifests,
        "annotations": annotations
    }))
    .unwrap();
    let index_len = index.len();
    let index_digest = write_blob(dir, &mut blobs, index.clone());

    let layout_index = serde_json::to_vec_pretty(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{
            "mediaType": OCI_INDEX,
            "digest": index_digest,
            "size": index_len,
            "annotations": {"org.opencontainers.image.ref.name": tag}
        }]
    }))
    .unwrap();
    fs::write(dir.join("index.json"), layout_index).unwrap();

    GeneratedLayout {
        dir: dir.to_path_buf(),
        tag: tag.to_string(),
        index,
        index_digest,
        platforms,
        blobs,
    }
}

/// Read an OCI layout written by skopeo: find the descriptor tagged `tag` in
/// `index.json` and return (digest, bytes) of what it points to.
pub fn read_layout_ref(dir: &Path, tag: &str) -> (String, Vec<u8>) {
    let index: Value = serde_json::from_slice(
        &fs::read(dir.join("index.json"))
            .unwrap_or_else(|e| panic!("read {}/index.json: {e}", dir.display())),
    )
    .expect("index.json is JSON");
    let desc = index["manifests"]
        .as_array()
        .expect("index.json manifests")
        .iter()
        .find(|d| d["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("no ref {tag:?} in {}/index.json: {index}", dir.display()));
    let digest = desc["digest"].as_str().unwrap().to_string();
    (digest.clone(), read_layout_blob(dir, &digest))
}

/// Read a blob from an OCI layout and verify its content matches its name.
pub fn read_layout_blob(dir: &Path, digest: &str) -> Vec<u8> {
    let (alg, hex) = digest.split_once(':').expect("digest has algorithm");
    let path = dir.join("blobs").join(alg).join(hex);
    let data = fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "blob {digest} missing from pulled layout ({}): {e}",
            path.display()
        )
    });
    assert_eq!(
        sha256_digest(&data),
        digest,
        "pulled blob {} content does not match its digest",
        path.display()
    );
    data
}

/// Write an OCI image layout at `dir` holding one plain (single-platform)
/// image manifest tagged `tag`: a config and one gzip'd tar layer, unique per
/// `seed`. In the returned [`GeneratedLayout`], `index`/`index_digest` are the
/// manifest's bytes and digest (what the tag points at) and `platforms` has
/// the one image.
pub fn generate_single_layout(dir: &Path, tag: &str, seed: u64) -> GeneratedLayout {
    fs::create_dir_all(dir.join("blobs/sha256")).expect("mkdir blobs");
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let mut blobs = BTreeMap::new();
    let (layer, diff_id) = make_layer(&[
        (
            format!("opt/single-{seed}.bin"),
            pseudo_random_bytes(5_000 + seed, 48 * 1024),
        ),
        ("etc/tag".to_string(), format!("{tag}\n").into_bytes()),
    ]);
    let layer_len = layer.len();
    let layer_digest = write_blob(dir, &mut blobs, layer);
    let config = image_config("amd64", "linux", &[diff_id]);
    let config_len = config.len();
    let config_digest = write_blob(dir, &mut blobs, config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_len},
        "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": layer_digest, "size": layer_len}],
        "annotations": {"org.example.seed": seed.to_string(), "org.opencontainers.image.version": tag}
    }))
    .unwrap();
    let manifest_len = manifest.len();
    let manifest_digest = write_blob(dir, &mut blobs, manifest.clone());
    let layout_index = serde_json::to_vec_pretty(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{
            "mediaType": OCI_MANIFEST,
            "digest": manifest_digest,
            "size": manifest_len,
            "annotations": {"org.opencontainers.image.ref.name": tag}
        }]
    }))
    .unwrap();
    fs::write(dir.join("index.json"), layout_index).unwrap();
    GeneratedLayout {
        dir: dir.to_path_buf(),
        tag: tag.to_string(),
        index: manifest,
        index_digest: manifest_digest.clone(),
        platforms: vec![PlatformImage {
            os: "linux".into(),
            arch: "amd64".into(),
            manifest_digest,
            config_digest,
            layer_digests: vec![layer_digest],
        }],
        blobs,
    }
}

/// The pulled layout at `out` holds exactly what `generated` holds: the tag
/// points at the same digest with the same bytes (index or manifest), every
/// child manifest, config and layer is there byte for byte, and there is no
/// other blob.
#[track_caller]
pub fn verify_pulled_layout(out: &Path, generated: &GeneratedLayout, what: &str) {
    let (digest, bytes) = read_layout_ref(out, &generated.tag);
    assert_eq!(
        digest, generated.index_digest,
        "{what}: digest the tag points at"
    );
    assert_eq!(bytes, generated.index, "{what}: top-level manifest bytes");
    let top: Value = serde_json::from_slice(&bytes).unwrap();
    if top["mediaType"] == OCI_INDEX {
        let listed: BTreeSet<&str> = top["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["digest"].as_str().unwrap())
            .collect();
        let want: BTreeSet<&str> = generated
            .platforms
            .iter()
            .map(|p| p.manifest_digest.as_str())
            .collect();
        assert_eq!(listed, want, "{what}: child manifests of the index");
        assert!(listed.len() >= 2, "{what}: a multi-platform index");
    }
    for p in &generated.platforms {
        let m: Value = serde_json::from_slice(&read_layout_blob(out, &p.manifest_digest)).unwrap();
        assert_eq!(
            m["config"]["digest"],
            p.config_digest.as_str(),
            "{what}: {} config",
            p.arch
        );
        let layers: Vec<&str> = m["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["digest"].as_str().unwrap())
            .collect();
        let want: Vec<&str> = p.layer_digests.iter().map(String::as_str).collect();
        assert_eq!(layers, want, "{what}: {} layers", p.arch);
    }
    for (digest, bytes) in &generated.blobs {
        assert_eq!(
            &read_layout_blob(out, digest),
            bytes,
            "{what}: blob {digest}"
        );
    }
    let on_disk: BTreeSet<String> = fs::read_dir(out.join("blobs/sha256"))
        .unwrap_or_else(|e| panic!("{what}: read {}/blobs/sha256: {e}", out.display()))
        .map(|e| format!("sha256:{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    let want: BTreeSet<String> = generated.blobs.keys().cloned().collect();
    assert_eq!(on_disk, want, "{what}: the set of pulled blobs");
}
