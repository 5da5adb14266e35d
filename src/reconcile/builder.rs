//! [`ReconcilerBuilder`]: configuring a [`Reconciler`] once.

use std::sync::Arc;
use std::time::Duration;

use super::pace::Pace;
use super::{CursorStore, ReconcileObserver, Reconciler, StartFrom};
use crate::api::ApiClient;
use crate::error::{Error, ErrorKind};
use crate::model::EventId;
use crate::receiver::Receiver;
use crate::store::MemoryStore;

/// Configures a [`Reconciler`]; made by [`Reconciler::builder`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct ReconcilerBuilder {
    pub(super) receiver: Receiver,
    pub(super) client: ApiClient,
    pub(super) cursors: Arc<dyn CursorStore>,
    pub(super) name: String,
    pub(super) start: StartFrom,
    pub(super) until: Option<EventId>,
    pub(super) pace: Pace,
    pub(super) attempts: u32,
    pub(super) retry_delay: Duration,
    pub(super) max_retry_delay: Duration,
    pub(super) lease: Duration,
    pub(super) observer: Option<Arc<dyn ReconcileObserver>>,
}

impl ReconcilerBuilder {
    /// The defaults: see each setter.
    pub(super) fn new(receiver: Receiver, client: ApiClient) -> Self {
        ReconcilerBuilder {
            receiver,
            client,
            cursors: Arc::new(MemoryStore::default()),
            name: "events".to_owned(),
            start: StartFrom::Now,
            until: None,
            pace: Pace::default(),
            attempts: 5,
            retry_delay: Duration::from_secs(2),
            max_retry_delay: Duration::from_secs(300),
            lease: Duration::from_secs(60),
            observer: None,
        }
    }

    /// Where the cursor and the walk's lease are kept (default: a
    /// [`MemoryStore`](crate::MemoryStore) of its own). Share a
    /// `RedisStore` (feature `redis`) between
    /// instances so that one walks at a time.
    pub fn cursor_store(mut self, store: impl CursorStore) -> Self {
        self.cursors = Arc::new(store);
        self
    }

    /// The walk's name, which keys its cursor and lease (default
    /// `events`): letters, digits, `-`, `_`, `.` and `:`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Where the first run starts when no cursor is saved (default
    /// [`StartFrom::Now`]).
    pub fn start_from(mut self, start: StartFrom) -> Self {
        self.start = start;
        self
    }

    /// The last event to walk (default: none, every new event): a run
    /// stops once this event is done or reported stuck, and later runs
    /// walk nothing more (stuck events are still tried again). With
    /// [`start_from`](Self::start_from)`(StartFrom::Event(first))`, a
    /// backfill of the events from `first` to `last`, both included. An
    /// event the walk never meets (one before where it starts, or none
    /// the API lists) changes nothing: the walk goes on to the newest.
    pub fn until(mut self, last: EventId) -> Self {
        self.until = Some(last);
        self
    }

    /// At most this many API requests a second (default 2), retries
    /// included: event listings and fetches share the vendor's
    /// "secondary" rate limit with the receiver's fetches, so the walk
    /// keeps to a budget and leaves webhook deliveries their share. At
    /// least one every 10 minutes; a value that is not a positive number
    /// is ignored. The walk also waits a further second before its next
    /// request when the API reports less than a tenth of its limit left.
    pub fn requests_per_second(mut self, rps: f64) -> Self {
        self.pace = self.pace.requests_per_second(rps);
        self
    }

    /// Events per page of the event list (default 100, the API's most),
    /// brought into 1 to 100.
    pub fn page_size(mut self, events: usize) -> Self {
        self.pace = self.pace.page_size(events);
        self
    }

    /// The wait before trying an API request again after a 429, a 5xx or
    /// a network failure, when the API gave no `Retry-After` (which is
    /// heeded when given): `first`, doubling up to `max`, each drawn at
    /// random between half and all of it (default 1 s, up to 60 s). Not to
    /// be confused with [`retries`](Self::retries), for events not done.
    pub fn request_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.pace = self.pace.backoff(first, max);
        self
    }

    /// How many times one API request (a page of the list, an event) is
    /// tried before the run gives up with [`ReconcileError::Api`](super::ReconcileError::Api)
    /// (default 8, at least 1); a refusal that trying again cannot mend
    /// (credentials, an unknown event) gives up at once.
    pub fn request_attempts(mut self, attempts: u32) -> Self {
        self.pace = self.pace.max_attempts(attempts);
        self
    }

    /// How many times an event that is not done (a handler failed
    /// retryably, a store failed, a delivery holds it) is tried before it
    /// is reported stuck and passed (default 5, at least 1; a stuck event
    /// is kept in the cursor store and tried once more at the start of
    /// every later run until it is done), and the
    /// delay before the second try, doubling after each (default 2 s, up
    /// to 5 min).
    pub fn retries(mut self, attempts: u32, first_delay: Duration) -> Self {
        self.attempts = attempts.max(1);
        self.retry_delay = first_delay;
        self.max_retry_delay = self.max_retry_delay.max(first_delay);
        self
    }

    /// How long the walk's lease lasts without being renewed (default
    /// 60 s): it is renewed before each page and each event, so an
    /// instance that dies frees the walk after this long.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Receives the progress of every run.
    pub fn observer(mut self, observer: impl ReconcileObserver) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// The reconciler.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] when the name is empty or has other
    /// characters than those allowed, or the lease is zero.
    pub fn build(self) -> Result<Reconciler, Error> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.:".contains(c);
        if self.name.is_empty() || !self.name.chars().all(allowed) {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                "the reconciler's name is empty or has characters other than letters, digits, `-`, `_`, `.`, `:`",
            ));
        }
        if self.lease.is_zero() {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                "the reconciler's lease is zero",
            ));
        }
        Ok(Reconciler {
            inner: Arc::new(self),
        })
    }
}
