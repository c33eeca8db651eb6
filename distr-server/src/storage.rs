//! Opening what a server stores its state in: the metadata database (SQLite
//! in the data directory, or PostgreSQL) and the blob storage (local files,
//! memory, S3, GCS or Azure through `object_store`).

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use distr_core::access::AccessStore;
use distr_core::analytics::AnalyticsStore;
use distr_core::store::RunClaims;
use distr_core::{BlobStore, MetadataStore, Registry};
use distr_store_postgres::PostgresStore;
use distr_store_sqlite::SqliteStore;
use object_store::prefix::PrefixStore;
use object_store::ObjectStore;

use crate::config::{analytics_database_path, database_path, BlobStoreKind, Settings};

/// The metadata database: one store serves as the registry's metadata and
/// as the tenancy model.
#[derive(Debug, Clone)]
pub enum Database {
    /// SQLite in the data directory (the embedded default).
    Sqlite(Arc<SqliteStore>),
    /// PostgreSQL, shared by replicas.
    Postgres(Arc<PostgresStore>),
}

/// The stores of a server and the registry over them.
#[derive(Debug, Clone)]
pub struct Stores {
    /// The metadata database.
    pub database: Database,
    /// Registry metadata (the same database).
    pub meta: Arc<dyn MetadataStore>,
    /// The tenancy model (the same database).
    pub access: Arc<dyn AccessStore>,
    /// Download analytics: pull events and bytes served (with SQLite, a
    /// database file of their own; with Postgres, the same database).
    pub analytics: Arc<dyn AnalyticsStore>,
    /// The SQLite analytics database, to close with the rest.
    sqlite_analytics: Option<Arc<SqliteStore>>,
    /// Claims of scheduled runs (the same database), so a fleet of
    /// replicas runs each scheduled sync once.
    pub claims: Arc<dyn RunClaims>,
    /// The registry on that metadata and the configured blob storage.
    pub registry: Arc<Registry>,
}

impl Stores {
    /// Opens the database `config` names (creating the data directory and
    /// SQLite file if needed, or migrating the Postgres schema) and the blob
    /// storage, and assembles the registry.
    pub async fn open(config: &Settings) -> anyhow::Result<Stores> {
        let database = open_database(config).await?;
        let (meta, access, mut analytics, claims) = match &database {
            Database::Sqlite(s) => roles(s),
            Database::Postgres(p) => roles(p),
        };
        let sqlite_analytics = match &database {
            Database::Sqlite(main) => Some(open_sqlite_analytics(config, main).await?),
            Database::Postgres(_) => None,
        };
        if let Some(store) = &sqlite_analytics {
            analytics = store.clone();
        }
        let blobs = open_blobs(config)?;
        let registry = Arc::new(Registry::new(
            meta.clone(),
            blobs,
            config.registry.registry_config(),
        ));
        Ok(Stores {
            database,
            meta,
            access,
            analytics,
            sqlite_analytics,
            claims,
            registry,
        })
    }

    /// Closes the database connections, waiting for operations in flight.
    pub async fn close(&self) {
        if let Some(store) = &self.sqlite_analytics {
            store.close().await;
        }
        match &self.database {
            Database::Sqlite(s) => s.close().await,
            Database::Postgres(p) => p.close().await,
        }
    }
}

/// The roles one database plays: metadata, tenancy, analytics, run claims.
type Roles = (
    Arc<dyn MetadataStore>,
    Arc<dyn AccessStore>,
    Arc<dyn AnalyticsStore>,
    Arc<dyn RunClaims>,
);

fn roles<S: MetadataStore + AccessStore + AnalyticsStore + RunClaims>(s: &Arc<S>) -> Roles {
    (s.clone(), s.clone(), s.clone(), s.clone())
}

async fn open_database(config: &Settings) -> anyhow::Result<Database> {
    if let Some(url) = config.database.url.get() {
        let pg = PostgresStore::connect(url)
            .await
            .context("connecting to the PostgreSQL metadata database (DATABASE_URL)")?;
        return Ok(Database::Postgres(Arc::new(pg)));
    }
    let data_dir = &config.storage.data_dir;
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating data directory {}", data_dir.display()))?;
    let path = database_path(data_dir);
    let sqlite = SqliteStore::open(&path)
        .await
        .with_context(|| format!("opening the SQLite database {}", path.display()))?;
    Ok(Database::Sqlite(Arc::new(sqlite)))
}

