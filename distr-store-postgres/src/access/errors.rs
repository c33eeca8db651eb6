//! Errors of writes: constraint violations are conflicts, not failures.

use distr_core::StoreError;

/// SQLSTATE `unique_violation`: a slug, email, name, hash or id is taken.
const UNIQUE_VIOLATION: &str = "23505";

/// SQLSTATE `foreign_key_violation`: the record refers to one that does not
/// exist (a token of an unknown user, a customer of an unknown vendor, ...).
pub(crate) const FOREIGN_KEY_VIOLATION: &str = "23503";

/// Maps the error of a statement writing a `what` (for the message):
/// uniqueness and reference violations become [`StoreError::Conflict`]
/// (Postgres has rolled the statement back, so nothing changed), anything else
/// is a backend failure.
pub(crate) fn write_error(what: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| {
        let conflict = e.as_database_error().and_then(|db| {
            let constraint = db.constraint().unwrap_or("unknown constraint");
            match db.code()?.as_ref() {
                UNIQUE_VIOLATION => Some(format!("{what} already exists ({constraint})")),
                FOREIGN_KEY_VIOLATION => {
                    Some(format!("{what} refers to a missing record ({constraint})"))
                }
                _ => None,
            }
        });
        conflict.map_or_else(|| StoreError::backend(e), StoreError::Conflict)
    }
}
