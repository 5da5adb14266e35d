//! What an adapter for an HTTP framework needs, and nothing that depends
//! on a framework: [`Receiver::handle_streaming`] answers a request whose
//! body is still to be read, [`BodyCollector`] reads a body in chunks
//! within the receiver's limit, [`BodyError`] says why a body could not
//! be read, and (feature `tower`) [`collect_body`] reads any
//! [`http_body::Body`].
//!
//! An adapter only translates: the framework's request head into
//! [`http::request::Parts`], the framework's body into chunks, and the
//! [`http::Response`] back. Every answer, refusals included, is the
//! receiver's, so the observer, tracing and metrics see every request;
//! the receiver applies its limits (the body limit, the read timeout of
//! [`ReceiverBuilder::read_timeout`](super::ReceiverBuilder::read_timeout)).
//! A head that does not translate faithfully is translated as far as it
//! goes (a header that cannot be carried is left out), and the receiver
//! answers it as it is.

use std::future::Future;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Response};

use super::report::Outcome;
use super::runtime::{Either, Task, first};
use super::{Receiver, rejection};

/// Why an adapter could not read a delivery's body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyError {
    /// The body is longer than the limit (413).
    TooLarge,
    /// The client sent the body too slowly (408).
    TimedOut,
    /// The connection failed while the body was read (400).
    Failed,
}

impl BodyError {
    /// The outcome the delivery gets.
    pub fn outcome(self) -> Outcome {
        match self {
            BodyError::TooLarge => Outcome::PayloadTooLarge,
            BodyError::TimedOut => Outcome::BodyTimeout,
            BodyError::Failed => Outcome::InvalidPayload,
        }
    }
}

/// `the body is over the size limit`, `the body was sent too slowly` or
/// `the connection failed while the body was read`.
impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BodyError::TooLarge => "the body is over the size limit",
            BodyError::TimedOut => "the body was sent too slowly",
            BodyError::Failed => "the connection failed while the body was read",
        })
    }
}

impl std::error::Error for BodyError {}

/// Gathers a body's chunks, refusing it as soon as it passes the limit.
///
/// A body that arrives in one chunk is kept as is, without a copy.
#[cfg_attr(not(any(feature = "tower", feature = "actix")), allow(dead_code))]
#[derive(Debug)]
pub(crate) struct BodyCollector {
    limit: usize,
    first: Option<Bytes>,
    rest: BytesMut,
}

#[cfg_attr(not(any(feature = "tower", feature = "actix")), allow(dead_code))]
impl BodyCollector {
    /// A collector accepting at most `limit` bytes.
    pub fn new(limit: usize) -> Self {
        BodyCollector {
            limit,
            first: None,
            rest: BytesMut::new(),
        }
    }

    fn len(&self) -> usize {
        self.first.as_ref().map_or(0, Bytes::len) + self.rest.len()
    }

    /// Adds a chunk.
    ///
    /// # Errors
    ///
    /// [`BodyError::TooLarge`] once the body passes the limit; nothing past
    /// the limit is kept.
    pub fn push(&mut self, chunk: Bytes) -> Result<(), BodyError> {
        if self.len() + chunk.len() > self.limit {
            return Err(BodyError::TooLarge);
        }
        match &self.first {
            None if self.rest.is_empty() => self.first = Some(chunk),
            _ => {
                if let Some(first) = self.first.take() {
                    self.rest.extend_from_slice(&first);
                }
                self.rest.extend_from_slice(&chunk);
            }
        }
        Ok(())
    }

    /// The whole body.
    pub fn finish(self) -> Bytes {
        match self.first {
            Some(first) => first,
            None => self.rest.freeze(),
        }
    }
}

/// Reads `body`'s data frames, stopping as soon as they pass `limit`: the
/// body reader of an adapter for a framework built on `http-body` (hyper,
/// axum, tower), for [`Receiver::handle_streaming`].
///
/// Requires the `tower` feature.
///
/// # Errors
///
/// [`BodyError::TooLarge`] past the limit, [`BodyError::Failed`] when the
/// body fails.
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub(crate) async fn collect_body<B: http_body::Body>(
    body: B,
    limit: usize,
) -> Result<Bytes, BodyError> {
    use bytes::Buf;
    use http_body_util::BodyExt;
    let mut body = std::pin::pin!(body);
    let mut collector = BodyCollector::new(limit);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| BodyError::Failed)?;
        if let Ok(mut data) = frame.into_data() {
            let len = data.remaining();
            collector.push(data.copy_to_bytes(len))?;
        }
    }
    Ok(collector.finish())
}

