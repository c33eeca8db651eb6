//! `Range` and `Content-Range` parsing: no panic; a parsed `Range` resolves
//! inside the blob or errors; an accepted `Content-Range` is a non-empty
//! half-open range that prints back to an equivalent header.
#![no_main]

use distr_core::range::{parse_content_range, ByteRange};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first 8 bytes (when there are at least 9) pick one more blob size.
    let (size, rest) = match data.split_first_chunk::<8>() {
        Some((size, rest)) if !rest.is_empty() => (Some(u64::from_le_bytes(*size)), rest),
        _ => (None, data),
    };
    for bytes in [data, rest] {
        let Ok(s) = std::str::from_utf8(bytes) else {
            continue;
        };
        check(s, size);
    }
});

fn check(s: &str, size: Option<u64>) {
    if let Some(r) = ByteRange::parse(s) {
        let sizes = [0u64, 1, 2, 7, 1 << 20, u64::MAX - 1, u64::MAX];
        for size in sizes.into_iter().chain(size) {
            match r.resolve(size) {
                Ok(range) => {
                    assert!(range.start < range.end && range.end <= size, "{r:?} {size} {range:?}");
                    match r {
                        ByteRange::FromTo(a, b) => {
                            assert_eq!(range.start, a);
                            assert_eq!(range.end, b.saturating_add(1).min(size));
                        }
                        ByteRange::From(a) => assert_eq!(range, a..size),
                        ByteRange::Suffix(n) => assert_eq!(range.end - range.start, n.min(size)),
                    }
                }
                Err(_) => match r {
                    ByteRange::FromTo(a, b) => assert!(a >= size || b < a),
                    ByteRange::From(a) => assert!(a >= size),
                    ByteRange::Suffix(n) => assert!(n == 0 || size == 0),
                },
            }
        }
        let printed = match r {
            ByteRange::FromTo(a, b) => format!("bytes={a}-{b}"),
            ByteRange::From(a) => format!("bytes={a}-"),
            ByteRange::Suffix(n) => format!("bytes=-{n}"),
        };
        assert_eq!(ByteRange::parse(&printed), Some(r));
    }
    if let Ok(r) = parse_content_range(s) {
        assert!(r.start < r.end, "{s:?} -> {r:?}");
        let printed = format!("{}-{}", r.start, r.end - 1);
        assert_eq!(parse_content_range(&printed).unwrap(), r);
        assert_eq!(parse_content_range(&format!("bytes {printed}/*")).unwrap(), r);
    }
}
