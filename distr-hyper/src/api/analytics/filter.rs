//! The query parameters of `/analytics/pulls` and `/analytics/pulls.csv`:
//! filters, cursor and page size, each checked (400 `invalid_filter` or
//! `invalid_cursor`, never a 500).

use std::net::IpAddr;
use std::str::FromStr;

use distr_core::access::OrgId;
use distr_core::analytics::{PullCursor, PullFilter};

use super::super::error::ApiError;
use super::super::instant::{self, EXPECTED};
use crate::query::Query;

/// Default page size of `/analytics/pulls`.
pub(super) const DEFAULT_LIMIT: usize = 100;
/// Largest page size of `/analytics/pulls`.
pub(super) const MAX_LIMIT: usize = 1000;

/// Parameters every pull query accepts.
const FILTERS: [&str; 7] = [
    "artifact_id",
    "tag",
    "customer_id",
    "user_id",
    "ip",
    "from",
    "to",
];

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request_code("invalid_filter", message)
}

/// The one value of `key`, if given; 400 when given twice.
fn single<'q>(query: &'q Query, key: &str) -> Result<Option<&'q str>, ApiError> {
    match query.get_all(key)[..] {
        [] => Ok(None),
        [v] => Ok(Some(v)),
        _ => Err(invalid(format!("{key} is given more than once"))),
    }
}

/// `key` parsed as `T`, explained with `what` when it does not parse.
fn parsed<T: FromStr>(query: &Query, key: &str, what: &str) -> Result<Option<T>, ApiError> {
    single(query, key)?
        .map(|v| {
            v.parse::<T>()
                .map_err(|_| invalid(format!("{key} must be {what}")))
        })
        .transpose()
}

/// `key` as an instant: ms since the Unix epoch or RFC 3339.
fn instant_param(query: &Query, key: &str) -> Result<Option<i64>, ApiError> {
    single(query, key)?
        .map(|v| instant::parse(v).ok_or_else(|| invalid(format!("{key} must be {EXPECTED}"))))
        .transpose()
}

/// The parameter names of a raw query string (not decoded: every known
/// name is plain ASCII, so an encoded one is unknown anyway).
fn keys(raw: &str) -> impl Iterator<Item = &str> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').map_or(p, |(k, _)| k))
}

/// Fails on parameters outside `FILTERS` and `extra` (a misspelt filter
/// must not silently return everything).
fn check_known(raw: &str, extra: &[&str]) -> Result<(), ApiError> {
    match keys(raw).find(|k| !FILTERS.contains(k) && !extra.contains(k)) {
        Some(k) => Err(invalid(format!(
            "unknown parameter {:?}; filters are {}",
            k.chars().take(50).collect::<String>(),
            FILTERS.join(", ")
        ))),
        None => Ok(()),
    }
}

/// The filter of `query` (`raw`: the query string it was parsed from) over
/// vendor `org`'s events; `extra` names the other parameters the endpoint
/// accepts.
pub(super) fn filter(
    query: &Query,
    raw: &str,
    org: OrgId,
    extra: &[&str],
) -> Result<PullFilter, ApiError> {
    check_known(raw, extra)?;
    let filter = PullFilter {
        artifact: parsed(query, "artifact_id", "a UUID")?,
        tag: parsed(query, "tag", "a valid tag")?,
        customer: parsed(query, "customer_id", "a UUID")?,
        user: parsed(query, "user_id", "a UUID")?,
        ip: parsed::<IpAddr>(query, "ip", "an IPv4 or IPv6 address")?,
        from_ms: instant_param(query, "from")?,
        to_ms: instant_param(query, "to")?,
        ..PullFilter::org(org)
    };
    if let (Some(from), Some(to)) = (filter.from_ms, filter.to_ms) {
        if from > to {
            return Err(invalid("from must not be after to"));
        }
    }
    Ok(filter)
}

/// `cursor` and `limit` of a page request.
pub(super) fn page(query: &Query) -> Result<(Option<PullCursor>, usize), ApiError> {
    let cursor = single(query, "cursor")?
        .map(|c| {
            c.parse::<PullCursor>().map_err(|_| {
                ApiError::bad_request_code(
                    "invalid_cursor",
                    "cursor must be a next_cursor returned by this endpoint",
                )
            })
        })
        .transpose()?;
    let limit = match single(query, "limit")? {
        None => DEFAULT_LIMIT,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => return Err(invalid(format!("limit must be 1 to {MAX_LIMIT}"))),
        },
    };
    Ok((cursor, limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Query {
        Query::parse(Some(s))
    }

    fn f(s: &str, extra: &[&str]) -> Result<PullFilter, ApiError> {
        filter(&q(s), s, OrgId::new(), extra)
    }

    #[test]
    fn filters_parse_or_fail_with_a_code() {
        let ok = f(
            "tag=1.0&ip=10.0.0.1&from=5&to=9&customer_id=0b6f2b8e-8a9c-4a39-9c1e-9b0f6d0b7a11",
            &[],
        )
        .unwrap();
        assert_eq!(ok.tag.unwrap().as_str(), "1.0");
        assert_eq!((ok.from_ms, ok.to_ms), (Some(5), Some(9)));
        assert!(ok.customer.is_some() && ok.ip.is_some() && ok.artifact.is_none());
        let dated = f("from=2027-12-31T23:59:59Z&to=1830297600000", &[]).unwrap();
        assert_eq!(
            (dated.from_ms, dated.to_ms),
            (Some(1_830_297_599_000), Some(1_830_297_600_000))
        );
        let e = f("from=2027-12-31", &[]).unwrap_err();
        assert!(format!("{e:?}").contains("RFC 3339"), "{e:?}");
        for bad in [
            "tag=%2Fx",
            "ip=10.0.0",
            "from=yesterday",
            "from=9&to=5",
            "artifact_id=x",
            "user_id=",
            "customer=abc",
            "tag=a&tag=b",
            "cursor=x",
        ] {
            assert!(f(bad, &[]).is_err(), "{bad}");
        }
        assert!(f("cursor=x&limit=5", &["cursor", "limit"]).is_ok());
    }

    #[test]
    fn pages_are_bounded() {
        assert_eq!(page(&q("")).unwrap(), (None, DEFAULT_LIMIT));
        assert_eq!(page(&q("limit=1000")).unwrap().1, 1000);
        for bad in ["limit=0", "limit=1001", "limit=-1", "limit=x", "cursor=12"] {
            assert!(page(&q(bad)).is_err(), "{bad}");
        }
    }
}
