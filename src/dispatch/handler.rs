//! [`Handler`]: what users implement to act on events.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;

use crate::model::{Event, Transaction};
use crate::tracker::{Tracking, Transition};

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a handler is given: the event fetched from the API, and what the
/// transaction tracker made of it.
///
/// Cheap to clone (the event is shared).
#[derive(Clone, Debug)]
pub struct EventContext {
    event: Arc<Event>,
    tracking: Tracking,
}

impl EventContext {
    /// A context for `event` with what the tracker made of it.
    pub fn new(event: Arc<Event>, tracking: Tracking) -> Self {
        EventContext { event, tracking }
    }

    /// The event, as fetched from the API.
    pub fn event(&self) -> &Event {
        &self.event
    }

    /// The shared event, to keep beyond the handler's call.
    pub fn event_arc(&self) -> &Arc<Event> {
        &self.event
    }

    /// The transaction of a transaction event.
    pub fn transaction(&self) -> Option<&Transaction> {
        self.event.transaction()
    }

    /// The object the event is about (invoice, customer, token,
    /// subscription, payout, refund, transaction…) read into a type of
    /// yours: see [`Event::resource`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidPayload`](crate::ErrorKind::InvalidPayload) when
    /// the event has no such object or it does not read as a `T`.
    pub fn resource<T: serde::de::DeserializeOwned>(&self) -> Result<T, crate::Error> {
        self.event.resource()
    }

    /// The change of the transaction's status this event brought, if any.
    pub fn transition(&self) -> Option<&Transition> {
        self.tracking.transition.as_ref()
    }

    /// Whether a newer event of the same transaction was already seen: the
    /// event's transaction snapshot is out of date.
    pub fn is_stale(&self) -> bool {
        self.tracking.stale
    }

    /// What the tracker made of the event.
    pub fn tracking(&self) -> &Tracking {
        &self.tracking
    }
}

/// Why a handler failed, and whether the sender should deliver again.
///
/// `?` on any error makes a *retryable* failure: nothing is lost by
/// default. Use [`HandlerError::permanent`] for an event that will never be
/// handled (the delivery is acknowledged and the failure reported).
pub struct HandlerError {
    retry: bool,
    cause: Cause,
    source: BoxError,
}

/// What made a handler fail, beyond its own error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cause {
    Returned,
    Panicked,
    TimedOut,
}

impl HandlerError {
    /// A failure worth retrying: the receiver answers 500 so the sender
    /// delivers again, and handlers that succeeded are not run again.
    pub fn retry(source: impl Into<BoxError>) -> Self {
        HandlerError {
            retry: true,
            cause: Cause::Returned,
            source: source.into(),
        }
    }

    /// The retryable failure of a handler that panicked, with the panic's
    /// message.
    pub(crate) fn panicked(message: String) -> Self {
        HandlerError {
            retry: true,
            cause: Cause::Panicked,
            source: format!("the handler panicked: {message}").into(),
        }
    }

    /// The retryable failure of a handler that ran past its timeout.
    pub(crate) fn timed_out(timeout: std::time::Duration) -> Self {
        HandlerError {
            retry: true,
            cause: Cause::TimedOut,
            source: format!("the handler did not finish within {timeout:?}").into(),
        }
    }

    /// A failure that no retry can mend: the delivery is acknowledged
    /// (200) and the failure reported to the observer.
    pub fn permanent(source: impl Into<BoxError>) -> Self {
        HandlerError {
            retry: false,
            cause: Cause::Returned,
            source: source.into(),
        }
    }

    /// Whether the sender should deliver the event again.
    pub fn is_retryable(&self) -> bool {
        self.retry
    }

    /// Whether the handler panicked (a retryable failure of that handler
    /// only: the others still run).
    pub fn is_panic(&self) -> bool {
        self.cause == Cause::Panicked
    }

    /// Whether the handler ran past its timeout and was stopped (a
    /// retryable failure).
    pub fn is_timeout(&self) -> bool {
        self.cause == Cause::TimedOut
    }

    /// The underlying error.
    pub fn source(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.source
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for HandlerError {
    fn from(error: E) -> Self {
        HandlerError::retry(error)
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerError")
            .field("retry", &self.retry)
            .field("cause", &self.cause)
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match (self.cause, self.retry) {
            (Cause::Panicked, _) => "panicked",
            (Cause::TimedOut, _) => "timed out",
            (Cause::Returned, true) => "retryable",
            (Cause::Returned, false) => "permanent",
        };
        write!(f, "{kind} handler failure: {}", self.source)
    }
}

/// Acts on events. Implement it, or pass an async closure or `async fn`
/// taking an [`EventContext`]:
///
/// ```
/// use smart_router_webhooks::{EventContext, HandlerError};
///
/// async fn record_capture(ctx: EventContext) -> Result<(), HandlerError> {
///     if let Some(transaction) = ctx.transaction() {
///         println!("{} is {:?}", transaction.id, transaction.status);
///     }
///     Ok(())
/// }
/// # fn takes_handler(_: impl smart_router_webhooks::Handler) {}
/// # takes_handler(record_capture);
/// # takes_handler(|ctx: EventContext| async move { Ok(()) });
/// ```
///
/// A handler may run more than once for one event when the process dies
/// between its success and the record of it: make side effects idempotent
/// (key them by event ID) where that matters.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Handles one event.
    ///
    /// # Errors
    ///
    /// A [`HandlerError`] saying whether the sender should retry.
    async fn handle(&self, ctx: &EventContext) -> Result<(), HandlerError>;
}

#[async_trait]
impl<F, Fut> Handler for F
where
    F: Fn(EventContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    async fn handle(&self, ctx: &EventContext) -> Result<(), HandlerError> {
        (self)(ctx.clone()).await
    }
}
