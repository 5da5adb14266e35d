//! The inbox's contract: the [`Inbox`] trait the receiver enqueues to (in
//! inbox mode) and the workers take from, and the types it speaks in; all
//! public as `inbox::…`. It sits below the receiver, so that the receiver
//! and the `inbox` module (the backends, and the `Workers` that drive the
//! receiver) both depend on it and not on each other.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use crate::error::Error;
use crate::model::EventId;

/// The default lease of an item a worker took: how long it may go without
/// renewal before another worker takes it over. As the claim's
/// default lease (120 s), so that a worker
/// taking an event over usually finds its claim free too.
pub(crate) const DEFAULT_INBOX_LEASE: Duration = Duration::from_secs(120);

/// The answer to [`Inbox::enqueue`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Enqueued {
    /// The event is queued now.
    Queued,
    /// The event was in the inbox already (waiting, in a worker's hands or
    /// waiting for a retry): it is not queued twice.
    AlreadyQueued,
}

/// An event a worker took from the inbox, under a lease.
///
/// Only the worker that took it may acknowledge, retry or dead-letter it
/// (or renew its lease): once its lease lapsed and another worker took it
/// over, those answer `false` and change nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct InboxItem {
    /// The event to process.
    pub event_id: EventId,
    /// How many attempts at it failed before this one (an attempt whose
    /// worker never settled it, its lease lapsed, counts as failed).
    pub attempts: u32,
    /// When the event was first queued (kept across retries).
    pub enqueued_at: SystemTime,
    /// The worker that took it.
    pub consumer: String,
    /// The backend's handle on this taking of the item (opaque).
    pub receipt: String,
}

impl InboxItem {
    /// An item of `event_id`, taken by `consumer`; `receipt` is the
    /// backend's own handle on it.
    pub fn new(
        event_id: EventId,
        attempts: u32,
        enqueued_at: SystemTime,
        consumer: impl Into<String>,
        receipt: impl Into<String>,
    ) -> Self {
        InboxItem {
            event_id,
            attempts,
            enqueued_at,
            consumer: consumer.into(),
            receipt: receipt.into(),
        }
    }

    /// How long ago the event was first queued (zero if the clock went
    /// back).
    pub fn age(&self) -> Duration {
        SystemTime::now()
            .duration_since(self.enqueued_at)
            .unwrap_or_default()
    }
}

/// An event set aside after its last attempt failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeadLetter {
    /// The event.
    pub event_id: EventId,
    /// The attempts made at it.
    pub attempts: u32,
    /// The last attempt's error, with its chain of causes.
    pub error: RecordedError,
    /// When the event was first queued.
    pub enqueued_at: SystemTime,
    /// When it was set aside.
    pub dead_at: SystemTime,
}

impl DeadLetter {
    /// A dead letter of `event_id`.
    pub fn new(
        event_id: EventId,
        attempts: u32,
        error: RecordedError,
        enqueued_at: SystemTime,
        dead_at: SystemTime,
    ) -> Self {
        DeadLetter {
            event_id,
            attempts,
            error,
            enqueued_at,
            dead_at,
        }
    }
}

/// Why an item goes to the dead-letter list: the failed attempts made at
/// it, and the last one's error, with its chain of causes (its
/// [`source`](std::error::Error::source)s).
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Failure<'a> {
    /// The failed attempts.
    pub attempts: u32,
    /// The last attempt's error.
    pub error: &'a (dyn std::error::Error + Send + Sync),
}

impl<'a> Failure<'a> {
    /// `attempts` failed attempts, the last with `error`.
    pub fn new(attempts: u32, error: &'a (dyn std::error::Error + Send + Sync)) -> Self {
        Failure { attempts, error }
    }
}

/// An error as an inbox keeps it: its message and each of its causes', as
/// text (a dead letter outlives the process, in a store). It is a
/// `std::error::Error` whose [`source`](std::error::Error::source) is the
/// next cause, so the chain reads as the original's did. `Display` writes
/// the message; `{:#}` adds each cause (`message: cause: cause`).
///
/// ```
/// use smart_router_webhooks::inbox::RecordedError;
///
/// let cause = std::io::Error::other("connection refused");
/// let error = smart_router_webhooks::Error::new(
///     smart_router_webhooks::ErrorKind::Store,
///     "the ledger did not answer",
/// )
/// .with_source(cause);
/// let recorded = RecordedError::new(&error);
/// assert_eq!(
///     format!("{recorded:#}"),
///     "store unavailable: the ledger did not answer: connection refused"
/// );
/// assert_eq!(
///     recorded.messages().collect::<Vec<_>>(),
///     ["store unavailable: the ledger did not answer", "connection refused"]
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedError {
    message: String,
    source: Option<Box<RecordedError>>,
}

