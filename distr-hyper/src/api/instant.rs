//! Instants in the management API. Responses carry ms since the Unix epoch;
//! requests may give an instant either as that integer or as an RFC 3339
//! string (`2027-12-31T23:59:59Z`, `2027-12-31T23:59:59.5+01:00`), the form
//! the admin command line takes.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Timelike, Utc};
use serde::de::{self, Deserializer, Visitor};

/// `ms` as RFC 3339 UTC with milliseconds (`2026-11-23T16:16:32.123Z`).
pub(crate) fn format_rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_else(|| format!("{ms} ms"))
}

/// An instant given as text: an integer (ms since the Unix epoch) or an RFC
/// 3339 date-time with an offset. `None` when it is neither.
pub(crate) fn parse(text: &str) -> Option<i64> {
    let text = text.trim();
    match text.parse::<i64>() {
        Ok(ms) => Some(ms),
        Err(_) => parse_rfc3339(text),
    }
}

/// What a request's instant must look like, for error messages.
pub(crate) const EXPECTED: &str =
    "ms since the Unix epoch or an RFC 3339 date-time such as 2027-12-31T23:59:59Z";

/// An RFC 3339 date-time (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`) as ms since
/// the Unix epoch (chrono's parser, as the admin command line's);
/// fractions beyond milliseconds are dropped. A leap second (`:60`) is
/// refused: ms since the epoch have no place for it.
pub(crate) fn parse_rfc3339(text: &str) -> Option<i64> {
    let t = DateTime::parse_from_rfc3339(text).ok()?;
    (t.nanosecond() < 1_000_000_000).then(|| t.timestamp_millis())
}

/// serde `deserialize_with` for an optional instant: `null`, an integer
/// (ms) or an RFC 3339 string.
pub(crate) fn deserialize_optional<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<i64>, D::Error> {
    d.deserialize_any(OptionalInstant)
}

struct OptionalInstant;

impl<'de> Visitor<'de> for OptionalInstant {
    type Value = Option<i64>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{EXPECTED}, or null")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        i64::try_from(v)
            .map(Some)
            .map_err(|_| E::custom(format!("{v} is too large for an instant")))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        parse_rfc3339(v).map(Some).ok_or_else(|| {
            E::custom(format!(
                "{:?} is not an RFC 3339 date-time such as 2027-12-31T23:59:59Z",
                v.chars().take(40).collect::<String>()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_with_milliseconds() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_rfc3339(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(
            format_rfc3339(1_795_450_592_001),
            "2026-11-23T16:16:32.001Z"
        );
        assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn parses_what_it_formats_and_offsets() {
        for ms in [
            0,
            951_782_400_123,
            1_795_450_592_001,
            -1,
            253_402_300_799_999,
        ] {
            assert_eq!(parse_rfc3339(&format_rfc3339(ms)), Some(ms), "{ms}");
        }
        assert_eq!(
            parse_rfc3339("2027-12-31T23:59:59Z"),
            Some(1_830_297_599_000)
        );
        assert_eq!(
            parse_rfc3339("2028-01-01T00:59:59+01:00"),
            parse_rfc3339("2027-12-31T23:59:59Z")
        );
        assert_eq!(
            parse_rfc3339("2027-12-31t18:29:59.5-05:30"),
            Some(1_830_297_599_500)
        );
        assert_eq!(
            parse_rfc3339("2027-12-31 23:59:59.123456789z"),
            Some(1_830_297_599_123)
        );
        assert_eq!(parse("1830297599000"), Some(1_830_297_599_000));
        assert_eq!(parse(" 2027-12-31T23:59:59Z "), Some(1_830_297_599_000));
    }

    #[test]
    fn refuses_what_is_not_a_date_time() {
        for bad in [
            "",
            "2027-12-31",
            "2027-12-31T23:59:59",
            "2027-13-01T00:00:00Z",
            "2027-02-29T00:00:00Z",
            "2027-04-31T00:00:00Z",
            "2027-12-31T24:00:00Z",
            "2027-12-31T23:60:00Z",
            "2027-12-31T23:59:59.Z",
            "2027-12-31T23:59:59+1:00",
            "2027-12-31T23:59:59+24:00",
            "2027-12-31T23:59:59Zjunk",
            "２027-12-31T23:59:59Z",
            "tomorrow",
            "2027-12-31T23:59:60Z",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        assert_eq!(
            parse_rfc3339("2028-02-29T00:00:00Z"),
            Some(1_835_395_200_000)
        );
    }

    #[test]
    fn deserializes_null_numbers_and_strings() {
        #[derive(serde::Deserialize)]
        struct Body {
            #[serde(default, deserialize_with = "deserialize_optional")]
            at: Option<i64>,
        }
        let at = |json: &str| serde_json::from_str::<Body>(json).map(|b| b.at);
        assert_eq!(at("{}").unwrap(), None);
        assert_eq!(at(r#"{"at":null}"#).unwrap(), None);
        assert_eq!(at(r#"{"at":5}"#).unwrap(), Some(5));
        assert_eq!(
            at(r#"{"at":"2027-12-31T23:59:59Z"}"#).unwrap(),
            Some(1_830_297_599_000)
        );
        let e = at(r#"{"at":"next week"}"#).unwrap_err().to_string();
        assert!(e.contains("RFC 3339"), "{e}");
        assert!(at(r#"{"at":true}"#).is_err());
        assert!(at(r#"{"at":18446744073709551615}"#).is_err());
    }
}
