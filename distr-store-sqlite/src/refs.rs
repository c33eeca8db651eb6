//! The `manifest_refs` table: the child manifests and blobs each manifest
//! references, indexed by the referenced digest for reverse lookups. Rows are
//! written by [`crate::manifests::put`] and removed with their manifest.

use distr_core::{Digest, RepoName, StoreError, StoreResult};
use sqlx::SqliteConnection;

use crate::codec::parse;
use crate::SqliteStore;

/// Records the references of the manifest `digest`, whose `children` and
/// `blobs` are JSON arrays of digests. Call in the transaction that inserted
/// the manifest row.
pub(crate) async fn insert(
    conn: &mut SqliteConnection,
    repo_id: i64,
    digest: &str,
    children: &str,
    blobs: &str,
) -> StoreResult<()> {
    sqlx::query(
        // `WHERE true` keeps `ON CONFLICT` from parsing as a join constraint.
        "INSERT INTO manifest_refs (repo_id, digest, kind, referenced) \
         SELECT ?1, ?2, kind, value FROM ( \
           SELECT 'child' AS kind, value FROM json_each(?3) \
           UNION SELECT 'blob', value FROM json_each(?4)) \
         WHERE true ON CONFLICT DO NOTHING",
    )
    .bind(repo_id)
    .bind(digest)
    .bind(children)
    .bind(blobs)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::backend)?;
    Ok(())
}

/// Removes the references of the manifest `digest` in `repo`. The foreign key
/// cascades too; deleting explicitly keeps the semantics independent of the
/// `foreign_keys` pragma.
pub(crate) async fn delete(
    conn: &mut SqliteConnection,
    repo: &RepoName,
    digest: &str,
) -> StoreResult<()> {
    sqlx::query(
        "DELETE FROM manifest_refs \
         WHERE repo_id = (SELECT id FROM repositories WHERE name = ?1) AND digest = ?2",
    )
    .bind(repo.as_str())
    .bind(digest)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::backend)?;
    Ok(())
}

/// The reverse lookup: manifests of repository `?1` with a `?2` reference to
/// `?3`, in digest order. One range scan of `manifest_refs_by_target`.
macro_rules! referring_sql {
    () => {
        "SELECT mr.digest FROM manifest_refs mr \
         JOIN repositories r ON r.id = mr.repo_id \
         WHERE r.name = ?1 AND mr.kind = ?2 AND mr.referenced = ?3 \
         ORDER BY mr.digest"
    };
}

async fn referring(
    store: &SqliteStore,
    repo: &RepoName,
    kind: &str,
    target: &Digest,
) -> StoreResult<Vec<Digest>> {
    let digests: Vec<String> = sqlx::query_scalar(referring_sql!())
        .bind(repo.as_str())
        .bind(kind)
        .bind(target.to_string())
        .fetch_all(&store.pool)
        .await
        .map_err(StoreError::backend)?;
    digests
        .iter()
        .map(|d| parse("manifest digest", d))
        .collect()
}

/// Manifests in `repo` listing `child` among their child manifests.
pub(crate) async fn parents(
    store: &SqliteStore,
    repo: &RepoName,
    child: &Digest,
) -> StoreResult<Vec<Digest>> {
    referring(store, repo, "child", child).await
}

/// Manifests in `repo` referencing `blob` as config or layer.
pub(crate) async fn blob_users(
    store: &SqliteStore,
    repo: &RepoName,
    blob: &Digest,
) -> StoreResult<Vec<Digest>> {
    referring(store, repo, "blob", blob).await
}

#[cfg(test)]
mod tests {
    use crate::SqliteStore;

    /// The reverse lookup never scans: it finds the repository by its unique
    /// name and then reads one range of the covering index, already in digest
    /// order.
    #[tokio::test]
    async fn reverse_lookup_uses_the_index() {
        let store = SqliteStore::open_in_memory().await.unwrap();
        let plan: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(concat!("EXPLAIN QUERY PLAN ", referring_sql!()))
                .bind("org/app")
                .bind("child")
                .bind("sha256:00")
                .fetch_all(&store.pool)
                .await
                .unwrap();
        let details: Vec<&str> = plan.iter().map(|(_, _, _, d)| d.as_str()).collect();
        println!("{}", details.join("\n"));
        assert!(
            details.iter().any(|d| d.contains(
                "USING COVERING INDEX manifest_refs_by_target (repo_id=? AND kind=? AND referenced=?)"
            )),
            "{details:?}"
        );
        assert!(
            details
                .iter()
                .all(|d| !d.starts_with("SCAN") && !d.contains("TEMP B-TREE")),
            "{details:?}"
        );
    }
}
