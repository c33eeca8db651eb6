//! `Range` and `Content-Range` parsing: no panic, resolved ranges stay inside
//! the blob.
#![no_main]

use distr_core::range::{parse_content_range, ByteRange};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(r) = ByteRange::parse(s) {
        for size in [0u64, 1, 7, 1 << 20, u64::MAX] {
            if let Ok(range) = r.resolve(size) {
                assert!(range.start < range.end && range.end <= size);
            }
        }
    }
    if let Ok(r) = parse_content_range(s) {
        assert!(r.start < r.end);
    }
});
