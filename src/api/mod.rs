//! Fetching events and transactions from the Smart Router API.
//!
//! The receiver trusts nothing in a delivery but its event ID: the event
//! itself comes from the API through an [`EventFetcher`]. [`ApiClient`] is
//! the implementation that talks to Smart Router; it builds `http`
//! requests and sends them through a [`Transport`], so any HTTP client can
//! carry them ([`ReqwestTransport`] with the `reqwest` feature).
//!
//! ```no_run
//! # #[cfg(feature = "reqwest")]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use smart_router_webhooks::{ApiClient, EventFetcher, EventId};
//!
//! let client = ApiClient::builder("proj_1234", "key_live_5678").build()?;
//! let event = client.fetch_event(&EventId::parse("ev_rV1yRUxr8IZ4p5sumcW2fbLxRy4FTB3C")?).await?;
//! println!("{} {}", event.id, event.name);
//! # Ok(()) }
//! ```

mod client;
mod envelope;
mod error;
mod listing;
#[cfg(feature = "reqwest")]
mod reqwest_transport;
mod transport;

use std::sync::Arc;

use async_trait::async_trait;

pub use client::{ApiClient, ApiClientBuilder, EventPager};
pub use error::{FetchError, FetchErrorKind};
pub use listing::{
    EventPage, ListEvents, MAX_PAGE_SIZE, Order, RateLimit, WebhookDelivery, WebhookPage,
};
#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub use reqwest_transport::ReqwestTransport;
pub use transport::{
    RequestLimits, Transport, TransportError, TransportErrorKind, TransportFn, transport_fn,
};

use crate::model::{Event, EventId, Transaction, TransactionId};

/// Fetches events and transactions by ID: the seam between the receiver and
/// the API.
///
/// [`ApiClient`] is the implementation that talks to
/// Smart Router; implement it yourself for a cache, another client or a
/// test double.
#[async_trait]
pub trait EventFetcher: Send + Sync + 'static {
    /// Fetches the event `id` (`GET /events/{id}`).
    ///
    /// # Errors
    ///
    /// A [`FetchError`] whose kind tells the receiver how to answer the
    /// delivery.
    async fn fetch_event(&self, id: &EventId) -> Result<Event, FetchError>;

    /// Fetches the current state of transaction `id`
    /// (`GET /transactions/{id}`).
    ///
    /// # Errors
    ///
    /// As for [`fetch_event`](EventFetcher::fetch_event).
    async fn fetch_transaction(&self, id: &TransactionId) -> Result<Transaction, FetchError>;
}

#[async_trait]
impl<F: EventFetcher + ?Sized> EventFetcher for Arc<F> {
    async fn fetch_event(&self, id: &EventId) -> Result<Event, FetchError> {
        (**self).fetch_event(id).await
    }

    async fn fetch_transaction(&self, id: &TransactionId) -> Result<Transaction, FetchError> {
        (**self).fetch_transaction(id).await
    }
}

#[async_trait]
impl<F: EventFetcher + ?Sized> EventFetcher for Box<F> {
    async fn fetch_event(&self, id: &EventId) -> Result<Event, FetchError> {
        (**self).fetch_event(id).await
    }

    async fn fetch_transaction(&self, id: &TransactionId) -> Result<Transaction, FetchError> {
        (**self).fetch_transaction(id).await
    }
}
