//! Conversions between domain values and their SQLite column
//! representations: the database-neutral ones come from
//! [`distr_core::store::codec`]; the ones here depend on the dialect
//! (`LIMIT -1`).

pub(crate) use distr_core::store::codec::{
    corrupt, from_json, parse, parse_opt, size_from_sql, size_to_sql, to_json,
};
use distr_core::store::Page;

/// The bind parameters of a page: the exclusive lower bound and the `LIMIT`.
///
/// Names and tags are never empty, so `> ''` matches them all and keeps the
/// query a plain index range scan. `LIMIT -1` means no limit in SQLite.
pub(crate) fn page_params(page: &Page) -> (&str, i64) {
    let last = page.last.as_deref().unwrap_or("");
    let limit = page
        .limit
        .map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
    (last, limit)
}
