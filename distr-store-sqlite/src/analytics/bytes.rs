//! The `bytes_served` table: per-(artifact, customer) byte counters.

use distr_core::access::{ArtifactId, OrgId};
use distr_core::analytics::{sum_bytes, BytesServed, BytesTotal};
use distr_core::StoreResult;
use sqlx::sqlite::SqliteConnection;

use super::codec::{backend, count_from_sql, saturating_to_sql};
use crate::codec::parse;
use crate::SqliteStore;

/// Adds `bytes` to their counters, one upsert per counter, saturating at
/// `i64::MAX`.
pub(crate) async fn add(tx: &mut SqliteConnection, bytes: &[BytesServed]) -> StoreResult<()> {
    for b in sum_bytes(bytes) {
        sqlx::query(
            "INSERT INTO bytes_served (org_id, artifact_id, customer_id, bytes, last_at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (org_id, artifact_id, customer_id) DO UPDATE SET \
             bytes = CASE WHEN bytes > 9223372036854775807 - excluded.bytes \
                          THEN 9223372036854775807 ELSE bytes + excluded.bytes END, \
             last_at_ms = max(last_at_ms, excluded.last_at_ms)",
        )
        .bind(b.org.to_string())
        .bind(b.artifact.to_string())
        .bind(b.customer.map(|c| c.to_string()).unwrap_or_default())
        .bind(saturating_to_sql(b.bytes))
        .bind(b.at_ms)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    }
    Ok(())
}

/// The counters of `org` (of one artifact), by artifact, then customer
/// (none, stored as '', first).
pub(crate) async fn list(
    store: &SqliteStore,
    org: OrgId,
    artifact: Option<ArtifactId>,
) -> StoreResult<Vec<BytesTotal>> {
    let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
        "SELECT artifact_id, customer_id, bytes, last_at_ms FROM bytes_served \
         WHERE org_id = ?1 AND (?2 IS NULL OR artifact_id = ?2) \
         ORDER BY artifact_id, customer_id",
    )
    .bind(org.to_string())
    .bind(artifact.map(|a| a.to_string()))
    .fetch_all(&store.pool)
    .await
    .map_err(backend)?;
    rows.into_iter()
        .map(|(artifact, customer, bytes, last_ms)| {
            Ok(BytesTotal {
                artifact: parse("bytes served artifact id", &artifact)?,
                customer: match customer.as_str() {
                    "" => None,
                    c => Some(parse("bytes served customer id", c)?),
                },
                bytes: count_from_sql("bytes served", bytes)?,
                last_ms,
            })
        })
        .collect()
}
