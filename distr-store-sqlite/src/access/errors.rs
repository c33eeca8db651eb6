//! Errors of writes: constraint violations are conflicts, not failures.

use distr_core::StoreError;

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
