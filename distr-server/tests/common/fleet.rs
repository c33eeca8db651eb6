//! Several `distr-server` replicas over shared state, for the scale-out
//! tests: one PostgreSQL schema for the metadata and one S3 bucket (served by
//! moto) for the blobs.
//!
//! * [`PgSchema`] creates a fresh schema on the test Postgres
//!   (`DISTR_TEST_POSTGRES_URL`, default
//!   `postgres://postgres@127.0.0.1:5432/test`) and drops it on `Drop`.
//! * [`Moto`] (from `distr-test-support`) serves the S3 bucket.
//! * [`Shared`] is both, plus one bucket and key prefix; [`Shared::replica`]
//!   starts a [`Replica`]: a preset of the harness's [`ServerProcess`] (own
//!   port, data dir and logs; inherited `DISTR_*`, `AWS_*` and
//!   `DATABASE_URL` variables dropped) over the shared state; all replicas
//!   share the master key [`FLEET_SECRET_KEY`]. It is stopped with SIGTERM
//!   on [`ServerProcess::stop`] or `Drop`.
//!
//! Declare the [`Shared`] before the replicas, so the replicas stop before
//! the schema is dropped and moto is killed.

use std::future::Future;
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use distr_test_support::logs::{log_field_i64, strip_ansi};
pub use distr_test_support::net::{free_port, http10};
pub use distr_test_support::tools::moto_server_path;
pub use distr_test_support::upstream::Moto;
use distr_test_support::ServerProcess;

use super::{creds, server_builder, Registry, TEST_TOKEN};

const POSTGRES_DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// The master key every replica of a fleet shares (`DISTR_SECRET_KEY`, 32
/// bytes in hex): it seals upstream credentials in the shared database.
pub const FLEET_SECRET_KEY: &str =
    "6469737472206532652072657069636173206d6173746572206b657920303031";

/// A name unique across processes and within this one: `<prefix>_<pid>_<nanos>_<n>`.
fn unique_name(prefix: &str, sep: char) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}{sep}{}{sep}{nanos}{sep}{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs `f` to completion on a fresh current-thread runtime on its own
/// thread, so it works from sync code, async tests and `Drop` alike.
fn block_on<F>(f: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handle = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("build a tokio runtime")
            .block_on(f)
    });
    match handle.join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

// ---------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------

/// A fresh schema on the test Postgres, dropped (with everything in it) on
/// `Drop`.
pub struct PgSchema {
    base_url: String,
    name: String,
}

async fn pg_connect(url: &str) -> sqlx::PgConnection {
    use sqlx::Connection as _;
    match tokio::time::timeout(Duration::from_secs(10), sqlx::PgConnection::connect(url)).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => panic!(
            "cannot connect to the test Postgres at {url}: {e}\n\
             Start it (e.g. `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`) \
             or point DISTR_TEST_POSTGRES_URL at another server. This test never skips."
        ),
        Err(_) => panic!("connecting to the test Postgres at {url} timed out after 10 s"),
    }
}

impl PgSchema {
    /// Creates a new, empty schema with a unique name.
    pub fn create() -> PgSchema {
        let base_url = std::env::var("DISTR_TEST_POSTGRES_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| POSTGRES_DEFAULT_URL.to_owned());
        let name = unique_name("replicas", '_');
        let (url, schema) = (base_url.clone(), name.clone());
        block_on(async move {
            let mut conn = pg_connect(&url).await;
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("CREATE SCHEMA {schema}: {e}"));
        });
        PgSchema { base_url, name }
    }

    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The server's URL with this schema as the search path (what the
    /// replicas get as `DATABASE_URL`).
    pub fn database_url(&self) -> String {
        let sep = if self.base_url.contains('?') {
            '&'
        } else {
            '?'
        };
        format!(
            "{}{sep}options=-c%20search_path%3D{}",
            self.base_url, self.name
        )
    }

    /// The names of the tables in this schema, sorted.
    pub fn tables(&self) -> Vec<String> {
        let (url, schema) = (self.base_url.clone(), self.name.clone());
        block_on(async move {
            let mut conn = pg_connect(&url).await;
            sqlx::query_scalar::<_, String>(
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = $1 ORDER BY table_name",
            )
            .bind(schema)
            .fetch_all(&mut conn)
            .await
            .expect("list the schema's tables")
        })
    }
}

