//! Databases as older releases left them, for the upgrade tests.

use sqlx::migrate::Migrator;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::SqlitePool;
use std::path::{Path, PathBuf};

/// A database at `dir/meta.db` migrated with this crate's migrations whose
/// names sort before `before` (e.g. `"0005"`): the schema an older release
/// left behind, for the upgrade tests.
pub async fn database_before(dir: &Path, before: &str) -> (PathBuf, SqlitePool) {
    let path = dir.join("meta.db");
    let old = dir.join("migrations");
    std::fs::create_dir(&old).unwrap();
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    for entry in std::fs::read_dir(&from).unwrap() {
        let name = entry.unwrap().file_name();
        if name.to_str().unwrap() < before {
            std::fs::copy(from.join(&name), old.join(&name)).unwrap();
        }
    }
    let options = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true);
    let pool = SqlitePool::connect_with(options).await.unwrap();
    Migrator::new(old.as_path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    (path, pool)
}
