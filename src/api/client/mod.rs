//! [`ApiClient`]: the [`EventFetcher`] that talks to the Smart Router API.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use http::header::HeaderValue;
use url::Url;

use super::EventFetcher;
use super::error::FetchError;
use super::transport::{RequestLimits, Transport};
use crate::model::{Event, EventId, Transaction, TransactionId};

/// The `User-Agent` of every request.
const USER_AGENT_VALUE: &str = concat!("smart-router-webhooks/", env!("CARGO_PKG_VERSION"));

/// The longest API `message` kept in a [`FetchError`], in bytes.
const MAX_API_MESSAGE: usize = 1024;

/// What the text of an API error becomes when it contains our credentials.
const ECHOED_CREDENTIALS: &str = "[hidden: the answer contained our credentials]";

mod builder;
mod rate_limit;
mod request;
#[cfg(test)]
mod tests;

pub use builder::ApiClientBuilder;

/// A client of the Smart Router API: fetches events and transactions
/// ([`EventFetcher`]); the reconciler also lists events and their
/// delivery records through it.
///
/// Cheap to clone: clones share the configuration and the transport (and
/// so its connection pool).
///
/// ```
/// use std::time::Duration;
/// use smart_router_webhooks::ApiClient;
/// # use smart_router_webhooks::api::transport_fn;
/// # let transport = transport_fn(|_, _| async { Ok(http::Response::new(bytes::Bytes::new())) });
///
/// let client = ApiClient::builder("proj_1234", "key_live_5678")
///     .timeout(Duration::from_secs(5))
/// #   .transport(transport)
///     .build()?;
/// assert!(!format!("{client:?}").contains("key_live_5678"));
/// # Ok::<(), smart_router_webhooks::Error>(())
/// ```
#[derive(Clone)]
pub struct ApiClient {
    inner: Arc<Inner>,
}

struct Inner {
    base_url: Url,
    project_id: String,
    /// Kept only to hide it should the API ever echo it in an error.
    private_key: String,
    /// The base64 of `project_id:private_key`, for the same reason.
    token: String,
    authorization: HeaderValue,
    api_version: HeaderValue,
    limits: RequestLimits,
    transport: Arc<dyn Transport>,
}

impl fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("ApiClient")
            .field("base_url", &inner.base_url.as_str())
            .field("project_id", &inner.project_id)
            .field("private_key", &"[redacted]")
            .field("api_version", &inner.api_version)
            .field("timeout", &inner.limits.timeout)
            .field("max_response_bytes", &inner.limits.max_body_bytes)
            .finish_non_exhaustive()
    }
}

impl ApiClient {
    /// The API's base URL.
    pub(crate) const DEFAULT_BASE_URL: &'static str = "https://api.processout.com";
    /// The API version sent by default, the one the official SDKs send.
    pub(crate) const DEFAULT_API_VERSION: &'static str = "1.4.0.0";
    /// The default limit on the duration of one request.
    pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
    /// The default limit on the size of a response body: 4 MiB.
    pub(crate) const DEFAULT_MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

    /// A builder for a client that authenticates with `project_id`
    /// (`proj_…`, or `test-proj_…` for a sandbox project) and its private
    /// key.
    pub fn builder(
        project_id: impl Into<String>,
        private_key: impl Into<String>,
    ) -> ApiClientBuilder {
        ApiClientBuilder {
            project_id: project_id.into(),
            private_key: private_key.into(),
            base_url: ApiClient::DEFAULT_BASE_URL.to_owned(),
            api_version: ApiClient::DEFAULT_API_VERSION.to_owned(),
            timeout: ApiClient::DEFAULT_TIMEOUT,
            max_response_bytes: ApiClient::DEFAULT_MAX_RESPONSE_BYTES,
            transport: None,
        }
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &str {
        self.inner.base_url.as_str()
    }

    /// The project ID the client authenticates with.
    pub fn project_id(&self) -> &str {
        &self.inner.project_id
    }

    /// Fetches the event `id` (`GET /events/{id}`): what the receiver
    /// calls, through [`EventFetcher`], for each delivery.
    ///
    /// # Errors
    ///
    /// A [`FetchError`] whose kind says what failed: the event does not
    /// exist, the API refused our credentials or the request, is rate
    /// limiting or unavailable, or answered something invalid.
    pub async fn fetch_event(&self, id: &EventId) -> Result<Event, FetchError> {
        let (event, _) = self.get(&["events", id.as_str()], &[], "event").await?;
        Ok(event)
    }

    /// Fetches the current state of transaction `id`
    /// (`GET /transactions/{id}`), for a handler that needs more than its
    /// event carries.
    ///
    /// # Errors
    ///
    /// As for [`fetch_event`](Self::fetch_event).
    pub async fn fetch_transaction(&self, id: &TransactionId) -> Result<Transaction, FetchError> {
        let (transaction, _) = self
            .get(&["transactions", id.as_str()], &[], "transaction")
            .await?;
        Ok(transaction)
    }
}

#[async_trait]
impl EventFetcher for ApiClient {
    async fn fetch_event(&self, id: &EventId) -> Result<Event, FetchError> {
        ApiClient::fetch_event(self, id).await
    }
}
