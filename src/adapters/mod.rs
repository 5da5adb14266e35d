//! Thin adapters for HTTP frameworks, each behind its feature.
//!
//! An adapter only translates the framework's request into `http` types,
//! reads the body within the receiver's limit (stopping as soon as it is
//! passed, `Content-Length` or not) and a read timeout, and translates the
//! answer back. Everything else is [`Receiver::handle_streaming`](crate::Receiver::handle_streaming).

use std::time::Duration;

#[cfg(feature = "actix")]
#[cfg_attr(docsrs, doc(cfg(feature = "actix")))]
pub mod actix;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod tower;

/// How long an adapter waits for a delivery's whole body by default; a
/// slower client is answered 408 and the connection freed.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `read` with a deadline, as a body read.
#[cfg(any(feature = "tower", feature = "actix"))]
async fn with_read_timeout(
    timeout: Duration,
    read: impl std::future::Future<Output = Result<bytes::Bytes, crate::BodyError>>,
) -> Result<bytes::Bytes, crate::BodyError> {
    tokio::time::timeout(timeout, read)
        .await
        .unwrap_or(Err(crate::BodyError::TimedOut))
}
