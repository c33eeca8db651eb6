//! The `entitlement_items` table: the artifacts of an entitlement with their
//! tag selections, in order. A selection is stored as its `kind` (`all` or
//! `only`) and its `patterns` as a JSON array.

use distr_core::access::{Entitlement, TagSelection};
use distr_core::{StoreError, StoreResult};
use sqlx::SqliteConnection;

use crate::codec::{corrupt, from_json, to_json};

/// A tag selection as its `kind` and `patterns` columns.
pub(crate) fn selection_to_sql(tags: &TagSelection) -> StoreResult<(&'static str, String)> {
    match tags {
        TagSelection::All => Ok(("all", "[]".to_owned())),
        TagSelection::Only(patterns) => Ok(("only", to_json(patterns)?)),
    }
}

/// A stored tag selection; the patterns are validated again on decoding.
pub(crate) fn selection_from_sql(kind: &str, patterns: &str) -> StoreResult<TagSelection> {
    match kind {
        "all" => Ok(TagSelection::All),
        "only" => Ok(TagSelection::Only(from_json(
            "entitlement tag patterns",
            patterns,
        )?)),
        _ => Err(corrupt(
            "entitlement item",
            format_args!("unknown tag selection {kind:?}"),
        )),
    }
}

/// The item columns of `e`: artifact id, selection kind and patterns.
pub(crate) fn encode(e: &Entitlement) -> StoreResult<Vec<(String, &'static str, String)>> {
    e.items
        .iter()
        .map(|item| {
            let (kind, patterns) = selection_to_sql(&item.tags)?;
            Ok((item.artifact_id.to_string(), kind, patterns))
        })
        .collect()
}

/// Inserts the items of entitlement `id` at positions 0, 1, ….
pub(crate) async fn insert(
    conn: &mut SqliteConnection,
    id: &str,
    items: Vec<(String, &'static str, String)>,
) -> StoreResult<()> {
    for (position, (artifact, kind, patterns)) in (0i64..).zip(items) {
        sqlx::query(
            "INSERT INTO entitlement_items (entitlement_id, position, artifact_id, kind, patterns) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(id)
        .bind(position)
        .bind(artifact)
        .bind(kind)
        .bind(patterns)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::backend)?;
    }
    Ok(())
}

/// Removes every item of entitlement `id`.
pub(crate) async fn clear(conn: &mut SqliteConnection, id: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM entitlement_items WHERE entitlement_id = ?1")
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::backend)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selections_roundtrip() {
        let only = TagSelection::Only(vec!["1.2.*".parse().unwrap(), "latest".parse().unwrap()]);
        for tags in [TagSelection::All, TagSelection::Only(vec![]), only] {
            let (kind, patterns) = selection_to_sql(&tags).unwrap();
            assert_eq!(selection_from_sql(kind, &patterns).unwrap(), tags);
        }
    }

    #[test]
    fn bad_stored_selections_are_corrupt() {
        for (kind, patterns) in [("some", "[]"), ("only", "[\"-bad\"]"), ("only", "{")] {
            assert!(matches!(
                selection_from_sql(kind, patterns),
                Err(StoreError::Corrupt(_))
            ));
        }
    }
}
