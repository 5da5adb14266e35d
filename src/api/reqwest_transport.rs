//! [`ReqwestTransport`]: the default [`Transport`], over `reqwest` with
//! rustls (feature `reqwest`).

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use http::{Request, Response};
use rustls_platform_verifier::BuilderVerifierExt as _;

use super::transport::{RequestLimits, Transport, TransportError};
use crate::error::{Error, ErrorKind};

/// The first allocation for a body whose size is not announced.
const INITIAL_BODY_CAPACITY: usize = 16 * 1024;

/// A [`Transport`] over one `reqwest::Client`, so connections are pooled
/// and reused across requests (clones share the pool).
///
/// [`new`](ReqwestTransport::new) makes a client with TLS by rustls on the
/// `ring` crypto provider, certificates checked by the platform's verifier
/// (the system's trust store), HTTP/1.1, and redirects not followed.
/// Proxies set in the environment (`HTTPS_PROXY`, …) are honoured.
///
/// Requires the `reqwest` feature.
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
#[derive(Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
}

impl fmt::Debug for ReqwestTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReqwestTransport").finish_non_exhaustive()
    }
}

impl ReqwestTransport {
    /// A transport with its own `reqwest::Client`, configured as described
    /// on the type.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] when TLS cannot be set up (no usable
    /// trust store) or the client cannot be built.
    pub fn new() -> Result<Self, Error> {
        let tls_error =
            |e| Error::new(ErrorKind::InvalidConfig, "TLS cannot be set up").with_source(e);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(tls_error)?
            .with_platform_verifier()
            .map_err(tls_error)?
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                Error::new(ErrorKind::InvalidConfig, "the HTTP client cannot be built")
                    .with_source(e)
            })?;
        Ok(ReqwestTransport { client })
    }

    /// A transport over a client you configured (proxy, root certificates,
    /// pool settings…). [`RequestLimits`] are still applied to every
    /// request; set the client not to follow redirects
    /// (`reqwest::redirect::Policy::none()`).
    pub fn from_client(client: reqwest::Client) -> Self {
        ReqwestTransport { client }
    }
}

/// What kind of failure a reqwest error is.
fn classify(err: reqwest::Error) -> TransportError {
    if err.is_timeout() {
        TransportError::timeout().with_source(err)
    } else if err.is_connect() {
        TransportError::connect(err)
    } else if err.is_builder() {
        TransportError::other(err)
    } else {
        TransportError::connection(err)
    }
}

#[async_trait]
impl Transport for ReqwestTransport {
    async fn send(
        &self,
        request: Request<Bytes>,
        limits: RequestLimits,
    ) -> Result<Response<Bytes>, TransportError> {
        let mut request = reqwest::Request::try_from(request).map_err(TransportError::other)?;
        // reqwest's timeout runs until the body is read to its end.
        *request.timeout_mut() = Some(limits.timeout);
        let mut response = self.client.execute(request).await.map_err(classify)?;
        let max = limits.max_body_bytes;
        let announced = response.content_length();
        if announced.is_some_and(|len| len > max as u64) {
            return Err(TransportError::body_too_large());
        }
        let capacity = announced
            .map_or(INITIAL_BODY_CAPACITY, |len| len as usize)
            .min(max);
        let mut body = BytesMut::with_capacity(capacity);
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            if chunk.len() > max - body.len() {
                return Err(TransportError::body_too_large());
            }
            body.extend_from_slice(&chunk);
        }
        let mut answer = Response::new(body.freeze());
        *answer.status_mut() = response.status();
        *answer.version_mut() = response.version();
        *answer.headers_mut() = std::mem::take(response.headers_mut());
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_without_a_process_wide_crypto_provider() {
        assert!(rustls::crypto::CryptoProvider::get_default().is_none());
        let transport = ReqwestTransport::new().unwrap();
        assert_eq!(format!("{transport:?}"), "ReqwestTransport { .. }");
    }
}
