//! Column codecs shared by the SQL backends: how domain values are written to
//! and read back from database columns, independent of the SQL dialect.
//!
//! The SQLite and Postgres crates keep their SQL (and the few conversions that
//! depend on the dialect, such as `LIMIT` parameters or array columns); what
//! every database stores the same way — text, JSON, 64-bit integers, the
//! upstream columns of an artifact — is decoded here, once, so that a stored
//! value that fails to decode is the same [`StoreError::Corrupt`] everywhere.
//! Only pure functions over strings and integers live here: core depends on no
//! database driver.

mod upstream;

use std::fmt::Display;
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::access::Role;
use crate::error::{StoreError, StoreResult};

pub use upstream::{upstream_from_sql, upstream_to_sql, UpstreamColumns};

/// A [`StoreError::Corrupt`] for a stored `what` that failed to decode.
pub fn corrupt(what: &str, e: impl Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

/// Parses a stored name, digest, tag or other [`FromStr`] value.
pub fn parse<T>(what: &str, s: &str) -> StoreResult<T>
where
    T: FromStr,
    T::Err: Display,
{
    s.parse().map_err(|e| corrupt(what, e))
}

/// Parses an optional stored value.
pub fn parse_opt<T>(what: &str, s: Option<&str>) -> StoreResult<Option<T>>
where
    T: FromStr,
    T::Err: Display,
{
    s.map(|s| parse(what, s)).transpose()
}

/// Parses every stored value of a list.
pub fn parse_all<T>(what: &str, values: &[String]) -> StoreResult<Vec<T>>
where
    T: FromStr,
    T::Err: Display,
{
    values.iter().map(|s| parse(what, s)).collect()
}

/// Encodes a value as JSON text.
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(StoreError::backend)
}

/// Decodes a stored JSON column.
pub fn from_json<T: DeserializeOwned>(what: &str, s: &str) -> StoreResult<T> {
    serde_json::from_str(s).map_err(|e| corrupt(what, e))
}

/// A byte count as a signed 64-bit column (`BIGINT`, SQLite `INTEGER`).
/// Fails for a size beyond `i64::MAX` rather than storing a wrong one.
pub fn size_to_sql(size: u64) -> StoreResult<i64> {
    i64::try_from(size).map_err(|_| {
        StoreError::backend(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("size {size} does not fit in a signed 64-bit column"),
        ))
    })
}

/// A stored byte count.
pub fn size_from_sql(what: &str, size: i64) -> StoreResult<u64> {
    u64::try_from(size).map_err(|_| corrupt(what, format_args!("negative size {size}")))
}

/// A counter (a count or a byte total) as a signed 64-bit column,
/// saturating: counters stop at `i64::MAX` rather than failing a batch.
pub fn saturating_to_sql(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A stored count or byte total.
pub fn count_from_sql(what: &str, n: i64) -> StoreResult<u64> {
    u64::try_from(n).map_err(|_| corrupt(what, format_args!("negative count {n}")))
}

/// Parses a stored user role ([`Role::as_str`]).
pub fn role(s: &str) -> StoreResult<Role> {
    Role::parse(s).ok_or_else(|| corrupt("user role", format_args!("unknown role {s:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Digest;

    #[test]
    fn bad_stored_values_are_corrupt() {
        assert!(matches!(
            parse::<Digest>("digest", "sha256:nope"),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            from_json::<Vec<String>>("list", "{"),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            size_from_sql("size", -1),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            count_from_sql("count", -1),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(role("root"), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn values_roundtrip() {
        assert_eq!(role("vendor_admin").unwrap(), Role::VendorAdmin);
        assert_eq!(size_from_sql("size", size_to_sql(42).unwrap()).unwrap(), 42);
        assert!(matches!(size_to_sql(u64::MAX), Err(StoreError::Backend(_))));
        assert_eq!(saturating_to_sql(u64::MAX), i64::MAX);
        assert_eq!(count_from_sql("count", saturating_to_sql(7)).unwrap(), 7);
        let list = vec!["a".to_owned(), "b".to_owned()];
        assert_eq!(
            from_json::<Vec<String>>("list", &to_json(&list).unwrap()).unwrap(),
            list
        );
        assert_eq!(parse_opt::<u32>("n", None).unwrap(), None);
        assert_eq!(
            parse_all::<u32>("n", &list[..0]).unwrap(),
            Vec::<u32>::new()
        );
    }
}
