//! The `manifest_refs` table: the child manifests and blobs each manifest
//! references, indexed by the referenced digest for reverse lookups. Rows are
//! written by [`crate::manifests::put`] (in the statement that inserts the
//! manifest) and removed with their manifest by the foreign key.

use distr_core::{Digest, RepoName, StoreError, StoreResult};

use crate::codec::parse_all;
use crate::PostgresStore;

/// Digests of the manifests in `repo` that reference `target` as a `kind`
/// (`'blob'` or `'child'`) in `manifest_refs`, ordered by digest: one range
/// scan of its primary key, already in digest order. The repository id is a
/// scalar subquery (not a join) so that the planner knows it is one value and
/// needs no sort.
async fn referencing(
    store: &PostgresStore,
    repo: &RepoName,
    kind: &str,
    target: &Digest,
) -> StoreResult<Vec<Digest>> {
    let digests: Vec<String> = sqlx::query_scalar(
        "SELECT digest FROM manifest_refs \
         WHERE repo_id = (SELECT id FROM repositories WHERE name = $1) \
         AND kind = $2 AND target = $3 ORDER BY digest",
    )
    .bind(repo.as_str())
    .bind(kind)
    .bind(target.to_string())
    .fetch_all(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    parse_all("manifest digest", &digests)
}

/// Manifests (indexes) in `repo` listing `child` among their children,
/// ordered by digest.
pub(crate) async fn parents(
    store: &PostgresStore,
    repo: &RepoName,
    child: &Digest,
) -> StoreResult<Vec<Digest>> {
    referencing(store, repo, "child", child).await
}

/// Manifests in `repo` referencing `blob` as config or layer, ordered by
/// digest.
pub(crate) async fn blob_users(
    store: &PostgresStore,
    repo: &RepoName,
    blob: &Digest,
) -> StoreResult<Vec<Digest>> {
    referencing(store, repo, "blob", blob).await
}
