//! Column representations of analytics values.

use distr_core::{StoreError, StoreResult};

use crate::codec::corrupt;

/// A stored count or byte total.
pub(crate) fn count(what: &str, n: i64) -> StoreResult<u64> {
    u64::try_from(n).map_err(|_| corrupt(what, format_args!("negative count {n}")))
}

/// A byte count as a Postgres `BIGINT`, saturating (counters stop at
/// `i64::MAX` rather than failing a batch).
pub(crate) fn bytes_to_sql(bytes: u64) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}

/// Text Postgres can store: `TEXT` cannot hold NUL characters, which are
/// dropped (a user agent with one must not fail its whole batch).
pub(crate) fn storable_text(s: &str) -> String {
    s.replace('\0', "")
}

/// Maps a backend error.
pub(crate) fn backend(e: sqlx::Error) -> StoreError {
    StoreError::backend(e)
}