impl RecordedError {
    /// Records `error` and each of its causes.
    pub fn new(error: &(dyn std::error::Error + '_)) -> Self {
        let mut messages = vec![error.to_string()];
        let mut cause = error.source();
        while let Some(error) = cause {
            messages.push(error.to_string());
            cause = error.source();
        }
        Self::from_messages(messages)
    }

    /// An error of `messages`: its own, then each cause's, as
    /// [`messages`](Self::messages) gave them (for a backend reading a
    /// stored one back). No message makes an empty one.
    pub fn from_messages<S: Into<String>>(messages: impl IntoIterator<Item = S>) -> Self {
        let mut messages: Vec<String> = messages.into_iter().map(Into::into).collect();
        let mut error = RecordedError {
            message: messages.pop().unwrap_or_default(),
            source: None,
        };
        while let Some(message) = messages.pop() {
            error = RecordedError {
                message,
                source: Some(Box::new(error)),
            };
        }
        error
    }

    /// The error's message, then each cause's, outermost first.
    pub fn messages(&self) -> impl Iterator<Item = &str> {
        std::iter::successors(Some(self), |e| e.source.as_deref()).map(|e| e.message.as_str())
    }
}

impl std::fmt::Display for RecordedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if f.alternate() {
            let messages: Vec<&str> = self.messages().collect();
            f.write_str(&messages.join(": "))
        } else {
            f.write_str(&self.message)
        }
    }
}

impl std::error::Error for RecordedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// How full an inbox is: cheap to read, for metrics and health checks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct InboxDepth {
    /// The events in the inbox: waiting, in a worker's hands, or waiting
    /// for a retry (dead letters not counted).
    pub items: usize,
    /// How long ago the oldest of them was first queued.
    pub oldest_age: Option<Duration>,
    /// The events in the dead-letter list.
    pub dead_letters: usize,
}

impl InboxDepth {
    /// A depth of `items` events, the oldest queued `oldest_age` ago, and
    /// `dead_letters` dead letters.
    pub fn new(items: usize, oldest_age: Option<Duration>, dead_letters: usize) -> Self {
        InboxDepth {
            items,
            oldest_age,
            dead_letters,
        }
    }
}

