//! [`EventFetcher`]: the seam between the receiver and the API.

use std::sync::Arc;

use async_trait::async_trait;

use super::FetchError;
use crate::model::{Event, EventId};

/// Fetches events by ID: the seam between the receiver and the API, and
/// the one call the pipeline makes to it.
///
/// [`ApiClient`](crate::ApiClient) is the implementation that talks to Smart Router
/// (it also fetches transactions, lists events and their deliveries, with
/// methods of its own). Implement this trait for a cache, another client
/// or a test double, or pass an `async fn` or a closure taking an
/// [`&EventId`](EventId):
///
/// ```
/// use smart_router_webhooks::{Event, EventId, EventType, FetchError, Receiver};
///
/// async fn fetch(id: &EventId) -> Result<Event, FetchError> {
///     Ok(Event::new(id.clone(), EventType::TransactionCaptured))
/// }
///
/// let receiver = Receiver::builder().allow_unauthenticated().fetcher(fetch).build()?;
/// # let _ = receiver;
/// // A closure keeps what it needs by value (its future cannot borrow `id`).
/// let known = EventId::parse("ev_known")?;
/// let receiver = Receiver::builder()
///     .allow_unauthenticated()
///     .fetcher(move |id: &EventId| {
///         let found = (*id == known).then(|| Event::new(id.clone(), EventType::TransactionCaptured));
///         async move { found.ok_or_else(FetchError::not_found) }
///     })
///     .build()?;
/// # let _ = receiver;
/// # Ok::<(), smart_router_webhooks::Error>(())
/// ```
#[async_trait]
pub trait EventFetcher: Send + Sync + 'static {
    /// Fetches the event `id` (`GET /events/{id}`).
    ///
    /// # Errors
    ///
    /// A [`FetchError`] whose kind tells the receiver how to answer the
    /// delivery.
    async fn fetch_event(&self, id: &EventId) -> Result<Event, FetchError>;
}

#[async_trait]
impl<F: EventFetcher + ?Sized> EventFetcher for Arc<F> {
    async fn fetch_event(&self, id: &EventId) -> Result<Event, FetchError> {
        (**self).fetch_event(id).await
    }
}

/// An `async fn(&EventId) -> Result<Event, FetchError>`, or a closure
/// taking an `&EventId` and returning a `Send` future of that result, is
/// an [`EventFetcher`].
#[async_trait]
impl<F> EventFetcher for F
where
    F: for<'a> fetch_fn::FetchFn<'a> + Send + Sync + 'static,
{
    async fn fetch_event(&self, id: &EventId) -> Result<Event, FetchError> {
        self.call(id).await
    }
}

mod fetch_fn {
    use std::future::Future;

    use super::FetchError;
    use crate::model::{Event, EventId};

    /// A function from `&'a EventId` to a future of an event that may
    /// borrow it: what lets an `async fn(&EventId)` be an
    /// [`EventFetcher`](super::EventFetcher). Public in a private module,
    /// so it can be named in a bound and by no user.
    pub trait FetchFn<'a> {
        /// The future of the event.
        type Future: Future<Output = Result<Event, FetchError>> + Send + 'a;
        /// Calls the function.
        fn call(&self, id: &'a EventId) -> Self::Future;
    }

    impl<'a, F, Fut> FetchFn<'a> for F
    where
        F: Fn(&'a EventId) -> Fut,
        Fut: Future<Output = Result<Event, FetchError>> + Send + 'a,
    {
        type Future = Fut;
        fn call(&self, id: &'a EventId) -> Fut {
            self(id)
        }
    }
}
