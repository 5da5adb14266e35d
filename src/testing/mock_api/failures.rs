//! The failures the mock can play instead of answering: what they are, how
//! a share of them is drawn, and how each is played on the wire.

use std::convert::Infallible;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use http::{Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt as _, Full};

use super::response::{MockBody, error, json_response};

/// What the mock does instead of answering normally.
///
/// Give one to [`MockApi::fail_next`] (the next N requests), to
/// [`MockApi::fail_id`] (every request about one object), or several to
/// [`MockApi::fail_randomly`] (a share of all requests). Failures come
/// before the credentials check, as an outage would.
///
/// [`MockApi::fail_next`]: super::MockApi::fail_next
/// [`MockApi::fail_id`]: super::MockApi::fail_id
/// [`MockApi::fail_randomly`]: super::MockApi::fail_randomly
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// `500 Internal Server Error` with a JSON error body.
    InternalError,
    /// `503 Service Unavailable`, with `Retry-After: <seconds>` when given.
    Unavailable {
        /// The `Retry-After` header, in seconds.
        retry_after: Option<u64>,
    },
    /// `429 Too Many Requests` with `x-ratelimit` and
    /// `x-ratelimit-remaining: 0`, plus `Retry-After` and
    /// `x-ratelimit-reset` (both in seconds) when given.
    RateLimited {
        /// The `Retry-After` header, in seconds.
        retry_after: Option<u64>,
        /// The `x-ratelimit-reset` header, in seconds.
        reset: Option<u64>,
    },
    /// Any status with the given body (sent as `application/json`, whatever
    /// it is).
    Respond {
        /// The status code.
        status: u16,
        /// The body.
        body: String,
    },
    /// Never answer: the request hangs until the client gives up or the
    /// mock is dropped.
    Hang,
    /// Close the connection without answering.
    Close,
    /// `200 OK` with an HTML page instead of JSON, as a misconfigured proxy
    /// would send.
    Garbage,
    /// `200 OK` with a body of `bytes` zero bytes, streamed in 64 KiB
    /// chunks (so a gigabyte costs the mock no memory), with or without a
    /// `Content-Length` header.
    HugeBody {
        /// The size of the body.
        bytes: u64,
        /// Whether to announce the size in `Content-Length` (otherwise the
        /// body is chunked and its size is only known by reading it).
        content_length: bool,
    },
}

/// Failures drawn at random for a share of the requests: give it to
/// [`MockApi::fail_randomly`].
///
/// [`MockApi::fail_randomly`]: super::MockApi::fail_randomly
///
/// The draw is reproducible: whether the `n`-th request for a path fails,
/// and how, depends only on the seed, the path and `n`. Concurrent
/// requests for different paths may arrive in any order and still meet the
/// same failures from one run to the next.
///
/// ```
/// use smart_router_webhooks::testing::{Failure, RandomFailures};
///
/// // 30% of requests fail: half with a 503, half with a closed connection.
/// let chaos = RandomFailures::new(0.3, 42)
///     .with(Failure::Unavailable { retry_after: Some(1) }, 1)
///     .with(Failure::Close, 1);
/// # let _ = chaos;
/// ```
#[derive(Clone, Debug, PartialEq)]
#[must_use = "give it to `MockApi::fail_randomly`"]
pub struct RandomFailures {
    rate: f64,
    seed: u64,
    failures: Vec<(Failure, u32)>,
}

impl RandomFailures {
    /// Fails about `rate` of the requests (from 0.0, none, to 1.0, all; a
    /// rate out of that range is brought into it, and NaN is 0), drawn
    /// from `seed`. Failures are drawn among those given with
    /// [`with`](RandomFailures::with); with none given, they are
    /// [`Failure::InternalError`].
    pub fn new(rate: f64, seed: u64) -> Self {
        let rate = if rate.is_nan() {
            0.0
        } else {
            rate.clamp(0.0, 1.0)
        };
        RandomFailures {
            rate,
            seed,
            failures: Vec::new(),
        }
    }

