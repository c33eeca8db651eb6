//! Conversions between domain values and their Postgres column
//! representations: the database-neutral ones come from
//! [`distr_core::store::codec`]; the ones here depend on the dialect
//! (`TEXT[]` arrays, `LIMIT NULL`).

pub(crate) use distr_core::store::codec::{
    corrupt, from_json, parse, parse_all, parse_opt, size_from_sql, size_to_sql, to_json,
};
use distr_core::store::Page;
use distr_core::Digest;

/// Digests as a `TEXT[]` value.
pub(crate) fn digests_to_sql(digests: &[Digest]) -> Vec<String> {
    digests.iter().map(Digest::to_string).collect()
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
