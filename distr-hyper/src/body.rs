//! Request and response bodies.

use bytes::Bytes;
use distr_core::{ByteStream, Error};
use futures::{StreamExt, TryStreamExt};
use http_body::Body;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, BodyStream, Empty, Full, Limited, StreamBody};

/// The boxed error type of bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every response this service produces.
pub type ResponseBody = UnsyncBoxBody<Bytes, BoxError>;

/// A complete in-memory response body.
pub(crate) fn full(bytes: impl Into<Bytes>) -> ResponseBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An empty response body.
pub(crate) fn empty() -> ResponseBody {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// A streamed response body.
pub(crate) fn stream(s: ByteStream) -> ResponseBody {
    StreamBody::new(
        s.map_ok(http_body::Frame::data)
            .map_err(|e| Box::new(e) as BoxError),
    )
    .boxed_unsync()
}

/// A request body as a byte stream (trailers are ignored).
pub(crate) fn into_stream<B>(body: B) -> ByteStream
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    TryStreamExt::map_err(BodyStream::new(body), |e| std::io::Error::other(e.into()))
        .try_filter_map(|frame| async move { Ok(frame.into_data().ok()) })
        .boxed()
}

/// Reads a whole request body of at most `limit` bytes.
pub(crate) async fn read_limited<B>(body: B, limit: u64) -> Result<Bytes, Error>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    match Limited::new(body, limit as usize).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(Error::ManifestTooLarge {
            size: limit + 1,
            limit,
        }),
        Err(e) => Err(Error::BodyRead(std::io::Error::other(e))),
    }
}
