//! The `entitlement_items` table: the artifacts of an entitlement with their
//! tag selections, in order.
//!
//! Items travel between Rust and SQL as one JSON array of
//! `[artifact_id, kind, [pattern, ...]]` triples, so that writing or reading
//! all the items of an entitlement is a single statement.

use distr_core::access::{ArtifactId, EntitlementId, EntitlementItem, TagPattern, TagSelection};
use distr_core::{StoreError, StoreResult};
use sqlx::PgConnection;

use crate::codec::{corrupt, from_json, parse_all, to_json};

/// `kind` of an item granting every tag.
const ALL: &str = "all";
/// `kind` of an item granting the tags matching its patterns.
const ONLY: &str = "only";

/// A JSON text expression of the items of the entitlement `$e.id`, as read by
/// [`decode`]. `$e` is the entitlements table's alias.
macro_rules! items_json {
    ($e:literal) => {
        concat!(
            "(SELECT COALESCE(json_agg(json_build_array(i.artifact_id, i.kind, i.patterns) \
             ORDER BY i.position), '[]') FROM entitlement_items i WHERE i.entitlement_id = ",
            $e,
            ".id)::text"
        )
    };
}
pub(crate) use items_json;

/// Items as the JSON array [`insert`] reads.
fn encode(items: &[EntitlementItem]) -> StoreResult<String> {
    let triples: Vec<(ArtifactId, &str, Vec<&str>)> = items
        .iter()
        .map(|item| match &item.tags {
            TagSelection::All => (item.artifact_id, ALL, Vec::new()),
            TagSelection::Only(patterns) => (
                item.artifact_id,
                ONLY,
                patterns.iter().map(TagPattern::as_str).collect(),
            ),
        })
        .collect();
    to_json(&triples)
}

/// Items from the JSON text of [`items_json!`].
pub(crate) fn decode(json: &str) -> StoreResult<Vec<EntitlementItem>> {
    let triples: Vec<(ArtifactId, String, Vec<String>)> = from_json("entitlement items", json)?;
    triples
        .into_iter()
        .map(|(artifact_id, kind, patterns)| {
            let tags = match kind.as_str() {
                ALL => TagSelection::All,
                ONLY => TagSelection::Only(parse_all("entitlement tag pattern", &patterns)?),
                other => {
                    return Err(corrupt(
                        "entitlement item",
                        format_args!("unknown kind {other:?}"),
                    ))
                }
            };
            Ok(EntitlementItem { artifact_id, tags })
        })
        .collect()
}

/// Inserts `items` as the items of `entitlement`, numbered from 0, in one
/// statement. The entitlement must have no items yet.
pub(crate) async fn insert(
    conn: &mut PgConnection,
    entitlement: EntitlementId,
    items: &[EntitlementItem],
) -> StoreResult<()> {
    if items.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO entitlement_items (entitlement_id, position, artifact_id, kind, patterns) \
         SELECT $1, (i.n - 1)::integer, (i.item ->> 0)::uuid, i.item ->> 1, \
                ARRAY(SELECT p.pattern FROM json_array_elements_text(i.item -> 2) \
                      WITH ORDINALITY AS p (pattern, n) ORDER BY p.n) \
         FROM json_array_elements($2::json) WITH ORDINALITY AS i (item, n)",
    )
    .bind(entitlement.0)
    .bind(encode(items)?)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::backend)?;
    Ok(())
}

/// Removes every item of `entitlement`.
pub(crate) async fn clear(conn: &mut PgConnection, entitlement: EntitlementId) -> StoreResult<()> {
    sqlx::query("DELETE FROM entitlement_items WHERE entitlement_id = $1")
        .bind(entitlement.0)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::backend)?;
    Ok(())
}
