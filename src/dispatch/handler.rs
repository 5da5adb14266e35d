//! [`Handler`]: what users implement to act on events.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;

use super::error::HandlerError;
use crate::model::{Event, Transaction};
use crate::model::{Tracking, Transition};

/// What a handler is given: the event fetched from the API, what the
/// transaction tracker made of it, and your application's state.
///
/// Cheap to clone (the event and the state are shared).
///
/// ```
/// use smart_router_webhooks::{EventContext, HandlerError};
///
/// /// Your application's state, given once to `ReceiverBuilder::state`.
/// struct Mailer;
///
/// async fn on_refund(ctx: EventContext) -> Result<(), HandlerError> {
///     let _mailer = ctx.state::<Mailer>()?;
///     let Some(transaction) = ctx.transaction() else {
///         return Err(HandlerError::permanent("no transaction"));
///     };
///     if ctx.is_stale() {
///         return Ok(()); // a newer event of this transaction came first
///     }
///     if let Some(change) = ctx.transition() {
///         println!("{}: {:?} -> {}", transaction.id, change.from, change.to);
///     }
///     Ok(())
/// }
/// # let _ = on_refund;
/// ```
#[derive(Clone, Debug)]
pub struct EventContext {
    event: Arc<Event>,
    tracking: Tracking,
    state: Arc<http::Extensions>,
}

impl EventContext {
    /// A context for `event` with what the tracker made of it, and no
    /// state.
    pub fn new(event: Arc<Event>, tracking: Tracking) -> Self {
        EventContext {
            event,
            tracking,
            state: Arc::default(),
        }
    }

    /// The context with `state` too, as
    /// [`ReceiverBuilder::state`](crate::ReceiverBuilder::state) gives it:
    /// to call a handler directly in a test.
    pub fn with_state<T: Send + Sync + 'static>(mut self, state: T) -> Self {
        Arc::make_mut(&mut self.state).insert(Arc::new(state));
        self
    }

    /// A context sharing the receiver's state.
    pub(crate) fn with_states(mut self, states: Arc<http::Extensions>) -> Self {
        self.state = states;
        self
    }

    /// The application state of type `T` given to the receiver with
    /// [`ReceiverBuilder::state`](crate::ReceiverBuilder::state): one value
    /// shared by every handler and every event, never cloned.
    ///
    /// ```
    /// use std::sync::Mutex;
    /// use smart_router_webhooks::{EventContext, HandlerError};
    ///
    /// #[derive(Default)]
    /// struct Orders { paid: Mutex<Vec<String>> }
    ///
    /// async fn mark_paid(ctx: EventContext) -> Result<(), HandlerError> {
    ///     let orders = ctx.state::<Orders>()?;
    ///     orders.paid.lock().unwrap().push(ctx.event().id.to_string());
    ///     Ok(())
    /// }
    /// # let _ = mark_paid;
    /// ```
    ///
    /// # Errors
    ///
    /// A retryable [`HandlerError`] naming `T` when the receiver was given
    /// no state of that type (a configuration mistake: the sender retries
    /// until it is fixed).
    pub fn state<T: Send + Sync + 'static>(&self) -> Result<&T, HandlerError> {
        self.state
            .get::<Arc<T>>()
            .map(|state| &**state)
            .ok_or_else(|| {
                HandlerError::retry(format!(
                    "no state of type {} was given to the receiver (ReceiverBuilder::state)",
                    std::any::type_name::<T>()
                ))
            })
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
/// A struct handler carries its own configuration; the trait's `async fn`
/// needs the [`async_trait`](crate::async_trait) attribute, re-exported by
/// this crate (no dependency to add):
///
/// ```
/// use smart_router_webhooks::{EventContext, Handler, HandlerError, async_trait};
///
/// struct NotifyDisputes {
///     desk: String,
/// }
///
/// #[async_trait]
/// impl Handler for NotifyDisputes {
///     async fn handle(&self, ctx: &EventContext) -> Result<(), HandlerError> {
///         println!("{}: dispute on {:?}", self.desk, ctx.transaction().map(|t| &t.id));
///         Ok(())
///     }
/// }
/// # fn takes_handler(_: impl Handler) {}
/// # takes_handler(NotifyDisputes { desk: "disputes@shop.example".into() });
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
