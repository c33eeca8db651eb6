//! Digest verification of streamed upstream content.

use std::io;

use futures::StreamExt;

use super::error::UpstreamError;
use crate::blob::ByteStream;
use crate::digest::{Digest, Digester};

/// Wraps `body` so it hashes what passes through and, at its end, fails with
/// an `InvalidData` I/O error (carrying [`UpstreamError::DigestMismatch`] or
/// a size [`UpstreamError::Protocol`] error) instead of ending cleanly when
/// the bytes do not match `expected` (or `expected_size`, when known).
///
/// Nothing is buffered: chunks are passed on as they arrive, so a consumer
/// that writes them somewhere must discard its copy when the stream errors.
pub fn verified_stream(
    body: ByteStream,
    expected: Digest,
    expected_size: Option<u64>,
) -> ByteStream {
    struct State {
        body: ByteStream,
        digester: Option<Digester>,
        expected: Digest,
        expected_size: Option<u64>,
        seen: u64,
    }
    let state = State {
        body,
        digester: Some(Digester::new(expected.algorithm())),
        expected,
        expected_size,
        seen: 0,
    };
    futures::stream::unfold(state, |mut st| async move {
        let digester = st.digester.as_mut()?;
        match st.body.next().await {
            Some(Ok(chunk)) => {
                digester.update(&chunk);
                st.seen += chunk.len() as u64;
                if st.expected_size.is_some_and(|n| st.seen > n) {
                    st.digester = None;
                    let e = UpstreamError::Protocol(format!(
                        "blob {} is longer than its {} announced bytes",
                        st.expected,
                        st.expected_size.unwrap_or_default()
                    ));
                    return Some((Err(io::Error::new(io::ErrorKind::InvalidData, e)), st));
                }
                Some((Ok(chunk), st))
            }
            Some(Err(e)) => {
                st.digester = None;
                Some((Err(e), st))
            }
            None => {
                let actual = st.digester.take()?.finish();
                let err = if st.expected_size.is_some_and(|n| n != st.seen) {
                    UpstreamError::Protocol(format!(
                        "blob {} ended after {} of {} bytes",
                        st.expected,
                        st.seen,
                        st.expected_size.unwrap_or_default()
                    ))
                } else if actual != st.expected {
                    UpstreamError::DigestMismatch {
                        expected: st.expected.clone(),
                        actual,
                    }
                } else {
                    return None;
                };
                Some((Err(io::Error::new(io::ErrorKind::InvalidData, err)), st))
            }
        }
    })
    .boxed()
}

/// The [`UpstreamError`] inside an I/O error from [`verified_stream`], if any.
pub fn upstream_error(e: &io::Error) -> Option<&UpstreamError> {
    e.get_ref()?.downcast_ref::<UpstreamError>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use futures::TryStreamExt;

    fn chunks(parts: &[&'static [u8]]) -> ByteStream {
        let parts: Vec<_> = parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        futures::stream::iter(parts).boxed()
    }

    #[tokio::test]
    async fn passes_matching_content() {
        let d = Digest::sha256(b"hello world");
        let s = verified_stream(chunks(&[b"hello ", b"world"]), d, Some(11));
        let all: Vec<Bytes> = s.try_collect().await.unwrap();
        assert_eq!(all.concat(), b"hello world");
    }

    #[tokio::test]
    async fn fails_on_mismatch_and_size() {
        let d = Digest::sha256(b"hello world");
        let e = verified_stream(chunks(&[b"hello ", b"WORLD"]), d.clone(), None)
            .try_collect::<Vec<_>>()
            .await
            .unwrap_err();
        assert!(matches!(
            upstream_error(&e),
            Some(UpstreamError::DigestMismatch { expected, .. }) if *expected == d
        ));
        let e = verified_stream(chunks(&[b"hello"]), d.clone(), Some(11))
            .try_collect::<Vec<_>>()
            .await
            .unwrap_err();
        assert!(matches!(
            upstream_error(&e),
            Some(UpstreamError::Protocol(_))
        ));
        let e = verified_stream(chunks(&[b"hello world!"]), d, Some(11))
            .try_collect::<Vec<_>>()
            .await
            .unwrap_err();
        assert!(matches!(
            upstream_error(&e),
            Some(UpstreamError::Protocol(_))
        ));
    }
}
