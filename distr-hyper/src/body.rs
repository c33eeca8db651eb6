//! Request and response bodies.

use bytes::Bytes;
use distr_core::{ByteStream, Error};
use futures::{StreamExt, TryStreamExt};
use http_body::Body;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, BodyStream, Empty, Full, StreamBody};

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

/// Most bytes read and discarded from a rejected request body, so the client
/// sees the error response rather than a reset connection.
const DRAIN_CAP: u64 = 64 * 1024 * 1024;

/// Reads and discards up to [`DRAIN_CAP`] bytes of a body. A larger body is
/// left unread; the connection is then closed after the response.
pub(crate) async fn drain<B>(body: B)
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let mut stream = into_stream(body);
    let mut seen = 0u64;
    while let Some(Ok(chunk)) = stream.next().await {
        seen += chunk.len() as u64;
        if seen > DRAIN_CAP {
            break;
        }
    }
}

/// Reads a whole request body of at most `limit` bytes. A larger body is
/// drained (up to [`DRAIN_CAP`]) and rejected as too large.
pub(crate) async fn read_limited<B>(body: B, limit: u64) -> Result<Bytes, Error>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let mut stream = into_stream(body);
    let mut buf = bytes::BytesMut::new();
    let mut seen = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(Error::BodyRead)?;
        seen += chunk.len() as u64;
        if seen > limit {
            while seen <= DRAIN_CAP {
                match stream.next().await {
                    Some(Ok(c)) => seen += c.len() as u64,
                    _ => break,
                }
            }
            return Err(Error::ManifestTooLarge { size: seen, limit });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}
