//! The `tags` table: tag resolution, listing (with or without targets) and
//! deletion. Tags are written by [`crate::manifests::put`] and removed with
//! their manifest by [`crate::manifests::delete`].

use distr_core::store::Page;
use distr_core::{Digest, RepoName, StoreError, StoreResult, TagName};

use crate::codec::{page_params, parse};
use crate::PostgresStore;

/// The digest `tag` points at in `repo`.
pub(crate) async fn resolve(
    store: &PostgresStore,
    repo: &RepoName,
    tag: &TagName,
) -> StoreResult<Option<Digest>> {
    let digest: Option<String> = sqlx::query_scalar(
        "SELECT t.digest FROM tags t JOIN repositories r ON r.id = t.repo_id \
         WHERE r.name = $1 AND t.name = $2",
    )
    .bind(repo.as_str())
    .bind(tag.as_str())
    .fetch_optional(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    digest.map(|d| parse("tag digest", &d)).transpose()
}

/// `repo`'s tags after `page.last`, byte-wise ordered.
pub(crate) async fn list(
    store: &PostgresStore,
    repo: &RepoName,
    page: &Page,
) -> StoreResult<Vec<TagName>> {
    let (last, limit) = page_params(page);
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT t.name FROM tags t JOIN repositories r ON r.id = t.repo_id \
         WHERE r.name = $1 AND t.name > $2 ORDER BY t.name LIMIT $3",
    )
    .bind(repo.as_str())
    .bind(last)
    .bind(limit)
    .fetch_all(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    names.iter().map(|n| parse("tag name", n)).collect()
}

/// Every tag of `repo` with the digest it points at, byte-wise ordered by tag:
/// a range scan of the primary key, in order (the repository id is a scalar
/// subquery so that the planner adds no sort).
pub(crate) async fn targets(
    store: &PostgresStore,
    repo: &RepoName,
) -> StoreResult<Vec<(TagName, Digest)>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, digest FROM tags \
         WHERE repo_id = (SELECT id FROM repositories WHERE name = $1) ORDER BY name",
    )
    .bind(repo.as_str())
    .fetch_all(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    rows.iter()
        .map(|(name, digest)| Ok((parse("tag name", name)?, parse("tag digest", digest)?)))
        .collect()
}

/// Removes `tag` from `repo`; true if it existed.
pub(crate) async fn delete(
    store: &PostgresStore,
    repo: &RepoName,
    tag: &TagName,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "DELETE FROM tags \
         WHERE repo_id = (SELECT id FROM repositories WHERE name = $1) AND name = $2",
    )
    .bind(repo.as_str())
    .bind(tag.as_str())
    .execute(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    Ok(done.rows_affected() > 0)
}
