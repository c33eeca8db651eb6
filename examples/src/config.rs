//! `distr-server` configuration: defaults < `--config` TOML file <
//! `DISTR_*` environment variables < command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use distr_core::{BlobStore, Registry, RegistryConfig};
use distr_store_sqlite::SqliteStore;
use serde::Deserialize;

/// Command-line flags (each also readable from a `DISTR_*` variable).
#[derive(Debug, Default, clap::Args)]
pub struct Flags {
    /// Address to listen on [default: 127.0.0.1:5000].
    #[arg(long, env = "DISTR_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Directory for the SQLite metadata and the local blob files [default: ./distr-data].
    #[arg(long, env = "DISTR_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// TOML configuration file.
    #[arg(long, env = "DISTR_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Where blob bytes go: `local` (files under the data dir) or `memory`.
    #[arg(long, env = "DISTR_BLOB_STORE")]
    pub blob_store: Option<BlobStoreKind>,
    /// Largest accepted manifest in bytes [default: 4194304].
    #[arg(long, env = "DISTR_MAX_MANIFEST_SIZE")]
    pub max_manifest_size: Option<u64>,
    /// Slug of the vendor organisation created on the first start, when the
    /// database has none [default: default]. Its admin is `admin@<slug>`.
    #[arg(long, env = "DISTR_BOOTSTRAP_ORG")]
    pub bootstrap_org: Option<String>,
    /// Serve the registry with NO authentication and no management API:
    /// anyone who can reach it may push and pull. Only for benchmarks and
    /// throwaway local use; never set by a config file.
    #[arg(long, env = "DISTR_INSECURE_NO_AUTH")]
    pub insecure_no_auth: bool,
}

/// Where blob bytes are kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BlobStoreKind {
    /// Files under `<data-dir>/blobs` and `<data-dir>/uploads` (the default).
    #[default]
    Local,
    /// Process memory (lost on exit; for demos and tests).
    Memory,
}

/// The `--config` file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Same as `--listen`.
    pub listen: Option<SocketAddr>,
    /// Same as `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// Same as `--blob-store`.
    pub blob_store: Option<BlobStoreKind>,
    /// Same as `--max-manifest-size`.
    pub max_manifest_size: Option<u64>,
    /// Largest page of tags or repositories returned at once [default: 1000].
    pub max_page_size: Option<usize>,
    /// Same as `--bootstrap-org`.
    pub bootstrap_org: Option<String>,
}

/// The effective configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Listen address.
    pub listen: SocketAddr,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Blob storage.
    pub blob_store: BlobStoreKind,
    /// Registry limits.
    pub registry: RegistryConfig,
    /// Slug of the organisation created on the first start.
    pub bootstrap_org: String,
    /// No authentication at all (`--insecure-no-auth`).
    pub insecure_no_auth: bool,
}

/// The stores of a data directory and the registry over them.
#[derive(Debug, Clone)]
pub struct Stores {
    /// Metadata and tenancy model, in one SQLite database.
    pub sqlite: Arc<SqliteStore>,
    /// The registry on that metadata and the configured blob storage.
    pub registry: Arc<Registry>,
}

/// The SQLite database file in a data directory.
pub fn database_path(data_dir: &Path) -> PathBuf {
    data_dir.join("distr.db")
}

impl Config {
    /// Merges flags over the config file over defaults.
    pub fn resolve(flags: &Flags) -> anyhow::Result<Config> {
        let file = match &flags.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                toml::from_str::<FileConfig>(&text)
                    .with_context(|| format!("parsing {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let mut registry = RegistryConfig::default();
        if let Some(n) = flags.max_manifest_size.or(file.max_manifest_size) {
            registry = registry.with_max_manifest_size(n);
        }
        if let Some(n) = file.max_page_size {
            anyhow::ensure!(n > 0, "max_page_size must be at least 1");
            registry = registry.with_max_page_size(n);
        }
        Ok(Config {
            listen: flags
                .listen
                .or(file.listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 5000))),
            data_dir: flags
                .data_dir
                .clone()
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("distr-data")),
            blob_store: flags.blob_store.or(file.blob_store).unwrap_or_default(),
            registry,
            bootstrap_org: flags
                .bootstrap_org
                .clone()
                .or(file.bootstrap_org)
                .unwrap_or_else(|| "default".to_owned()),
            insecure_no_auth: flags.insecure_no_auth,
        })
    }

    /// Opens the stores and assembles the registry.
    pub async fn build_registry(&self) -> anyhow::Result<Arc<Registry>> {
        Ok(self.open_stores().await?.registry)
    }

    /// Opens the SQLite database (creating the data directory if needed) and
    /// the blob storage, and assembles the registry. The same store serves as
    /// the registry's metadata and as the tenancy model.
    pub async fn open_stores(&self) -> anyhow::Result<Stores> {
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("creating data directory {}", self.data_dir.display()))?;
        let sqlite = Arc::new(self.open_database().await?);
        let blobs = match self.blob_store {
            // Rooted at the data dir: objects are `blobs/...` and `uploads/...`.
            BlobStoreKind::Local => local_blobs(&self.data_dir)?,
            BlobStoreKind::Memory => BlobStore::in_memory(),
        };
        let registry = Arc::new(Registry::new(sqlite.clone(), blobs, self.registry.clone()));
        Ok(Stores { sqlite, registry })
    }

    /// Opens (creating if missing) the SQLite database of the data directory.
    pub async fn open_database(&self) -> anyhow::Result<SqliteStore> {
        let path = database_path(&self.data_dir);
        SqliteStore::open(&path)
            .await
            .with_context(|| format!("opening the SQLite database {}", path.display()))
    }
}

fn local_blobs(dir: &Path) -> anyhow::Result<BlobStore> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let fs = object_store::local::LocalFileSystem::new_with_prefix(dir)
        .with_context(|| format!("opening blob directory {}", dir.display()))?;
    Ok(BlobStore::new(Arc::new(fs)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_file_and_flags_layer() {
        let d = Config::resolve(&Flags::default()).unwrap();
        assert_eq!(d.listen.to_string(), "127.0.0.1:5000");
        assert_eq!(d.data_dir, PathBuf::from("distr-data"));
        assert_eq!(d.blob_store, BlobStoreKind::Local);
        assert_eq!(d.registry.max_manifest_size, 4 * 1024 * 1024);
        assert_eq!(d.bootstrap_org, "default");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("distr.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:6000\"\ndata_dir = \"/srv/distr\"\nmax_page_size = 50\n\
             bootstrap_org = \"acme\"\n",
        )
        .unwrap();
        let flags = Flags {
            config: Some(path.clone()),
            listen: Some("127.0.0.1:7000".parse().unwrap()),
            ..Flags::default()
        };
        let c = Config::resolve(&flags).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:7000");
        assert_eq!(c.data_dir, PathBuf::from("/srv/distr"));
        assert_eq!(c.registry.max_page_size, 50);
        assert_eq!(c.bootstrap_org, "acme");

        std::fs::write(&path, "listen = 5\n").unwrap();
        assert!(Config::resolve(&Flags {
            config: Some(path.clone()),
            ..Flags::default()
        })
        .is_err());
        std::fs::write(&path, "unknown_key = 1\n").unwrap();
        assert!(Config::resolve(&Flags {
            config: Some(path),
            ..Flags::default()
        })
        .is_err());
    }
}
