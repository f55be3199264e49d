//! Request bodies, bounded in size and in time. Headers have to arrive within the header-read
//! timeout; without a deadline of its own a body could then trickle in a byte at a time for
//! ever (300 connections that sent headers and one byte once took the server to its file
//! limit). Every body must arrive whole within the body-read timeout, counted from when its
//! headers arrived; a reader that runs out of time answers 408, and the connection, whose body
//! was never read to its end, is closed.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use hyper::body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What a body reader reports when the body did not arrive whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFailure {
    /// Longer than the reader's limit: 413.
    TooLarge,
    /// Not all there within the body-read timeout: 408.
    TimedOut,
}

/// The error a body gives once its deadline has passed.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
struct BodyTimedOut;

/// Puts a deadline on `body` if the request has one (a request without `Content-Length` or
/// `Transfer-Encoding` has none, and pays nothing).
pub fn with_deadline<B>(request: hyper::Request<B>, timeout: Duration) -> axum::extract::Request
where
    B: hyper::body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    let has_body = request.headers().contains_key(hyper::header::TRANSFER_ENCODING)
        || request.headers().get(hyper::header::CONTENT_LENGTH).is_some_and(|length| length.as_bytes() != b"0");
    if has_body {
        let deadline = Instant::now() + timeout;
        request.map(|inner| Body::new(DeadlineBody { inner, deadline, sleep: None }))
    } else {
        request.map(Body::new)
    }
}

struct DeadlineBody<B> {
    inner: B,
    deadline: Instant,
    /// Created the first time the body has to wait: most bodies arrive with their headers and
    /// never arm a timer.
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<B> hyper::body::Body for DeadlineBody<B>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let sleep = this.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimedOut)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The whole body, at most `limit` bytes, within the deadline [`with_deadline`] set.
pub async fn read(body: Body, limit: usize) -> Result<Bytes, BodyFailure> {
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        // The deadline's error arrives wrapped by each layer the body passed through.
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&error);
        while let Some(current) = cause {
            if current.is::<BodyTimedOut>() {
                return BodyFailure::TimedOut;
            }
            cause = current.source();
        }
        BodyFailure::TooLarge
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client that sends one byte of its body and then nothing.
    struct Stalled {
        sent: bool,
    }

    impl hyper::body::Body for Stalled {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            if self.sent {
                Poll::Pending
            } else {
                self.sent = true;
                Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"{")))))
            }
        }
    }

    fn request<B>(body: B, length: usize) -> hyper::Request<B> {
        hyper::Request::builder().header("content-length", length).body(body).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stalls_times_out_and_one_that_arrives_is_read() {
        let stalled = with_deadline(request(Stalled { sent: false }, 10), Duration::from_secs(2)).into_body();
        assert_eq!(read(stalled, 1024).await, Err(BodyFailure::TimedOut));

        let whole = with_deadline(request(Body::from("hello"), 5), Duration::from_secs(2)).into_body();
        assert_eq!(read(whole, 1024).await, Ok(Bytes::from_static(b"hello")));
        let long = with_deadline(request(Body::from("hello"), 5), Duration::from_secs(2)).into_body();
        assert_eq!(read(long, 4).await, Err(BodyFailure::TooLarge));
    }
}
