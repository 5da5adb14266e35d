//! Fetching events and transactions from the Smart Router API.
//!
//! The receiver trusts nothing in a delivery but its event ID: the event
//! itself comes from the API through an [`EventFetcher`]. [`ApiClient`] is
//! the implementation that talks to Smart Router; it builds `http`
//! requests and sends them through a [`Transport`], so any HTTP client can
//! carry them ([`ReqwestTransport`] with the `reqwest` feature).
//!
//! The client, its errors and the fetcher trait are at the crate root;
//! this module holds the rest, which a receiver's code seldom names: a
//! transport of your own ([`Transport`], [`transport_fn`] and their
//! types), and the records of an event's delivery attempts
//! ([`WebhookDelivery`], [`WebhookStatus`]).
//!
//! ```no_run
//! # #[cfg(feature = "reqwest")]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use smart_router_webhooks::{ApiClient, EventId};
//!
//! let client = ApiClient::builder("proj_1234", "key_live_5678").build()?;
//! let event = client.fetch_event(&EventId::parse("ev_rV1yRUxr8IZ4p5sumcW2fbLxRy4FTB3C")?).await?;
//! println!("{} {}", event.id, event.name);
//! # Ok(()) }
//! ```

pub(crate) mod client;
mod envelope;
pub(crate) mod error;
pub(crate) mod fetcher;
#[cfg(feature = "reconciler")]
mod listing;
#[cfg(feature = "reqwest")]
mod reqwest_transport;
mod transport;

// At the crate root: the client, its errors and the trait the receiver
// fetches through.
#[allow(unused_imports)] // used by the feature modules (reconcile, testing)
pub(crate) use client::{ApiClient, ApiClientBuilder};
pub(crate) use error::{FetchError, FetchErrorKind};
pub(crate) use fetcher::EventFetcher;
// The event list, read by the reconciler's walk.
#[cfg(feature = "reconciler")]
pub(crate) use listing::{EventPage, ListEvents, MAX_PAGE_SIZE, RateLimit};
// Here only: the records of an event's deliveries, and carrying requests
// with an HTTP client of your own.
pub use crate::model::{WebhookDelivery, WebhookStatus};
#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub use reqwest_transport::ReqwestTransport;
pub use transport::{
    RequestLimits, Transport, TransportError, TransportErrorKind, TransportFn, transport_fn,
};