/// A durable queue of event IDs between the receiver (which enqueues) and
/// its workers (which take, then acknowledge, retry or dead-letter).
///
/// Backend-neutral, so that other backends (SQL, say) can follow
/// [`MemoryInbox`](crate::inbox::MemoryInbox) and `RedisInbox`; the `inbox_contract` tests of the
/// crate say what each must do. Every operation that must be atomic is one
/// call.
#[async_trait]
pub trait Inbox: Send + Sync + 'static {
    /// Queues `event` unless it is in the inbox already (waiting, taken or
    /// waiting for a retry). Answers once the event is durably queued.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) when the inbox cannot
    /// take it (unreachable, full): the delivery is answered 503, and
    /// nothing is queued.
    async fn enqueue(&self, event: &EventId) -> Result<Enqueued, Error>;

    /// Takes at most `max` events for `consumer` (a worker's name, unique
    /// among the live workers): events waiting, events whose retry is due,
    /// and events whose holder let its lease lapse (a worker that died).
    /// Each is `consumer`'s until its lease ends; an empty answer means
    /// there is nothing to do now. An event taken over from a lapsed
    /// lease comes with one more failed attempt for each time it was
    /// handed out and never settled, so that an event whose processing
    /// takes its worker down every time reaches the retry policy's
    /// maximum and is dead-lettered rather than taken forever.
    ///
    /// # Errors
    ///
    /// As for [`enqueue`](Inbox::enqueue).
    async fn take(&self, consumer: &str, max: usize) -> Result<Vec<InboxItem>, Error>;

    /// Extends the lease of `item` to a full [`lease`](Inbox::lease) from
    /// now, if its worker still holds it; answers whether it did.
    ///
    /// # Errors
    ///
    /// As for [`enqueue`](Inbox::enqueue).
    async fn renew(&self, item: &InboxItem) -> Result<bool, Error>;

    /// Removes `item` for good (it is done), if its worker still holds it;
    /// answers whether it did.
    ///
    /// # Errors
    ///
    /// As for [`enqueue`](Inbox::enqueue).
    async fn ack(&self, item: &InboxItem) -> Result<bool, Error>;

    /// Puts `item` back, to be taken again after `delay`, counting
    /// `attempts` failed attempts, if its worker still holds it; answers
    /// whether it did.
    ///
    /// # Errors
    ///
    /// As for [`enqueue`](Inbox::enqueue).
    async fn retry(&self, item: &InboxItem, delay: Duration, attempts: u32) -> Result<bool, Error>;

    /// Moves `item` to the dead-letter list with `failure` (its attempts
    /// and the last one's error, kept with its chain of causes as a
    /// [`RecordedError`]), if its worker still holds it; answers whether
    /// it did.
    /// The event is no longer in the inbox: a new enqueue queues it
    /// again.
    ///
    /// # Errors
    ///
    /// As for [`enqueue`](Inbox::enqueue).
    async fn dead_letter(&self, item: &InboxItem, failure: Failure<'_>) -> Result<bool, Error>;

    /// The oldest `max` dead letters, oldest first.
    ///
    /// # Errors
    ///
    /// As for [`enqueue`](Inbox::enqueue).
    async fn dead_letters(&self, max: usize) -> Result<Vec<DeadLetter>, Error>;

    /// Queues the dead-lettered `event` again, its attempts counted from
    /// zero, and removes its dead letter; answers whether it was a dead
    /// letter (if it is queued already, only the dead letter goes).
    ///
    /// # Errors
    ///
    /// As for [`enqueue`](Inbox::enqueue).
    async fn replay(&self, event: &EventId) -> Result<bool, Error>;

    /// How many events are in the inbox and the dead-letter list, and the
    /// age of the oldest: a few cheap reads.
    ///
    /// # Errors
    ///
    /// As for [`enqueue`](Inbox::enqueue).
    async fn depth(&self) -> Result<InboxDepth, Error>;

    /// How long a taken item stays its worker's without renewal.
    fn lease(&self) -> Duration;

    /// Tells the inbox that `consumer` stopped and takes nothing more, so
    /// it may forget the name (what it still holds is taken over once its
    /// lease lapses). Does nothing by default.
    ///
    /// # Errors
    ///
    /// As for [`enqueue`](Inbox::enqueue).
    async fn retire(&self, consumer: &str) -> Result<(), Error> {
        let _ = consumer;
        Ok(())
    }
}

/// A shared inbox is an inbox: give the receiver and your own code one
/// `Arc` of it.
#[async_trait]
impl<I: Inbox + ?Sized> Inbox for std::sync::Arc<I> {
    async fn enqueue(&self, event: &EventId) -> Result<Enqueued, Error> {
        (**self).enqueue(event).await
    }
    async fn take(&self, consumer: &str, max: usize) -> Result<Vec<InboxItem>, Error> {
        (**self).take(consumer, max).await
    }
    async fn renew(&self, item: &InboxItem) -> Result<bool, Error> {
        (**self).renew(item).await
    }
    async fn ack(&self, item: &InboxItem) -> Result<bool, Error> {
        (**self).ack(item).await
    }
    async fn retry(&self, item: &InboxItem, delay: Duration, attempts: u32) -> Result<bool, Error> {
        (**self).retry(item, delay, attempts).await
    }
    async fn dead_letter(&self, item: &InboxItem, failure: Failure<'_>) -> Result<bool, Error> {
        (**self).dead_letter(item, failure).await
    }
    async fn dead_letters(&self, max: usize) -> Result<Vec<DeadLetter>, Error> {
        (**self).dead_letters(max).await
    }
    async fn replay(&self, event: &EventId) -> Result<bool, Error> {
        (**self).replay(event).await
    }
    async fn depth(&self) -> Result<InboxDepth, Error> {
        (**self).depth().await
    }
    fn lease(&self) -> Duration {
        (**self).lease()
    }
    async fn retire(&self, consumer: &str) -> Result<(), Error> {
        (**self).retire(consumer).await
    }
}
