//! [`Transport`]: how [`ApiClient`](super::ApiClient) sends its requests.
//!
//! The client builds `http::Request`s and reads `http::Response`s; a
//! transport carries them. Keeping the HTTP client behind this small trait
//! keeps the core of the crate free of any HTTP client and of any async
//! runtime. The `reqwest` feature provides one
//! ([`ReqwestTransport`](super::ReqwestTransport)); any other client can be
//! wrapped in a few lines (see `examples/custom_transport.rs`).

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http::{Request, Response};

use crate::error::BoxError;

/// What a transport must honour for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct RequestLimits {
    /// The longest the whole exchange may take: connecting, sending and
    /// reading the whole body. Past it, the transport gives up with
    /// [`TransportErrorKind::Timeout`].
    pub timeout: Duration,
    /// The largest response body accepted, in bytes. The transport stops
    /// reading as soon as the body is known to be larger (from its
    /// `Content-Length`, or once more bytes than this have arrived) and
    /// fails with [`TransportErrorKind::BodyTooLarge`]: a huge body is
    /// never held in memory.
    pub max_body_bytes: usize,
}

impl RequestLimits {
    /// Limits with the given timeout and body size.
    pub fn new(timeout: Duration, max_body_bytes: usize) -> Self {
        RequestLimits {
            timeout,
            max_body_bytes,
        }
    }
}

/// Sends one HTTP request and returns the whole response.
///
/// Implementations must honour [`RequestLimits`]: give up after
/// `timeout`, and never read more than `max_body_bytes` of a body. They
/// must not follow redirects (the API does not redirect; a redirect means
/// a wrong base URL, and following one could carry the credentials
/// elsewhere), and should reuse connections across calls.
///
/// The request carries the `Authorization` header: an implementation must
/// never log it or copy it into an error.
///
/// Closures work too, through [`transport_fn`].
///
/// ```
/// use bytes::Bytes;
/// use http::{Request, Response};
/// use smart_router_webhooks::api::{RequestLimits, Transport, TransportError};
///
/// /// Answers every request with the same body: a test double.
/// struct Canned(&'static str);
///
/// #[smart_router_webhooks::async_trait]
/// impl Transport for Canned {
///     async fn send(
///         &self,
///         _request: Request<Bytes>,
///         _limits: RequestLimits,
///     ) -> Result<Response<Bytes>, TransportError> {
///         Ok(Response::new(Bytes::from_static(self.0.as_bytes())))
///     }
/// }
/// # let _ = Canned("{}");
/// ```
///
/// A transport over hyper: `examples/custom_transport.rs`.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    /// Sends `request` and reads the response, body included.
    ///
    /// # Errors
    ///
    /// A [`TransportError`] whose kind says what failed: a timeout, no
    /// connection, a connection lost on the way, a body over the limit.
    async fn send(
        &self,
        request: Request<Bytes>,
        limits: RequestLimits,
    ) -> Result<Response<Bytes>, TransportError>;
}

#[async_trait]
impl<T: Transport + ?Sized> Transport for Arc<T> {
    async fn send(
        &self,
        request: Request<Bytes>,
        limits: RequestLimits,
    ) -> Result<Response<Bytes>, TransportError> {
        (**self).send(request, limits).await
    }
}

#[async_trait]
impl<T: Transport + ?Sized> Transport for Box<T> {
    async fn send(
        &self,
        request: Request<Bytes>,
        limits: RequestLimits,
    ) -> Result<Response<Bytes>, TransportError> {
        (**self).send(request, limits).await
    }
}

/// A [`Transport`] made of a closure; see [`transport_fn`].
#[derive(Clone)]
pub struct TransportFn<F>(F);

impl<F> fmt::Debug for TransportFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TransportFn")
    }
}

