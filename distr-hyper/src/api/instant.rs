//! Instants in the management API. Responses carry ms since the Unix epoch;
//! requests may give an instant either as that integer or as an RFC 3339
//! string (`2027-12-31T23:59:59Z`, `2027-12-31T23:59:59.5+01:00`), the form
//! the admin command line takes.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};

/// `ms` as RFC 3339 UTC with milliseconds (`2026-11-23T16:16:32.123Z`).
pub(crate) fn format_rfc3339(ms: i64) -> String {
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
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
/// the Unix epoch; fractions beyond milliseconds are dropped.
pub(crate) fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        let digits = b.get(from..to)?;
        digits
            .iter()
            .all(u8::is_ascii_digit)
            .then(|| digits.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut i = 19;
    let mut millis = 0;
    if b[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        let ms_digits = &b[start..(start + 3).min(i)];
        millis = ms_digits
            .iter()
            .fold(0, |n, d| n * 10 + i64::from(d - b'0'))
            * 10_i64.pow(3 - ms_digits.len() as u32);
    }
    let offset_minutes = match b.get(i..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (h, m) = (num(i + 1, i + 3)?, num(i + 4, i + 6)?);
            if h > 23 || m > 59 {
                return None;
            }
            let minutes = h * 60 + m;
            if *sign == b'-' {
                -minutes
            } else {
                minutes
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    Some(
        days * 86_400_000 + hour * 3_600_000 + minute * 60_000 + second * 1000 + millis
            - offset_minutes * 60_000,
    )
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01 (the inverse).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
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
