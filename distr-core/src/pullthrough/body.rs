//! Adapters of blob bodies: byte-range slicing and linking a blob to a
//! repository once its body ended cleanly.

use std::io;
use std::ops::Range;
use std::sync::Arc;

use futures::StreamExt;

use crate::blob::ByteStream;
use crate::name::RepoName;
use crate::store::{BlobRecord, DynMetadataStore};

/// The bytes `range` of `body` (which starts at offset 0). Ends with an
/// error when `body` ends before the range does.
pub(super) fn slice(body: ByteStream, range: Range<u64>) -> ByteStream {
    struct State {
        body: ByteStream,
        /// Offset of the next byte of `body`.
        pos: u64,
        range: Range<u64>,
        done: bool,
    }
    let state = State {
        body,
        pos: 0,
        range,
        done: false,
    };
    futures::stream::unfold(state, |mut st| async move {
        loop {
            if st.done || st.pos >= st.range.end {
                return None;
            }
            match st.body.next().await {
                Some(Ok(chunk)) => {
                    let start = st.pos;
                    let end = start + chunk.len() as u64;
                    st.pos = end;
                    if end <= st.range.start {
                        continue;
                    }
                    let from = st.range.start.saturating_sub(start) as usize;
                    let to = (st.range.end.min(end) - start) as usize;
                    return Some((Ok(chunk.slice(from..to)), st));
                }
                Some(Err(e)) => {
                    st.done = true;
                    return Some((Err(e), st));
                }
                None => {
                    st.done = true;
                    let e = io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "blob body ended at byte {} before the end of range {}..{}",
                            st.pos, st.range.start, st.range.end
                        ),
                    );
                    return Some((Err(e), st));
                }
            }
        }
    })
    .boxed()
}

/// Passes `body` on and, when it ends cleanly, links `blob` to `repo`
/// before ending. A failed link is logged (the bytes were served; the next
/// read links again).
pub(super) fn link_on_end(
    body: ByteStream,
    store: Arc<DynMetadataStore>,
    repo: RepoName,
    blob: BlobRecord,
) -> ByteStream {
    struct State {
        body: ByteStream,
        link: Option<(Arc<DynMetadataStore>, RepoName, BlobRecord)>,
    }
    let state = State {
        body,
        link: Some((store, repo, blob)),
    };
    futures::stream::unfold(state, |mut st| async move {
        match st.body.next().await {
            Some(Ok(chunk)) => Some((Ok(chunk), st)),
            Some(Err(e)) => {
                st.link = None;
                Some((Err(e), st))
            }
            None => {
                if let Some((store, repo, blob)) = st.link.take() {
                    if let Err(e) = store.link_blob(&repo, &blob).await {
                        tracing::warn!(%repo, digest = %blob.digest, error = %e, "linking a filled blob failed");
                    }
                }
                None
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use futures::TryStreamExt;

    use super::*;

    fn chunks(parts: &[&'static [u8]]) -> ByteStream {
        let parts: Vec<_> = parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        futures::stream::iter(parts).boxed()
    }

    async fn all(s: ByteStream) -> io::Result<Vec<u8>> {
        let v: Vec<Bytes> = s.try_collect().await?;
        Ok(v.concat())
    }

    #[tokio::test]
    async fn slices_across_chunks() {
        let body = || chunks(&[b"hello", b" ", b"world"]);
        assert_eq!(all(slice(body(), 0..11)).await.unwrap(), b"hello world");
        assert_eq!(all(slice(body(), 3..8)).await.unwrap(), b"lo wo");
        assert_eq!(all(slice(body(), 6..11)).await.unwrap(), b"world");
        assert_eq!(all(slice(body(), 5..6)).await.unwrap(), b" ");
        assert!(all(slice(body(), 6..12)).await.is_err());
    }
}
