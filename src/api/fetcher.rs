//! [`EventFetcher`]: the seam between the receiver and the API.

use std::sync::Arc;

use async_trait::async_trait;

use super::FetchError;
use crate::model::{Event, EventId, Transaction, TransactionId};

/// Fetches events and transactions by ID: the seam between the receiver and
/// the API.
///
/// [`ApiClient`](crate::ApiClient) is the implementation that talks to
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