/// Makes a [`Transport`] of an async closure: for tests, or to adapt a
/// client in place.
///
/// ```
/// use bytes::Bytes;
/// use smart_router_webhooks::api::transport_fn;
/// use smart_router_webhooks::{ApiClient, EventId, FetchErrorKind};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), smart_router_webhooks::Error> {
/// let transport = transport_fn(|_request, _limits| async {
///     let body = r#"{"success":false,"error_type":"resource.event.not-found","message":"…"}"#;
///     let mut response = http::Response::new(Bytes::from(body));
///     *response.status_mut() = http::StatusCode::NOT_FOUND;
///     Ok(response)
/// });
/// let client = ApiClient::builder("proj_1", "key_1").transport(transport).build()?;
/// let err = client.fetch_event(&EventId::parse("ev_1")?).await.unwrap_err();
/// assert_eq!(err.kind(), FetchErrorKind::NotFound);
/// # Ok(()) }
/// ```
pub fn transport_fn<F, Fut>(f: F) -> TransportFn<F>
where
    F: Fn(Request<Bytes>, RequestLimits) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<Bytes>, TransportError>> + Send + 'static,
{
    TransportFn(f)
}

#[async_trait]
impl<F, Fut> Transport for TransportFn<F>
where
    F: Fn(Request<Bytes>, RequestLimits) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<Bytes>, TransportError>> + Send + 'static,
{
    async fn send(
        &self,
        request: Request<Bytes>,
        limits: RequestLimits,
    ) -> Result<Response<Bytes>, TransportError> {
        (self.0)(request, limits).await
    }
}

/// What kind of failure a [`TransportError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// The exchange did not finish within [`RequestLimits::timeout`].
    Timeout,
    /// No connection could be made: name resolution, refused, TLS
    /// handshake.
    Connect,
    /// The connection failed after it was made: reset, or closed before
    /// the whole answer arrived.
    Connection,
    /// The response body is larger than [`RequestLimits::max_body_bytes`].
    BodyTooLarge,
    /// Anything else: the request could not be sent at all.
    Other,
}

impl TransportErrorKind {
    fn describe(self) -> &'static str {
        match self {
            TransportErrorKind::Timeout => "the request timed out",
            TransportErrorKind::Connect => "could not connect",
            TransportErrorKind::Connection => "the connection failed",
            TransportErrorKind::BodyTooLarge => "the response body is over the size limit",
            TransportErrorKind::Other => "the request could not be sent",
        }
    }
}

impl fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// Why a [`Transport`] could not deliver a response.
///
/// It has a [`kind`](TransportError::kind) and, where there is one, the
/// underlying error as its [`source`](std::error::Error::source). It must
/// never carry the request's `Authorization` header.
#[derive(Debug, thiserror::Error)]
#[error("{kind}")]
pub struct TransportError {
    kind: TransportErrorKind,
    #[source]
    source: Option<BoxError>,
}

impl TransportError {
    /// A new error of `kind`, without a cause.
    pub fn new(kind: TransportErrorKind) -> Self {
        TransportError { kind, source: None }
    }

    /// The exchange did not finish in time.
    pub fn timeout() -> Self {
        TransportError::new(TransportErrorKind::Timeout)
    }

    /// No connection could be made; `source` says why.
    pub fn connect(source: impl Into<BoxError>) -> Self {
        TransportError::new(TransportErrorKind::Connect).with_source(source)
    }

    /// The connection failed on the way; `source` says how.
    pub fn connection(source: impl Into<BoxError>) -> Self {
        TransportError::new(TransportErrorKind::Connection).with_source(source)
    }

    /// The response body is over the limit.
    pub fn body_too_large() -> Self {
        TransportError::new(TransportErrorKind::BodyTooLarge)
    }

    /// Any other failure; `source` says what.
    pub fn other(source: impl Into<BoxError>) -> Self {
        TransportError::new(TransportErrorKind::Other).with_source(source)
    }

    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn transport_error_is_send_sync_static_and_keeps_its_cause() {
        fn assert_traits<T: Send + Sync + 'static + std::error::Error>() {}
        assert_traits::<TransportError>();
        let err = TransportError::connect(std::io::Error::other("refused"));
        assert_eq!(err.kind(), TransportErrorKind::Connect);
        assert_eq!(err.to_string(), "could not connect");
        assert_eq!(
            err.source().map(|s| s.to_string()).as_deref(),
            Some("refused")
        );
    }

    #[test]
    fn the_trait_is_object_safe() {
        let transport: Arc<dyn Transport> = Arc::new(transport_fn(|_, _| async {
            Err(TransportError::timeout())
        }));
        let _boxed: Box<dyn Transport> = Box::new(transport);
    }
}
