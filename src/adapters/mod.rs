//! Thin adapters for HTTP frameworks, each behind its feature.
//!
//! An adapter only translates the framework's request into `http` types,
//! reads the body within the receiver's limit (stopping as soon as it is
//! passed, `Content-Length` or not) and a read timeout, and translates the
//! answer back. Everything else is [`Receiver::handle_streaming`](crate::Receiver::handle_streaming).

use std::time::Duration;

/// Why an adapter could not read a delivery's body: what the reading
/// closure given to [`Receiver::handle_streaming`](crate::Receiver::handle_streaming)
/// returns when it fails. Here for framework authors writing an adapter of
/// their own.
pub use crate::receiver::BodyError;

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

/// The listen backlog of [`bind`]: how many connections the kernel
/// completes and queues before the server accepts them.
///
/// A sender that opens many connections at once (a retry burst after an
/// outage) overflows the backlog of 128 that `std` and tokio listen with:
/// the kernel then drops the surplus handshakes, and each of those
/// connections waits for its client's retransmission, 1 s or more, before
/// it is even accepted. The kernel caps the value at `net.core.somaxconn`
/// (4096 on Linux since 5.4, 128 before).
pub const LISTEN_BACKLOG: u32 = 1024;

/// A TCP listener on `addr` with a backlog of [`LISTEN_BACKLOG`], for
/// `axum::serve`, hyper or any tokio server: the address is reusable at
/// once after a restart (`SO_REUSEADDR` on Unix, as
/// `tokio::net::TcpListener::bind` does). actix-web's `HttpServer` has a
/// backlog of its own (2048 by default).
///
/// Must be called within a tokio runtime.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 8080));
/// let listener = smart_router_webhooks::adapters::bind(addr)?;
/// # let _ = listener; Ok(()) }
/// ```
///
/// # Errors
///
/// The I/O error of creating, binding or listening on the socket.
#[cfg(any(feature = "tower", feature = "testing"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "tower", feature = "testing"))))]
pub fn bind(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = match addr {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

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
