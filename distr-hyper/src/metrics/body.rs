//! [`MeteredBody`]: a response body that counts its bytes as they stream.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use prometheus_client::metrics::counter::Counter;

use crate::body::{BoxError, ResponseBody};

/// Adds the length of every data frame to a counter when the frame is
/// handed to the server, so a download cut short counts what was sent.
pub(crate) struct MeteredBody {
    inner: ResponseBody,
    bytes: Counter,
}

impl MeteredBody {
    pub(crate) fn new(inner: ResponseBody, bytes: Counter) -> Self {
        Self { inner, bytes }
    }
}

impl Body for MeteredBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                self.bytes.inc_by(data.len() as u64);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