impl Receiver {
    /// Answers a delivery whose body is still to be read, for adapters:
    /// checks the method and credentials first, refuses a `Content-Length`
    /// over the limit, then reads the body with `read_body` (given the
    /// limit: it must stop past it and say [`BodyError::TooLarge`]) within
    /// the read timeout, then goes on as [`handle`](Self::handle). Nothing
    /// of the body is read for a request refused on its head.
    ///
    /// The read timeout is timed by the receiver's [`Runtime`](super::Runtime),
    /// or without one by tokio's when one is running (feature `tokio`);
    /// with neither, the body is read without a deadline.
    pub async fn handle_streaming<F, Fut>(
        &self,
        parts: http::request::Parts,
        read_body: F,
    ) -> Response<Bytes>
    where
        F: FnOnce(usize) -> Fut,
        Fut: Future<Output = Result<Bytes, BodyError>>,
    {
        let started = Instant::now();
        let limit = self.inner.body.limit;
        let checked = match self.check_head(&parts.method, &parts.headers) {
            Err(report) => Err(report),
            Ok(()) if declared_length(&parts.headers).is_some_and(|n| n > limit as u64) => {
                Err(rejection(Outcome::PayloadTooLarge, None))
            }
            Ok(()) => match self.read_in_time(read_body(limit)).await {
                Ok(body) => self.check_body(&body),
                Err(error) => Err(rejection(error.outcome(), None)),
            },
        };
        let report = self.finish(checked, started).await;
        self.respond(&report)
    }

    /// Waits for `read` at most the read timeout.
    async fn read_in_time(
        &self,
        read: impl Future<Output = Result<Bytes, BodyError>>,
    ) -> Result<Bytes, BodyError> {
        match self.timer() {
            Some(sleep) => match first(read, sleep).await {
                Either::Left(read) => read,
                Either::Right(()) => Err(BodyError::TimedOut),
            },
            None => read.await,
        }
    }

    /// A future ready at the end of the read timeout, if anything can time
    /// it.
    fn timer(&self) -> Option<Task> {
        let timeout = self.inner.body.timeout;
        if let Some(runtime) = &self.inner.runtime {
            return Some(runtime.sleep(timeout));
        }
        #[cfg(feature = "tokio")]
        if tokio::runtime::Handle::try_current().is_ok() {
            return Some(super::Runtime::sleep(&super::TokioRuntime, timeout));
        }
        None
    }
}

/// How a delivery's body is read: at most `limit` bytes, within `timeout`
/// of its head.
#[derive(Clone, Copy, Debug)]
pub(super) struct BodyRead {
    pub(super) limit: usize,
    pub(super) timeout: std::time::Duration,
}

/// The `Content-Length` of a request, if it has one that reads as a number.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_a_single_chunk_without_copying_and_joins_several() {
        let mut one = BodyCollector::new(10);
        let chunk = Bytes::from_static(b"hello");
        let ptr = chunk.as_ptr();
        one.push(chunk).unwrap();
        let body = one.finish();
        assert_eq!(body.as_ptr(), ptr);

        let mut many = BodyCollector::new(10);
        for part in ["he", "ll", "o"] {
            many.push(Bytes::from(part)).unwrap();
        }
        assert_eq!(&many.finish()[..], b"hello");
    }

    #[test]
    fn refuses_past_the_limit() {
        let mut c = BodyCollector::new(4);
        c.push(Bytes::from_static(b"abcd")).unwrap();
        assert_eq!(c.push(Bytes::from_static(b"e")), Err(BodyError::TooLarge));
        let mut c = BodyCollector::new(4);
        assert_eq!(
            c.push(Bytes::from_static(b"abcde")),
            Err(BodyError::TooLarge)
        );
        assert_eq!(BodyCollector::new(0).finish().len(), 0);
    }
}
