//! Column representations of analytics values: the counters are the
//! database-neutral ones of [`distr_core::store::codec`]; flags are SQLite's
//! 0/1 integers.

pub(crate) use distr_core::store::codec::{count_from_sql, saturating_to_sql};
use distr_core::{StoreError, StoreResult};

use crate::codec::corrupt;

/// A stored 0/1 flag.
pub(crate) fn flag(what: &str, v: i64) -> StoreResult<bool> {
    match v {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(corrupt(what, format_args!("{v} is not 0 or 1"))),
    }
}

/// Maps a backend error.
pub(crate) fn backend(e: sqlx::Error) -> StoreError {
    StoreError::backend(e)
}
