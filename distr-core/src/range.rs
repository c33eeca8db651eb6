//! `Range` (blob reads) and `Content-Range` (chunked uploads) headers.

use crate::error::Error;

/// A byte range requested by a `Range: bytes=…` header, before it is
/// resolved against the blob's size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=a-b` (inclusive).
    FromTo(u64, u64),
    /// `bytes=a-`.
    From(u64),
    /// `bytes=-n`: the last `n` bytes.
    Suffix(u64),
}

impl ByteRange {
    /// Parses a `Range` header value. Returns `None` for anything that is not a
    /// single well-formed `bytes` range: per RFC 9110 such a header is ignored
    /// and the whole representation is served. A range whose end precedes its
    /// start (`bytes=500-0`) is kept, to be answered 416 by
    /// [`ByteRange::resolve`]: the distribution-spec conformance suite
    /// requires that rather than the whole blob.
    pub fn parse(header: &str) -> Option<ByteRange> {
        let spec = header.trim().strip_prefix("bytes=")?.trim();
        if spec.contains(',') {
            return None;
        }
        let (a, b) = spec.split_once('-')?;
        let num = |s: &str| -> Option<u64> {
            if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            s.parse().ok()
        };
        match (a.is_empty(), b.is_empty()) {
            (false, false) => Some(ByteRange::FromTo(num(a)?, num(b)?)),
            (false, true) => Some(ByteRange::From(num(a)?)),
            (true, false) => Some(ByteRange::Suffix(num(b)?)),
            (true, true) => None,
        }
    }

    /// Resolves the range against a blob of `size` bytes into a half-open
    /// `start..end`, or [`Error::RangeNotSatisfiable`].
    pub fn resolve(self, size: u64) -> Result<std::ops::Range<u64>, Error> {
        let unsatisfiable = Error::RangeNotSatisfiable { size };
        match self {
            ByteRange::FromTo(a, b) if a <= b && a < size => Ok(a..b.saturating_add(1).min(size)),
            ByteRange::From(a) if a < size => Ok(a..size),
            ByteRange::Suffix(n) if n > 0 && size > 0 => Ok(size - n.min(size)..size),
            _ => Err(unsatisfiable),
        }
    }
}

/// Parses an upload chunk's `Content-Range` value: `a-b` (inclusive), also
/// accepting the `bytes a-b/*` and `bytes=a-b` spellings some clients send.
/// Returns the half-open range.
pub fn parse_content_range(header: &str) -> Result<std::ops::Range<u64>, Error> {
    let invalid = || Error::BlobUploadInvalid(format!("malformed Content-Range {header:?}"));
    let mut s = header.trim();
    s = s
        .strip_prefix("bytes=")
        .or_else(|| s.strip_prefix("bytes "))
        .unwrap_or(s);
    if let Some((range, _total)) = s.split_once('/') {
        s = range;
    }
    let (a, b) = s.split_once('-').ok_or_else(invalid)?;
    let num = |x: &str| -> Result<u64, Error> {
        if x.is_empty() || !x.bytes().all(|c| c.is_ascii_digit()) {
            return Err(invalid());
        }
        x.parse().map_err(|_| invalid())
    };
    let (a, b) = (num(a)?, num(b)?);
    if a > b {
        return Err(invalid());
    }
    // `b` is inclusive: `…-18446744073709551615` has no half-open end.
    Ok(a..b.checked_add(1).ok_or_else(invalid)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_forms() {
        assert_eq!(ByteRange::parse("bytes=0-9"), Some(ByteRange::FromTo(0, 9)));
        assert_eq!(ByteRange::parse("bytes=5-"), Some(ByteRange::From(5)));
        assert_eq!(ByteRange::parse("bytes=-3"), Some(ByteRange::Suffix(3)));
        for ignored in [
            "",
            "bytes=",
            "bytes=-",
            "items=0-1",
            "bytes=0-1,3-4",
            "bytes=a-b",
            "bytes=+1-2",
        ] {
            assert_eq!(ByteRange::parse(ignored), None, "{ignored}");
        }
    }

    #[test]
    fn resolves() {
        assert_eq!(ByteRange::FromTo(0, 9).resolve(100).unwrap(), 0..10);
        assert_eq!(ByteRange::FromTo(90, 200).resolve(100).unwrap(), 90..100);
        assert_eq!(ByteRange::From(99).resolve(100).unwrap(), 99..100);
        assert_eq!(ByteRange::Suffix(10).resolve(100).unwrap(), 90..100);
        assert_eq!(ByteRange::Suffix(1000).resolve(100).unwrap(), 0..100);
        assert!(ByteRange::From(100).resolve(100).is_err());
        assert!(ByteRange::Suffix(0).resolve(100).is_err());
        assert!(ByteRange::FromTo(0, 0).resolve(0).is_err());
        // An end before the start is unsatisfiable, not ignored.
        assert_eq!(ByteRange::parse("bytes=9-1"), Some(ByteRange::FromTo(9, 1)));
        assert!(ByteRange::FromTo(500, 0).resolve(2048).is_err());
    }

    #[test]
    fn content_range() {
        assert_eq!(parse_content_range("0-99").unwrap(), 0..100);
        assert_eq!(parse_content_range("bytes 100-199/*").unwrap(), 100..200);
        assert_eq!(parse_content_range("bytes=100-199").unwrap(), 100..200);
        for bad in ["", "-", "5-1", "a-b", "1-", "-1", "0-18446744073709551615"] {
            assert!(parse_content_range(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn resolved_ranges_are_within_the_blob(h in "\\PC{0,30}", size in 0u64..10_000) {
            if let Some(r) = ByteRange::parse(&h) {
                if let Ok(range) = r.resolve(size) {
                    prop_assert!(range.start < range.end);
                    prop_assert!(range.end <= size);
                }
            }
        }

        #[test]
        fn well_formed_ranges_parse(a in 0u64..1_000_000, len in 0u64..1_000_000) {
            let h = format!("bytes={}-{}", a, a + len);
            prop_assert_eq!(ByteRange::parse(&h), Some(ByteRange::FromTo(a, a + len)));
            prop_assert_eq!(parse_content_range(&format!("{}-{}", a, a + len)).unwrap(), a..a + len + 1);
        }

        #[test]
        fn content_range_never_panics(h in "\\PC{0,40}") {
            if let Ok(r) = parse_content_range(&h) {
                prop_assert!(r.start < r.end);
            }
        }
    }
}
