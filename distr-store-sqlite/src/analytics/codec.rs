//! Column representations of analytics values.

use distr_core::{StoreError, StoreResult};

use crate::codec::corrupt;

/// A stored count or byte total.
pub(crate) fn count(what: &str, n: i64) -> StoreResult<u64> {
    u64::try_from(n).map_err(|_| corrupt(what, format_args!("negative count {n}")))
}

/// A byte count as an SQLite integer, saturating (counters stop at
/// `i64::MAX` rather than failing a batch).
pub(crate) fn bytes_to_sql(bytes: u64) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}

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
