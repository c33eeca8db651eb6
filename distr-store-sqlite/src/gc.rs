//! Garbage collection and cache eviction support: who holds a digest, the
//! `gc_candidates` and `blob_pulls` tables, and stale upload sessions.
//! Digest lists are bound as one JSON array and expanded by `json_each`.

use distr_core::store::{BlobHolder, UploadPart, UploadRecord};
use distr_core::{Digest, StoreError, StoreResult};

use crate::codec::{from_json, parse, to_json};
use crate::SqliteStore;

/// `digests` as a JSON array of strings.
fn digest_array(digests: &[Digest]) -> StoreResult<String> {
    let strings: Vec<String> = digests.iter().map(ToString::to_string).collect();
    to_json(&strings)
}

/// Parses `(digest, x)` rows.
fn with_digests<T>(rows: Vec<(String, T)>) -> StoreResult<Vec<(Digest, T)>> {
    rows.into_iter()
        .map(|(d, x)| Ok((parse("digest", &d)?, x)))
        .collect()
}

/// Repositories linking, listing (as config or layer) or storing as a
/// manifest each of `digests`.
pub(crate) async fn holders(
    store: &SqliteStore,
    digests: &[Digest],
) -> StoreResult<Vec<BlobHolder>> {
    if digests.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(String, String, bool, bool)> = sqlx::query_as(
        "WITH wanted (d) AS (SELECT DISTINCT value FROM json_each(?1)) \
         SELECT h.d, r.name, max(h.linked), max(NOT h.linked) FROM ( \
           SELECT w.d, b.repo_id, 1 AS linked FROM wanted w \
             JOIN blob_links b ON b.digest = w.d \
           UNION ALL SELECT w.d, mr.repo_id, 0 FROM wanted w \
             JOIN manifest_refs mr ON mr.referenced = w.d AND mr.kind = 'blob' \
           UNION ALL SELECT w.d, m.repo_id, 0 FROM wanted w \
             JOIN manifests m ON m.digest = w.d) h \
         JOIN repositories r ON r.id = h.repo_id \
         GROUP BY h.d, r.name ORDER BY h.d, r.name",
    )
    .bind(digest_array(digests)?)
    .fetch_all(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    rows.into_iter()
        .map(|(d, r, linked, referenced)| {
            Ok(BlobHolder {
                digest: parse("digest", &d)?,
                repo: parse("repository name", &r)?,
                linked,
                referenced,
            })
        })
        .collect()
}

/// Marks `digests` as candidates at `at_ms`, keeping earlier marks.
pub(crate) async fn mark(store: &SqliteStore, digests: &[Digest], at_ms: i64) -> StoreResult<()> {
    if digests.is_empty() {
        return Ok(());
    }
    // `WHERE true` keeps `ON CONFLICT` from parsing as a join constraint.
    sqlx::query(
        "INSERT INTO gc_candidates (digest, marked_at_ms) \
         SELECT DISTINCT value, ?2 FROM json_each(?1) WHERE true ON CONFLICT DO NOTHING",
    )
    .bind(digest_array(digests)?)
    .bind(at_ms)
    .execute(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    Ok(())
}

/// Candidates marked at or before `marked_before_ms`.
pub(crate) async fn candidates(
    store: &SqliteStore,
    marked_before_ms: i64,
) -> StoreResult<Vec<Digest>> {
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT digest FROM gc_candidates WHERE marked_at_ms <= ?1 ORDER BY digest",
    )
    .bind(marked_before_ms)
    .fetch_all(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    rows.iter().map(|d| parse("digest", d)).collect()
}

/// Runs `sql`, a `DELETE` with the JSON array of `digests` as `?1`.
async fn delete_digests(
    store: &SqliteStore,
    sql: &'static str,
    digests: &[Digest],
) -> StoreResult<()> {
    if digests.is_empty() {
        return Ok(());
    }
    sqlx::query(sql)
        .bind(digest_array(digests)?)
        .execute(&store.pool)
        .await
        .map_err(StoreError::backend)?;
    Ok(())
}

const CLEAR_CANDIDATES: &str =
    "DELETE FROM gc_candidates WHERE digest IN (SELECT value FROM json_each(?1))";
const CLEAR_PULLS: &str =
    "DELETE FROM blob_pulls WHERE digest IN (SELECT value FROM json_each(?1))";

/// Removes the candidate marks of `digests`.
pub(crate) async fn clear(store: &SqliteStore, digests: &[Digest]) -> StoreResult<()> {
    delete_digests(store, CLEAR_CANDIDATES, digests).await
}

/// Removes the candidate marks and pull times of `digests`.
pub(crate) async fn forget(store: &SqliteStore, digests: &[Digest]) -> StoreResult<()> {
    delete_digests(store, CLEAR_CANDIDATES, digests).await?;
    delete_digests(store, CLEAR_PULLS, digests).await
}

/// Upload sessions created before `created_before_ms`.
pub(crate) async fn stale_uploads(
    store: &SqliteStore,
    created_before_ms: i64,
) -> StoreResult<Vec<UploadRecord>> {
    let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT u.id, r.name, u.parts, u.created_at_ms FROM uploads u \
         JOIN repositories r ON r.id = u.repo_id WHERE u.created_at_ms < ?1 ORDER BY u.id",
    )
    .bind(created_before_ms)
    .fetch_all(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    rows.into_iter()
        .map(|(id, repo, parts, created_at_ms)| {
            let parts: Vec<UploadPart> = from_json("upload parts", &parts)?;
            Ok(UploadRecord {
                id,
                repo: parse("repository name", &repo)?,
                parts,
                created_at_ms,
            })
        })
        .collect()
}

/// Records a pull of `digest` at `at_ms`; the latest time wins.
pub(crate) async fn touch(store: &SqliteStore, digest: &Digest, at_ms: i64) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO blob_pulls (digest, pulled_at_ms) VALUES (?1, ?2) \
         ON CONFLICT (digest) DO UPDATE \
         SET pulled_at_ms = max(blob_pulls.pulled_at_ms, excluded.pulled_at_ms)",
    )
    .bind(digest.to_string())
    .bind(at_ms)
    .execute(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    Ok(())
}

/// The last pull times of `digests`.
pub(crate) async fn pulls(
    store: &SqliteStore,
    digests: &[Digest],
) -> StoreResult<Vec<(Digest, i64)>> {
    if digests.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT digest, pulled_at_ms FROM blob_pulls \
         WHERE digest IN (SELECT value FROM json_each(?1)) ORDER BY digest",
    )
    .bind(digest_array(digests)?)
    .fetch_all(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    with_digests(rows)
}
