//! Thin adapters for HTTP frameworks, each behind its feature.
//!
//! An adapter only translates the framework's request into `http` types
//! and its body into chunks (stopping as soon as they pass the receiver's
//! limit), and translates the answer back. Everything else, refusals
//! included, is [`Receiver::handle_streaming`](crate::Receiver::handle_streaming),
//! which applies the receiver's limits and read timeout: an adapter for
//! another framework needs only that method and [`BodyError`].

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
