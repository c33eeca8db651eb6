//! Request bodies that stop arriving are aborted: [`IdleTimeout`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::body::BoxError;

/// The error of a request body that sent nothing for too long.
#[derive(Debug)]
pub(crate) struct BodyIdle(pub(crate) Duration);

impl fmt::Display for BodyIdle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no request body data received for {} s; the request was aborted",
            self.0.as_secs().max(1)
        )
    }
}

impl std::error::Error for BodyIdle {}

/// A request body that fails with [`BodyIdle`] when the client sends no
/// data for `timeout` while the server waits for it. Only time spent
/// waiting on the client counts: a server that is slow to read (writing to
/// storage) never trips it. Without a timeout it passes the body through.
pub(crate) struct IdleTimeout<B> {
    inner: Pin<Box<B>>,
    timeout: Option<Duration>,
    /// Armed while the client keeps us waiting.
    sleep: Option<Pin<Box<Sleep>>>,
    armed: bool,
}

impl<B> IdleTimeout<B> {
    /// `body`, aborted after `timeout` without data (`None`: never).
    pub(crate) fn new(body: B, timeout: Option<Duration>) -> Self {
        Self {
            inner: Box::pin(body),
            timeout,
            sleep: None,
            armed: false,
        }
    }
}

impl<B> Body for IdleTimeout<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match this.inner.as_mut().poll_frame(cx) {
            Poll::Ready(frame) => {
                this.armed = false;
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let Some(timeout) = this.timeout else {
                    return Poll::Pending;
                };
                let deadline = Instant::now() + timeout;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if !this.armed {
                    sleep.as_mut().reset(deadline);
                    this.armed = true;
                }
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        this.armed = false;
                        this.timeout = None;
                        tracing::info!(
                            idle_secs = timeout.as_secs(),
                            "request body idle too long: aborted"
                        );
                        Poll::Ready(Some(Err(Box::new(BodyIdle(timeout)))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, StreamBody};

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_fails_and_a_flowing_one_does_not() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, BoxError>>(4);
        let stream = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        let mut body = IdleTimeout::new(StreamBody::new(stream), Some(Duration::from_secs(5)));
        let sender = tokio::spawn(async move {
            // Data every 4 s (under the timeout), then silence.
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_secs(4)).await;
                tx.send(Ok(Frame::data(Bytes::from_static(b"x"))))
                    .await
                    .unwrap();
            }
            std::future::pending::<()>().await;
        });
        for _ in 0..3 {
            let frame = body.frame().await.unwrap().unwrap();
            assert_eq!(frame.into_data().unwrap(), "x");
        }
        let err = body.frame().await.unwrap().unwrap_err();
        assert!(err.is::<BodyIdle>(), "{err}");
        assert!(err.to_string().contains("5 s"), "{err}");
        sender.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_timeout_it_waits() {
        let body = IdleTimeout::new(http_body_util::Empty::<Bytes>::new(), None);
        assert!(body.collect().await.unwrap().to_bytes().is_empty());
    }
}
