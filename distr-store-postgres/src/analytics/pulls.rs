//! The aggregates over `pull_events`: pulls per tag, per customer, per
//! reference. Each counts pulls only, leaving out follow-ups as defined in
//! `distr_core::analytics` (see `counted!`).

use distr_core::access::{ArtifactId, CustomerId, OrgId};
use distr_core::analytics::{CustomerPulls, ReferencePulls, TagPulls, FOLLOW_UP_WINDOW_MS};
use distr_core::reference::Reference;
use distr_core::StoreResult;
use sqlx::types::Uuid;

use super::codec::{backend, count_from_sql};
use crate::codec::parse;
use crate::PostgresStore;

/// The condition that the event `e` is a pull, not a follow-up: not (a GET
/// by digest of a non-index manifest with a token that got an index of the
/// same artifact in the `$3` ms before, or at the same ms). The lookup is a
/// range scan of `pull_events_index_gets`.
macro_rules! counted {
    () => {
        " NOT (e.tag IS NULL AND NOT e.is_index AND e.token_id IS NOT NULL AND EXISTS ( \
           SELECT 1 FROM pull_events p \
           WHERE p.org_id = e.org_id AND p.artifact_id = e.artifact_id \
             AND p.token_id = e.token_id AND p.is_index AND p.token_id IS NOT NULL \
             AND p.at_ms BETWEEN e.at_ms - $3::int8 AND e.at_ms)) "
    };
}

/// Pulls per tag of `artifact`, by tag. GETs by tag are always pulls.
pub(crate) async fn per_tag(
    store: &PostgresStore,
    org: OrgId,
    artifact: ArtifactId,
) -> StoreResult<Vec<TagPulls>> {
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT tag, COUNT(*), COUNT(DISTINCT customer_id) FROM pull_events \
         WHERE org_id = $1 AND artifact_id = $2 AND tag IS NOT NULL \
         GROUP BY tag ORDER BY tag",
    )
    .bind(org.0)
    .bind(artifact.0)
    .fetch_all(&store.pool)
    .await
    .map_err(backend)?;
    rows.into_iter()
        .map(|(tag, pulls, customers)| {
            Ok(TagPulls {
                tag: parse("pull event tag", &tag)?,
                pulls: count_from_sql("pulls", pulls)?,
                customers: count_from_sql("customers", customers)?,
            })
        })
        .collect()
}

/// The customers that pulled `artifact` (any artifact of `org` for `None`),
/// most pulls first, then by id.
pub(crate) async fn per_customer(
    store: &PostgresStore,
    org: OrgId,
    artifact: Option<ArtifactId>,
) -> StoreResult<Vec<CustomerPulls>> {
    let rows: Vec<(Uuid, i64, i64, i64)> = sqlx::query_as(concat!(
        "SELECT e.customer_id, COUNT(*), MIN(e.at_ms), MAX(e.at_ms) FROM pull_events e \
         WHERE e.org_id = $1 AND ($2::uuid IS NULL OR e.artifact_id = $2) \
           AND e.customer_id IS NOT NULL AND ",
        counted!(),
        "GROUP BY e.customer_id ORDER BY COUNT(*) DESC, e.customer_id"
    ))
    .bind(org.0)
    .bind(artifact.map(|a| a.0))
    .bind(FOLLOW_UP_WINDOW_MS)
    .fetch_all(&store.pool)
    .await
    .map_err(backend)?;
    rows.into_iter()
        .map(|(customer, pulls, first_ms, last_ms)| {
            Ok(CustomerPulls {
                customer: CustomerId(customer),
                pulls: count_from_sql("pulls", pulls)?,
                first_ms,
                last_ms,
            })
        })
        .collect()
}

/// What `customer` pulled, per artifact and reference (the tag, or the
/// digest of pulls by digest), by artifact, then reference text.
pub(crate) async fn of_customer(
    store: &PostgresStore,
    org: OrgId,
    customer: CustomerId,
) -> StoreResult<Vec<ReferencePulls>> {
    let rows: Vec<(Uuid, String, bool, i64, i64, i64)> = sqlx::query_as(concat!(
        "SELECT e.artifact_id, COALESCE(e.tag, e.digest) AS r, bool_or(e.tag IS NOT NULL), \
                COUNT(*), MIN(e.at_ms), MAX(e.at_ms) FROM pull_events e \
         WHERE e.org_id = $1 AND e.customer_id = $2 AND ",
        counted!(),
        "GROUP BY e.artifact_id, r ORDER BY e.artifact_id, r"
    ))
    .bind(org.0)
    .bind(customer.0)
    .bind(FOLLOW_UP_WINDOW_MS)
    .fetch_all(&store.pool)
    .await
    .map_err(backend)?;
    rows.into_iter()
        .map(|(artifact, reference, by_tag, pulls, first_ms, last_ms)| {
            Ok(ReferencePulls {
                artifact: ArtifactId(artifact),
                reference: if by_tag {
                    Reference::Tag(parse("pull event tag", &reference)?)
                } else {
                    Reference::Digest(parse("pull event digest", &reference)?)
                },
                pulls: count_from_sql("pulls", pulls)?,
                first_ms,
                last_ms,
            })
        })
        .collect()
}
