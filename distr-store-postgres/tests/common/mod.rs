//! Test helpers shared by the test binaries: a Postgres server to test
//! against and fresh schemas on it.
//!
//! Needs a running Postgres: `DISTR_TEST_POSTGRES_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/test`. Every store gets a schema of its
//! own (`t_<pid>_<time>_<n>`, selected through `search_path`), so the tests run
//! in parallel and never touch `public`; the schemas are dropped at the end of
//! each test that succeeds.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use distr_store_postgres::PostgresStore;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::AssertSqlSafe;

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The server the tests use.
pub fn base_url() -> String {
    std::env::var("DISTR_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// Connects to `url`, failing the test loudly (never skipping it) when the
/// server is unreachable.
pub async fn admin_pool(url: &str) -> PgPool {
    let connected = PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await;
    match connected {
        Ok(pool) => pool,
        Err(e) => panic!(
            "cannot connect to the test Postgres at {url}: {e}\n\
             Start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, \
             or point DISTR_TEST_POSTGRES_URL at another server."
        ),
    }
}

/// The test server plus the schemas created on it, dropped by [`Self::cleanup`].
pub struct TestDb {
    pub url: String,
    pub admin: PgPool,
    schemas: Mutex<Vec<String>>,
}

impl TestDb {
    pub async fn new() -> Self {
        let url = base_url();
        let admin = admin_pool(&url).await;
        Self {
            url,
            admin,
            schemas: Mutex::new(Vec::new()),
        }
    }

    /// Creates a new, empty schema with a name unique across processes.
    pub async fn schema(&self) -> String {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!(
            "t_{}_{nanos}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&self.admin)
            .await
            .unwrap();
        self.schemas.lock().unwrap().push(name.clone());
        name
    }

    /// The server's URL with `schema` as the search path.
    pub fn url_for(&self, schema: &str) -> String {
        let sep = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{sep}options=-c%20search_path%3D{schema}", self.url)
    }

    /// A store in a fresh schema, built by [`PostgresStore::from_pool`] on a
    /// small pool.
    pub async fn store(&self) -> PostgresStore {
        let schema = self.schema().await;
        let options = PgConnectOptions::from_str(&self.url)
            .unwrap()
            .options([("search_path", &schema)]);
        let pool = PgPoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .unwrap();
        PostgresStore::from_pool(pool).await.unwrap()
    }

    /// Drops every schema created so far.
    pub async fn cleanup(self) {
        let schemas = std::mem::take(&mut *self.schemas.lock().unwrap());
        for name in schemas {
            sqlx::query(AssertSqlSafe(format!("DROP SCHEMA {name} CASCADE")))
                .execute(&self.admin)
                .await
                .unwrap();
        }
        self.admin.close().await;
    }
}
