//! Conversions between domain values and their SQL column representations.

use std::fmt::Display;
use std::str::FromStr;

use distr_core::store::Page;
use distr_core::{Digest, StoreError, StoreResult};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A [`StoreError::Corrupt`] for a stored `what` that failed to decode.
pub(crate) fn corrupt(what: &str, e: impl Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

/// Parses a stored name, digest or tag.
pub(crate) fn parse<T>(what: &str, s: &str) -> StoreResult<T>
where
    T: FromStr,
    T::Err: Display,
{
    s.parse().map_err(|e| corrupt(what, e))
}

/// Parses an optional stored value.
pub(crate) fn parse_opt<T>(what: &str, s: Option<&str>) -> StoreResult<Option<T>>
where
    T: FromStr,
    T::Err: Display,
{
    s.map(|s| parse(what, s)).transpose()
}

/// Parses every stored value of an array column.
pub(crate) fn parse_all<T>(what: &str, values: &[String]) -> StoreResult<Vec<T>>
where
    T: FromStr,
    T::Err: Display,
{
    values.iter().map(|s| parse(what, s)).collect()
}

/// Digests as a `TEXT[]` value.
pub(crate) fn digests_to_sql(digests: &[Digest]) -> Vec<String> {
    digests.iter().map(Digest::to_string).collect()
}

/// Encodes a value as JSON text.
pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(StoreError::backend)
}

/// Decodes a stored JSON column.
pub(crate) fn from_json<T: DeserializeOwned>(what: &str, s: &str) -> StoreResult<T> {
    serde_json::from_str(s).map_err(|e| corrupt(what, e))
}

/// A byte count as a Postgres `BIGINT`.
pub(crate) fn size_to_sql(size: u64) -> StoreResult<i64> {
    i64::try_from(size).map_err(|_| {
        StoreError::backend(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("size {size} does not fit in a Postgres bigint"),
        ))
    })
}

/// A stored byte count.
pub(crate) fn size_from_sql(what: &str, size: i64) -> StoreResult<u64> {
    u64::try_from(size).map_err(|_| corrupt(what, format_args!("negative size {size}")))
}

/// The bind parameters of a page: the exclusive lower bound and the `LIMIT`.
///
/// Names and tags are never empty, so `> ''` matches them all and keeps the
/// query a plain index range scan. `LIMIT NULL` means no limit in Postgres.
pub(crate) fn page_params(page: &Page) -> (&str, Option<i64>) {
    let last = page.last.as_deref().unwrap_or("");
    let limit = page.limit.map(|l| i64::try_from(l).unwrap_or(i64::MAX));
    (last, limit)
}
