//! The `manifests` table: manifests and the referrers index. The reverse
//! lookups of index parents and blob users are in [`crate::refs`].

use bytes::Bytes;
use distr_core::store::ManifestRecord;
use distr_core::{Digest, RepoName, StoreError, StoreResult, TagName};

use crate::codec::{digests_to_sql, from_json, parse, parse_all, parse_opt, to_json};
use crate::{repos, PostgresStore};

/// The columns of a manifest row, in the order of [`ManifestRow`].
macro_rules! manifest_columns {
    () => {
        "m.digest, m.media_type, m.content, m.subject, m.artifact_type, \
         m.annotations, m.blobs, m.children, m.created_at_ms"
    };
}

/// A manifest as selected by [`manifest_columns!`].
type ManifestRow = (
    String,
    String,
    Vec<u8>,
    Option<String>,
    Option<String>,
    String,
    Vec<String>,
    Vec<String>,
    i64,
);

fn decode(row: ManifestRow) -> StoreResult<ManifestRecord> {
    let (
        digest,
        media_type,
        content,
        subject,
        artifact_type,
        annotations,
        blobs,
        children,
        created_at_ms,
    ) = row;
    Ok(ManifestRecord {
        digest: parse("manifest digest", &digest)?,
        media_type,
        content: Bytes::from(content),
        subject: parse_opt("manifest subject", subject.as_deref())?,
        artifact_type,
        annotations: from_json("manifest annotations", &annotations)?,
        blobs: parse_all("manifest blob", &blobs)?,
        children: parse_all("manifest child", &children)?,
        created_at_ms,
    })
}

/// Stores `manifest` in `repo` unless a manifest with its digest is already
/// there (the first record wins), then points `tag` at it.
///
/// An existing row is locked (`DO UPDATE ... WHERE FALSE` locks without
/// writing), so a concurrent [`delete`] of the same manifest waits for this
/// transaction instead of removing the row between the two statements and
/// failing the tag's foreign key. The lock is `FOR NO KEY UPDATE`, which
/// concurrent pushes tagging the same manifest do not wait on.
///
/// The same statement records the new manifest's blobs and children in
/// `manifest_refs`: `RETURNING` yields only a row actually inserted, so an
/// existing manifest keeps the references of its first record.
pub(crate) async fn put(
    store: &PostgresStore,
    repo: &RepoName,
    manifest: &ManifestRecord,
    tag: Option<&TagName>,
) -> StoreResult<()> {
    let digest = manifest.digest.to_string();
    let annotations = to_json(&manifest.annotations)?;
    let mut tx = store.write().await?;
    let repo_id = repos::ensure(&mut tx, repo).await?;
    sqlx::query(
        "WITH m AS ( \
           INSERT INTO manifests (repo_id, digest, media_type, content, subject, artifact_type, \
           annotations, blobs, children, created_at_ms) \
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
           ON CONFLICT (repo_id, digest) DO UPDATE SET media_type = manifests.media_type \
           WHERE FALSE \
           RETURNING repo_id, digest, blobs, children) \
         INSERT INTO manifest_refs (repo_id, kind, target, digest) \
         SELECT m.repo_id, 'blob', b.target, m.digest \
           FROM m CROSS JOIN LATERAL unnest(m.blobs) AS b (target) \
         UNION \
         SELECT m.repo_id, 'child', c.target, m.digest \
           FROM m CROSS JOIN LATERAL unnest(m.children) AS c (target)",
    )
    .bind(repo_id)
    .bind(&digest)
    .bind(&manifest.media_type)
    .bind(&manifest.content[..])
    .bind(manifest.subject.as_ref().map(Digest::to_string))
    .bind(manifest.artifact_type.as_deref())
    .bind(annotations)
    .bind(digests_to_sql(&manifest.blobs))
    .bind(digests_to_sql(&manifest.children))
    .bind(manifest.created_at_ms)
    .execute(&mut *tx)
    .await
    .map_err(StoreError::backend)?;
    if let Some(tag) = tag {
        sqlx::query(
            "INSERT INTO tags (repo_id, name, digest) VALUES ($1, $2, $3) \
             ON CONFLICT (repo_id, name) DO UPDATE SET digest = excluded.digest",
        )
        .bind(repo_id)
        .bind(tag.as_str())
        .bind(&digest)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::backend)?;
    }
    tx.commit().await.map_err(StoreError::backend)
}

/// The manifest `digest` in `repo`.
pub(crate) async fn get(
    store: &PostgresStore,
    repo: &RepoName,
    digest: &Digest,
) -> StoreResult<Option<ManifestRecord>> {
    let row: Option<ManifestRow> = sqlx::query_as(concat!(
        "SELECT ",
        manifest_columns!(),
        " FROM manifests m JOIN repositories r ON r.id = m.repo_id WHERE r.name = $1 AND m.digest = $2"
    ))
    .bind(repo.as_str())
    .bind(digest.to_string())
    .fetch_optional(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    row.map(decode).transpose()
}

/// Removes the manifest `digest` from `repo` with every tag pointing at it;
/// true if it existed.
///
/// One statement: the tags go by the foreign key's `ON DELETE CASCADE`,
/// which Postgres always enforces, in the same atomic step.
pub(crate) async fn delete(
    store: &PostgresStore,
    repo: &RepoName,
    digest: &Digest,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "DELETE FROM manifests \
         WHERE repo_id = (SELECT id FROM repositories WHERE name = $1) AND digest = $2",
    )
    .bind(repo.as_str())
    .bind(digest.to_string())
    .execute(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    Ok(done.rows_affected() > 0)
}

/// Manifests in `repo` whose subject is `subject`, ordered by digest.
pub(crate) async fn referrers(
    store: &PostgresStore,
    repo: &RepoName,
    subject: &Digest,
) -> StoreResult<Vec<ManifestRecord>> {
    let rows: Vec<ManifestRow> = sqlx::query_as(concat!(
        "SELECT ",
        manifest_columns!(),
        " FROM manifests m JOIN repositories r ON r.id = m.repo_id \
          WHERE r.name = $1 AND m.subject = $2 ORDER BY m.digest"
    ))
    .bind(repo.as_str())
    .bind(subject.to_string())
    .fetch_all(&store.pool)
    .await
    .map_err(StoreError::backend)?;
    rows.into_iter().map(decode).collect()
}
