//! The `bytes_served` table: per-(artifact, customer) byte counters.

use distr_core::access::{ArtifactId, CustomerId, OrgId};
use distr_core::analytics::{sum_bytes, BytesServed, BytesTotal};
use distr_core::StoreResult;
use sqlx::types::Uuid;
use sqlx::{Postgres, Transaction};

use super::codec::{backend, count_from_sql, saturating_to_sql};
use crate::PostgresStore;

/// Adds `bytes` to their counters with one upsert, saturating at
/// `i64::MAX`. [`sum_bytes`] makes the keys unique and sorted.
pub(crate) async fn add(
    tx: &mut Transaction<'static, Postgres>,
    bytes: &[BytesServed],
) -> StoreResult<()> {
    let sums = sum_bytes(bytes);
    if sums.is_empty() {
        return Ok(());
    }
    let orgs: Vec<Uuid> = sums.iter().map(|b| b.org.0).collect();
    let artifacts: Vec<Uuid> = sums.iter().map(|b| b.artifact.0).collect();
    let customers: Vec<Uuid> = sums
        .iter()
        .map(|b| b.customer.map_or(Uuid::nil(), |c| c.0))
        .collect();
    let counts: Vec<i64> = sums.iter().map(|b| saturating_to_sql(b.bytes)).collect();
    let times: Vec<i64> = sums.iter().map(|b| b.at_ms).collect();
    sqlx::query(
        "INSERT INTO bytes_served AS s (org_id, artifact_id, customer_id, bytes, last_at_ms) \
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::int8[], $5::int8[]) \
         ON CONFLICT (org_id, artifact_id, customer_id) DO UPDATE SET \
         bytes = CASE WHEN s.bytes > 9223372036854775807 - EXCLUDED.bytes \
                      THEN 9223372036854775807 ELSE s.bytes + EXCLUDED.bytes END, \
         last_at_ms = GREATEST(s.last_at_ms, EXCLUDED.last_at_ms)",
    )
    .bind(orgs)
    .bind(artifacts)
    .bind(customers)
    .bind(counts)
    .bind(times)
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    Ok(())
}

/// The counters of `org` (of one artifact), by artifact, then customer
/// (none, stored as the nil UUID, first).
pub(crate) async fn list(
    store: &PostgresStore,
    org: OrgId,
    artifact: Option<ArtifactId>,
) -> StoreResult<Vec<BytesTotal>> {
    let rows: Vec<(Uuid, Uuid, i64, i64)> = sqlx::query_as(
        "SELECT artifact_id, customer_id, bytes, last_at_ms FROM bytes_served \
         WHERE org_id = $1 AND ($2::uuid IS NULL OR artifact_id = $2) \
         ORDER BY artifact_id, customer_id",
    )
    .bind(org.0)
    .bind(artifact.map(|a| a.0))
    .fetch_all(&store.pool)
    .await
    .map_err(backend)?;
    rows.into_iter()
        .map(|(artifact, customer, bytes, last_ms)| {
            Ok(BytesTotal {
                artifact: ArtifactId(artifact),
                customer: (!customer.is_nil()).then_some(CustomerId(customer)),
                bytes: count_from_sql("bytes served", bytes)?,
                last_ms,
            })
        })
        .collect()
}
