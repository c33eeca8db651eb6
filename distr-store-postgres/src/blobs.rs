//! The `blob_links` table: which blobs a repository holds.

use distr_core::store::BlobRecord;
use distr_core::{Digest, RepoName, StoreError, StoreResult};

use crate::codec::{size_from_sql, size_to_sql};
use crate::repos;
use crate::PostgresStore;

/// Links `blob` into `repo`, creating the repository; re-linking updates the size.
pub(crate) async fn link(
    store: &PostgresStore,
    repo: &RepoName,
    blob: &BlobRecord,
) -> StoreResult<()> {
    let size = size_to_sql(blob.size)?;
    let mut tx = store.write().await?;
    let repo_id = repos::ensure(&mut tx, repo).await?;
    sqlx::query(
        "INSERT INTO blob_links (repo_id, digest, size) VALUES ($1, $2, $3) \
         ON CONFLICT (repo_id, digest) DO UPDATE SET size = excluded.size",
    )
    .bind(repo_id)
    .bind(blob.digest.to_string())
    .bind(size)
    .execute(&mut *tx)
    .await
    .map_err(StoreError::backend)?;
    tx.commit().await.map_err(StoreError::backend)
}

/// The blob `digest` if `repo` holds it.
pub(crate) async fn get(
    store: &PostgresStore,
    repo: &RepoName,
    digest: &Digest,
) -> StoreResult<Option<BlobRecord>> {
    let size: Option<i64> = sqlx::query_scalar(
        "SELECT b.size FROM blob_links b JOIN repositories r ON r.id = b.repo_id \
         WHERE r.name = $1 AND b.digest = $2",
    )
    .bind(repo.as_str())
    .bind(digest.to_string())
    .fetch_optional(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    size.map(|s| {
        Ok(BlobRecord {
            digest: digest.clone(),
            size: size_from_sql("blob size", s)?,
        })
    })
    .transpose()
}

/// Removes `repo`'s link to `digest`; true if there was one.
pub(crate) async fn unlink(
    store: &PostgresStore,
    repo: &RepoName,
    digest: &Digest,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "DELETE FROM blob_links \
         WHERE repo_id = (SELECT id FROM repositories WHERE name = $1) AND digest = $2",
    )
    .bind(repo.as_str())
    .bind(digest.to_string())
    .execute(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    Ok(done.rows_affected() > 0)
}
