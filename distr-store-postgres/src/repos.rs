//! The `repositories` table: creation, existence and the catalog.

use distr_core::store::Page;
use distr_core::{RepoName, StoreError, StoreResult};
use sqlx::{PgConnection, PgPool};

use crate::codec::{page_params, parse};

/// A repository "has content" when it holds a blob link, a manifest or an
/// upload session; rows of empty repositories are kept but not listed.
macro_rules! has_content {
    ($r:literal) => {
        concat!(
            "(EXISTS (SELECT 1 FROM blob_links WHERE repo_id = ",
            $r,
            ".id) OR EXISTS (SELECT 1 FROM manifests WHERE repo_id = ",
            $r,
            ".id) OR EXISTS (SELECT 1 FROM uploads WHERE repo_id = ",
            $r,
            ".id))"
        )
    };
}

/// The id of `repo`, inserting it if needed. Call inside a `READ COMMITTED`
/// write transaction.
///
/// Looks the row up first so that the common case neither writes nor uses up
/// a sequence value. When a concurrent transaction inserts the same name, the
/// `INSERT` waits for it and does nothing, and the second `SELECT` (a new
/// snapshot under `READ COMMITTED`) sees its row.
pub(crate) async fn ensure(conn: &mut PgConnection, repo: &RepoName) -> StoreResult<i64> {
    if let Some(id) = lookup(conn, repo).await? {
        return Ok(id);
    }
    let inserted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO repositories (name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING id",
    )
    .bind(repo.as_str())
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::backend)?;
    match inserted {
        Some(id) => Ok(id),
        None => lookup(conn, repo).await?.ok_or_else(|| {
            StoreError::Conflict(format!("repository {repo} vanished while being created"))
        }),
    }
}

async fn lookup(conn: &mut PgConnection, repo: &RepoName) -> StoreResult<Option<i64>> {
    sqlx::query_scalar("SELECT id FROM repositories WHERE name = $1")
        .bind(repo.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(StoreError::backend)
}

/// True when `repo` has any content.
/// Deletes a repository; its blob links, manifests (with their references),
/// tags and uploads go with it by `ON DELETE CASCADE`. Returns whether it
/// had any content.
pub(crate) async fn delete(pool: &PgPool, repo: &RepoName) -> StoreResult<bool> {
    let had = exists(pool, repo).await?;
    sqlx::query("DELETE FROM repositories WHERE name = $1")
        .bind(repo.as_str())
        .execute(pool)
        .await
        .map_err(StoreError::backend)?;
    Ok(had)
}

pub(crate) async fn exists(pool: &PgPool, repo: &RepoName) -> StoreResult<bool> {
    sqlx::query_scalar(concat!(
        "SELECT EXISTS (SELECT 1 FROM repositories r WHERE r.name = $1 AND ",
        has_content!("r"),
        ")"
    ))
    .bind(repo.as_str())
    .fetch_one(pool)
    .await
    .map_err(StoreError::backend)
}

/// Repositories with content, byte-wise ordered, after `page.last`.
pub(crate) async fn list(pool: &PgPool, page: &Page) -> StoreResult<Vec<RepoName>> {
    let (last, limit) = page_params(page);
    let names: Vec<String> = sqlx::query_scalar(concat!(
        "SELECT r.name FROM repositories r WHERE r.name > $1 AND ",
        has_content!("r"),
        " ORDER BY r.name LIMIT $2"
    ))
    .bind(last)
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(StoreError::backend)?;
    names.iter().map(|n| parse("repository name", n)).collect()
}