impl PgSchema {
    /// Drops the schema now, with everything in it (the database is gone for
    /// the servers using it); dropping the value later does nothing more.
    pub fn drop_now(&self) {
        self.drop_schema();
    }

    fn drop_schema(&self) {
        let (url, schema) = (self.base_url.clone(), self.name.clone());
        let result = std::panic::catch_unwind(|| {
            block_on(async move {
                let mut conn = pg_connect(&url).await;
                sqlx::query("SET lock_timeout = '10s'")
                    .execute(&mut conn)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS {schema} CASCADE"
                )))
                .execute(&mut conn)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
            })
        });
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("dropping Postgres schema {}: {e}", self.name),
            Err(_) => eprintln!("dropping Postgres schema {} panicked", self.name),
        }
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        self.drop_schema();
    }
}

// ---------------------------------------------------------------------------
// the shared state and the replicas
// ---------------------------------------------------------------------------

/// What the replicas share: one Postgres schema, one moto with one bucket,
/// one key prefix in it.
pub struct Shared {
    pub schema: PgSchema,
    pub moto: Moto,
    pub bucket: String,
    pub prefix: String,
}

impl Shared {
    /// A fresh schema, a moto server and a fresh bucket on it.
    pub fn start() -> Shared {
        let schema = PgSchema::create();
        let moto = Moto::start();
        let bucket = unique_name("distr-e2e", '-');
        moto.create_bucket(&bucket);
        Shared {
            schema,
            moto,
            bucket,
            prefix: "e2e/replicas".to_owned(),
        }
    }

    /// Every key of the bucket.
    pub fn bucket_keys(&self) -> Vec<String> {
        self.moto.list_keys(&self.bucket)
    }

    /// Starts a replica named `name` (for messages) over this state, with
    /// `DISTR_UPSTREAM_SYNC_CRON` set to `sync_cron` (empty: no schedule).
    pub fn replica(&self, name: &str, sync_cron: &str) -> Replica {
        Replica::start(self, name, sync_cron)
    }
}

/// A running `distr-server` over [`Shared`] state, with its own port, data
/// directory and logs: a preset of [`ServerProcess`] (which it derefs to).
pub struct Replica {
    name: String,
    process: ServerProcess,
}

impl Deref for Replica {
    type Target = ServerProcess;
    fn deref(&self) -> &ServerProcess {
        &self.process
    }
}

impl std::ops::DerefMut for Replica {
    fn deref_mut(&mut self) -> &mut ServerProcess {
        &mut self.process
    }
}

impl Replica {
    fn start(shared: &Shared, name: &str, sync_cron: &str) -> Replica {
        let process = server_builder()
            .name(format!("replica {name}"))
            .env("DISTR_LOG", "info")
            .env("NO_COLOR", "1")
            .env("DATABASE_URL", shared.schema.database_url())
            .env("DISTR_BLOB_STORE", "s3")
            .env("DISTR_BLOB_BUCKET", &shared.bucket)
            .env("DISTR_BLOB_PREFIX", &shared.prefix)
            .env("DISTR_S3_ENDPOINT", shared.moto.endpoint())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("DISTR_UPSTREAM_SYNC_CRON", sync_cron)
            .env("DISTR_SECRET_KEY", FLEET_SECRET_KEY)
            .start();
        Replica {
            name: name.to_owned(),
            process,
        }
    }

    /// The replica's name (for messages).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Raw-HTTP client authenticated as the vendor admin ([`TEST_TOKEN`]).
    pub fn registry(&self) -> Registry {
        Registry::with_token(&self.base_url(), TEST_TOKEN)
    }

    /// Raw-HTTP client sending `token`.
    pub fn registry_as(&self, token: &str) -> Registry {
        Registry::with_token(&self.base_url(), token)
    }

    /// `anyone:<vendor admin token>`, for skopeo.
    pub fn creds(&self) -> String {
        creds(TEST_TOKEN)
    }
}
