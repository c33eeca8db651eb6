//! Column representations of analytics values: the counters are the
//! database-neutral ones of [`distr_core::store::codec`]; text is made
//! storable the Postgres way.

pub(crate) use distr_core::store::codec::{count_from_sql, saturating_to_sql};
use distr_core::StoreError;

/// Text Postgres can store: `TEXT` cannot hold NUL characters, which are
/// dropped (a user agent with one must not fail its whole batch).
pub(crate) fn storable_text(s: &str) -> String {
    s.replace('\0', "")
}

/// Maps a backend error.
pub(crate) fn backend(e: sqlx::Error) -> StoreError {
    StoreError::backend(e)
}
