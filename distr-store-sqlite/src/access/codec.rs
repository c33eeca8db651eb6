//! Column representations of the tenancy model, and constraint violations.
//!
//! Ids are bound as their hyphenated lower-case text (`to_string`) and read
//! back with [`crate::codec::parse`].

use distr_core::access::{Role, TagSelection};
use distr_core::{StoreError, StoreResult};

use crate::codec::{corrupt, from_json, to_json};

/// Maps a failed write: a uniqueness violation becomes a
/// [`StoreError::Conflict`] saying `taken`, a foreign-key violation one saying
/// that a referenced record is missing; anything else is a backend error.
/// SQLite aborts the failing statement, so nothing changed.
pub(crate) fn constraint(taken: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(taken.to_owned())
        }
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            StoreError::Conflict("a referenced record does not exist".to_owned())
        }
        _ => StoreError::backend(e),
    }
}

/// Parses a stored role.
pub(crate) fn role(s: &str) -> StoreResult<Role> {
    Role::parse(s).ok_or_else(|| corrupt("user role", format_args!("unknown role {s:?}")))
}

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
    fn bad_stored_values_are_corrupt() {
        for (kind, patterns) in [("some", "[]"), ("only", "[\"-bad\"]"), ("only", "{")] {
            assert!(matches!(
                selection_from_sql(kind, patterns),
                Err(StoreError::Corrupt(_))
            ));
        }
        assert!(matches!(role("root"), Err(StoreError::Corrupt(_))));
        assert_eq!(role("vendor_admin").unwrap(), Role::VendorAdmin);
    }
}
