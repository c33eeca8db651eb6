//! Upstream body streams: the idle timeout and range slices.

use std::ops::Range;
use std::time::Duration;

use distr_core::ByteStream;
use futures::StreamExt;

/// `body`, failing with `TimedOut` when no chunk arrives within `idle`.
pub(super) fn idle_timeout_stream(body: ByteStream, idle: Duration) -> ByteStream {
    futures::stream::unfold(Some(body), move |body| async move {
        let mut body = body?;
        match tokio::time::timeout(idle, body.next()).await {
            Ok(item) => item.map(|i| (i, Some(body))),
            Err(_) => Some((
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("upstream sent no data for {idle:?}"),
                )),
                None,
            )),
        }
    })
    .boxed()
}

/// The bytes of `range` (end-exclusive) of `body`; the rest is read and dropped.
pub(super) fn slice_stream(body: ByteStream, range: Range<u64>) -> ByteStream {
    futures::stream::unfold((body, 0u64), move |(mut body, mut pos)| {
        let range = range.clone();
        async move {
            while pos < range.end {
                let chunk = match body.next().await? {
                    Ok(c) => c,
                    Err(e) => return Some((Err(e), (body, range.end))),
                };
                let start = pos;
                pos += chunk.len() as u64;
                let from = range.start.clamp(start, pos) - start;
                let to = range.end.clamp(start, pos) - start;
                if from < to {
                    return Some((Ok(chunk.slice(from as usize..to as usize)), (body, pos)));
                }
            }
            None
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    #[tokio::test]
    async fn slices_streams() {
        let parts = ["abc", "defg", "", "hij"];
        for (range, want) in [
            (0..10, "abcdefghij"),
            (2..5, "cde"),
            (3..7, "defg"),
            (8..20, "ij"),
            (4..5, "e"),
        ] {
            let s = slice_stream(
                futures::stream::iter(parts.map(|p| Ok(Bytes::from_static(p.as_bytes())))).boxed(),
                range.clone(),
            );
            let got: Vec<Bytes> = futures::TryStreamExt::try_collect(s).await.unwrap();
            assert_eq!(got.concat(), want.as_bytes(), "{range:?}");
        }
    }

    #[tokio::test]
    async fn stalled_bodies_time_out() {
        let stalled = futures::stream::once(async { Ok(Bytes::from_static(b"x")) })
            .chain(futures::stream::pending())
            .boxed();
        let mut s = idle_timeout_stream(stalled, Duration::from_millis(50));
        assert_eq!(s.next().await.unwrap().unwrap(), "x");
        let e = s.next().await.unwrap().unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        assert!(s.next().await.is_none());
    }
}
