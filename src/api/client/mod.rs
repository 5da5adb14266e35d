//! [`ApiClient`]: the [`EventFetcher`] that talks to the Smart Router API.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use http::header::HeaderValue;
use url::Url;

use super::EventFetcher;
use super::error::FetchError;
use super::listing::{EventPage, ListEvents, Order, RateLimit, WebhookPage};
use super::transport::{RequestLimits, Transport};
use crate::model::{Event, EventId, Transaction, TransactionId};

/// The `User-Agent` of every request.
const USER_AGENT_VALUE: &str = concat!("smart-router-webhooks/", env!("CARGO_PKG_VERSION"));

/// The longest API `message` kept in a [`FetchError`], in bytes.
const MAX_API_MESSAGE: usize = 1024;

/// What the text of an API error becomes when it contains our credentials.
const ECHOED_CREDENTIALS: &str = "[hidden: the answer contained our credentials]";

mod builder;
mod pager;
mod rate_limit;
mod request;
#[cfg(test)]
mod tests;

pub use builder::ApiClientBuilder;
pub use pager::EventPager;

/// A client of the Smart Router API: fetches events and transactions
/// ([`EventFetcher`]), lists events and their delivery records.
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

    /// One page of events (`GET /events`).
    ///
    /// # Errors
    ///
    /// As for [`fetch_event`](Self::fetch_event). An item of the page that is
    /// not an event (no readable `id` or `name`) does not fail the page: it
    /// is skipped, with a warning in [`EventPage::warnings`].
    pub async fn list_events(&self, query: &ListEvents) -> Result<EventPage, FetchError> {
        let response = self.send(&["events"], &query.query_pairs()).await?;
        let rate_limit = RateLimit::from_headers(response.headers());
        let (items, has_more) =
            self.read::<Vec<Box<serde_json::value::RawValue>>>(response, "events")?;
        Ok(EventPage::read(
            items,
            has_more.unwrap_or(false),
            rate_limit,
        ))
    }

    /// A pager over `GET /events` with `query`, in `query`'s order; its
    /// `start_after`, if any, is the starting cursor.
    pub fn event_pager(&self, query: ListEvents) -> EventPager {
        EventPager::new(self.clone(), query)
    }

    /// A pager over every event after `cursor` (or over all events when
    /// `None`), the oldest first, 100 a page: the walk of a reconciliation
    /// job that saves [`EventPager::cursor`] between runs.
    pub fn events_since(&self, cursor: Option<EventId>) -> EventPager {
        let mut query = ListEvents::new()
            .order(Order::Asc)
            .limit(super::MAX_PAGE_SIZE);
        if let Some(cursor) = cursor {
            query = query.start_after(cursor);
        }
        self.event_pager(query)
    }

    /// The delivery attempts of event `id` to its webhook URLs
    /// (`GET /events/{id}/webhooks`).
    ///
    /// # Errors
    ///
    /// As for [`fetch_event`](Self::fetch_event).
    pub async fn event_webhooks(&self, id: &EventId) -> Result<WebhookPage, FetchError> {
        let (webhooks, has_more) = self
            .get(&["events", id.as_str(), "webhooks"], &[], "webhooks")
            .await?;
        Ok(WebhookPage {
            webhooks,
            has_more: has_more.unwrap_or(false),
        })
    }
}

#[async_trait]
impl EventFetcher for ApiClient {
    async fn fetch_event(&self, id: &EventId) -> Result<Event, FetchError> {
        ApiClient::fetch_event(self, id).await
    }
}
