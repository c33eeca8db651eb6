//! Upstream response bodies as the byte streams distr-core consumes.

use bytes::Bytes;
use distr_core::ByteStream;
use futures::{StreamExt as _, TryStreamExt};
use http_body::Body;
use http_body_util::BodyStream;

/// A response body as a stream of data chunks; trailers are skipped and
/// transport errors become `io::Error`s.
pub(crate) fn into_stream<B>(body: B) -> ByteStream
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    TryStreamExt::map_err(BodyStream::new(body), |e| std::io::Error::other(e.into()))
        .try_filter_map(|frame| async move { Ok(frame.into_data().ok()) })
        .boxed()
}