    /// Draws `failure` in proportion to `weight` among the failures given
    /// (a weight of 0 never draws it).
    pub fn with(mut self, failure: Failure, weight: u32) -> Self {
        if weight > 0 {
            self.failures.push((failure, weight));
        }
        self
    }

    /// The failure, if any, of the `n`-th request (from 1) for `path`.
    pub(super) fn draw(&self, path: &str, n: usize) -> Option<Failure> {
        let mut hash = splitmix64(self.seed);
        for byte in path.bytes() {
            hash = splitmix64(hash ^ u64::from(byte));
        }
        let hash = splitmix64(hash ^ n as u64);
        // The top 53 bits, as a fraction of 1.
        let unit = (hash >> 11) as f64 / (1u64 << 53) as f64;
        if unit >= self.rate {
            return None;
        }
        let total: u64 = self.failures.iter().map(|(_, w)| u64::from(*w)).sum();
        if total == 0 {
            return Some(Failure::InternalError);
        }
        let mut pick = splitmix64(hash) % total;
        for (failure, weight) in &self.failures {
            if pick < u64::from(*weight) {
                return Some(failure.clone());
            }
            pick -= u64::from(*weight);
        }
        None
    }
}

/// The SplitMix64 step: a fast, well-mixed 64-bit hash of `x`.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Why the mock closed a connection on purpose.
#[derive(Debug)]
pub(super) struct ClosedOnPurpose;

impl fmt::Display for ClosedOnPurpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the mock API closes the connection, as told")
    }
}

impl std::error::Error for ClosedOnPurpose {}

pub(super) async fn fail(failure: Failure) -> Result<Response<MockBody>, ClosedOnPurpose> {
    let response = match failure {
        Failure::InternalError => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "mock.internal-error",
            "The mock API fails, as told.",
        ),
        Failure::Unavailable { retry_after } => {
            let mut response = error(
                StatusCode::SERVICE_UNAVAILABLE,
                "mock.unavailable",
                "The mock API is unavailable, as told.",
            );
            if let Some(seconds) = retry_after {
                response.headers_mut().insert(RETRY_AFTER, seconds.into());
            }
            response
        }
        Failure::RateLimited { retry_after, reset } => {
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                "request.rate-limit.exceeded",
                "The mock API rate-limits, as told.",
            );
            let headers = response.headers_mut();
            headers.insert("x-ratelimit", HeaderValue::from_static("100"));
            headers.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
            if let Some(seconds) = retry_after {
                headers.insert(RETRY_AFTER, seconds.into());
            }
            if let Some(seconds) = reset {
                headers.insert("x-ratelimit-reset", seconds.into());
            }
            response
        }
        Failure::Respond { status, body } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            json_response(status, body)
        }
        Failure::Hang => std::future::pending().await,
        Failure::Close => return Err(ClosedOnPurpose),
        Failure::Garbage => {
            let mut response = Response::new(
                Full::new(Bytes::from_static(
                    b"<html><body><h1>Welcome to the proxy</h1></body></html>",
                ))
                .boxed(),
            );
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("text/html"));
            response
        }
        Failure::HugeBody {
            bytes,
            content_length,
        } => {
            let mut response = Response::new(Zeros { remaining: bytes }.boxed());
            let headers = response.headers_mut();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            if content_length {
                headers.insert(CONTENT_LENGTH, bytes.into());
            }
            response
        }
    };
    Ok(response)
}

/// A body of zero bytes, produced chunk by chunk as it is sent.
struct Zeros {
    remaining: u64,
}

static ZERO_CHUNK: [u8; 64 * 1024] = [0; 64 * 1024];

impl Body for Zeros {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let len = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(ZERO_CHUNK.len());
        self.remaining -= len as u64;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(
            &ZERO_CHUNK[..len],
        )))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}