/// Opens (creating if missing) the SQLite analytics database of the data
/// directory, its writes at the configured priority, and moves into it the
/// analytics that earlier versions kept in `main`.
pub async fn open_sqlite_analytics(
    config: &Settings,
    main: &SqliteStore,
) -> anyhow::Result<Arc<SqliteStore>> {
    let path = analytics_database_path(&config.storage.data_dir);
    let store = SqliteStore::open(&path)
        .await
        .with_context(|| format!("opening the SQLite analytics database {}", path.display()))?
        .with_background_analytics(config.analytics.writer_priority);
    store
        .move_analytics_from(main)
        .await
        .context("moving download analytics out of the metadata database")?;
    Ok(Arc::new(store))
}

/// The blob storage `config` names.
pub fn open_blobs(config: &Settings) -> anyhow::Result<BlobStore> {
    let store: Arc<dyn ObjectStore> = match config.storage.blob_store {
        // Rooted at the data dir: objects are `blobs/...` and `uploads/...`.
        BlobStoreKind::Local => return local_blobs(&config.storage.data_dir),
        BlobStoreKind::Memory => return Ok(BlobStore::in_memory()),
        BlobStoreKind::S3 => Arc::new(s3(config)?),
        BlobStoreKind::Gcs => {
            let bucket = bucket(config, "gcs")?;
            Arc::new(
                object_store::gcp::GoogleCloudStorageBuilder::from_env()
                    .with_bucket_name(bucket)
                    .build()
                    .context("configuring the GCS blob store")?,
            )
        }
        BlobStoreKind::Azure => {
            let container = bucket(config, "azure")?;
            Arc::new(
                object_store::azure::MicrosoftAzureBuilder::from_env()
                    .with_container_name(container)
                    .build()
                    .context("configuring the Azure blob store")?,
            )
        }
    };
    let store = match config.storage.blob_prefix.trim_matches('/') {
        "" => store,
        prefix => Arc::new(PrefixStore::new(store, prefix)),
    };
    Ok(BlobStore::new(store))
}

fn bucket<'a>(config: &'a Settings, kind: &str) -> anyhow::Result<&'a str> {
    match config.storage.blob_bucket.as_str() {
        "" => bail!("--blob-store {kind} needs --blob-bucket (DISTR_BLOB_BUCKET)"),
        b => Ok(b),
    }
}

/// S3 from the AWS environment, with the configured bucket, endpoint,
/// region and credentials over it. A custom endpoint gets path-style
/// requests (what S3-compatible services expect) and may be plain `http://`.
fn s3(config: &Settings) -> anyhow::Result<object_store::aws::AmazonS3> {
    let s = &config.storage;
    let mut builder =
        object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket(config, "s3")?);
    if !s.s3_region.is_empty() {
        builder = builder.with_region(&s.s3_region);
    }
    if !s.s3_access_key_id.is_empty() {
        builder = builder.with_access_key_id(&s.s3_access_key_id);
    }
    if let Some(secret) = s.s3_secret_access_key.get() {
        builder = builder.with_secret_access_key(secret);
    }
    let endpoint = s.s3_endpoint.as_str();
    if !endpoint.is_empty() {
        builder = builder
            .with_endpoint(endpoint)
            .with_virtual_hosted_style_request(false)
            .with_allow_http(endpoint.starts_with("http://"));
    }
    builder.build().context("configuring the S3 blob store")
}

fn local_blobs(dir: &Path) -> anyhow::Result<BlobStore> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let fs = object_store::local::LocalFileSystem::new_with_prefix(dir)
        .with_context(|| format!("opening blob directory {}", dir.display()))?;
    // Local files take parts of any size: small parts keep the memory of
    // concurrent uploads and pull-through fills low.
    Ok(BlobStore::new(Arc::new(fs))
        .with_part_size(LOCAL_PART_SIZE)
        .with_local_root(dir))
}

/// Multipart part size for local blob files.
const LOCAL_PART_SIZE: usize = 1024 * 1024;
