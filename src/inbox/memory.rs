//! [`MemoryInbox`]: the inbox of one process, in memory.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;

use super::{
    DEFAULT_INBOX_LEASE, DeadLetter, Enqueued, Failure, Inbox, InboxDepth, InboxItem, RecordedError,
};
use crate::error::{Error, ErrorKind};
use crate::model::EventId;

/// The inbox of one process, in memory: the default of inbox mode.
///
/// Bounded: it holds at most `capacity` events, dead letters included;
/// when full, [`enqueue`](Inbox::enqueue) fails and the delivery is
/// answered 503 with `Retry-After` (the sender delivers again later), so
/// no event is ever dropped to make room.
///
/// **Lost on restart**: what is queued when the process stops is gone,
/// though its deliveries were acknowledged. Run the
/// [`Reconciler`](crate::reconcile::Reconciler) beside it, which walks the
/// API's event list and processes what was never done, or use
/// `RedisInbox` (feature `redis`) with persistence on. For one instance
/// only: several instances each have their own.
///
/// ```
/// use smart_router_webhooks::inbox::{Inbox, MemoryInbox};
/// # use smart_router_webhooks::EventId;
/// # async fn run() -> Result<(), smart_router_webhooks::Error> {
/// let inbox = MemoryInbox::new(10_000);
/// inbox.enqueue(&EventId::parse("ev_1")?).await?;
/// assert_eq!(inbox.depth().await?.items, 1);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct MemoryInbox {
    state: Mutex<State>,
    capacity: usize,
    lease: Duration,
}

#[derive(Debug, Default)]
struct State {
    /// Every event in the inbox, whatever its state.
    entries: HashMap<EventId, Entry>,
    /// Events waiting, oldest first (with stale positions, skipped).
    ready: VecDeque<(EventId, u64)>,
    /// Events waiting for a retry, by when it is due.
    delayed: BTreeMap<(Instant, u64), EventId>,
    /// Events in a worker's hands, by when their lease ends.
    taken: BTreeMap<(Instant, u64), EventId>,
    /// Every event in the inbox by when it was first queued.
    ages: BTreeSet<(SystemTime, EventId)>,
    /// Dead letters by when they were set aside, and their index.
    dead: BTreeMap<u64, DeadLetter>,
    dead_index: HashMap<EventId, u64>,
    /// The sequence every change of state draws from: an item's receipt.
    next: u64,
}

#[derive(Debug)]
struct Entry {
    attempts: u32,
    enqueued_at: SystemTime,
    /// The receipt of the entry's current state.
    seq: u64,
    at: Where,
}

#[derive(Debug)]
enum Where {
    Ready,
    Delayed(Instant),
    Taken { consumer: String, until: Instant },
}

impl State {
    fn next(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    /// Takes `event` out of the queue it waits in (its entry stays).
    fn unlink(&mut self, event: &EventId) {
        let Some(entry) = self.entries.get(event) else {
            return;
        };
        match entry.at {
            Where::Ready => {} // skipped when popped: its seq changes
            Where::Delayed(due) => {
                self.delayed.remove(&(due, entry.seq));
            }
            Where::Taken { until, .. } => {
                self.taken.remove(&(until, entry.seq));
            }
        }
    }

    /// Whether `item`'s worker still holds it.
    fn holds(&self, item: &InboxItem) -> bool {
        self.entries.get(&item.event_id).is_some_and(|entry| {
            matches!(&entry.at, Where::Taken { consumer, .. } if *consumer == item.consumer)
                && entry.seq.to_string() == item.receipt
        })
    }

    /// Puts `event` (in the entries) in the ready queue.
    fn make_ready(&mut self, event: &EventId) {
        let seq = self.next();
        if let Some(entry) = self.entries.get_mut(event) {
            entry.seq = seq;
            entry.at = Where::Ready;
            self.ready.push_back((event.clone(), seq));
        }
    }

    /// Queues a new event.
    fn insert(&mut self, event: &EventId) {
        let enqueued_at = SystemTime::now();
        self.entries.insert(
            event.clone(),
            Entry {
                attempts: 0,
                enqueued_at,
                seq: 0,
                at: Where::Ready,
            },
        );
        self.ages.insert((enqueued_at, event.clone()));
        self.make_ready(event);
    }

    /// Forgets `event`'s entry.
    fn remove(&mut self, event: &EventId) {
        self.unlink(event);
        if let Some(entry) = self.entries.remove(event) {
            self.ages.remove(&(entry.enqueued_at, event.clone()));
        }
    }

    /// Hands `event` to `consumer` until `until`.
    fn hand(&mut self, event: EventId, consumer: &str, until: Instant) -> Option<InboxItem> {
        let seq = self.next();
        let entry = self.entries.get_mut(&event)?;
        entry.seq = seq;
        entry.at = Where::Taken {
            consumer: consumer.to_owned(),
            until,
        };
        let item = InboxItem::new(
            event.clone(),
            entry.attempts,
            entry.enqueued_at,
            consumer,
            seq.to_string(),
        );
        self.taken.insert((until, seq), event);
        Some(item)
    }
}

impl Default for MemoryInbox {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY)
    }
}

impl MemoryInbox {
    /// How many events the inbox holds by default.
    pub(crate) const DEFAULT_CAPACITY: usize = 10_000;

    /// An inbox holding at most `capacity` events (at least 1), dead
    /// letters included, with a lease of 120 s.
    pub fn new(capacity: usize) -> Self {
        MemoryInbox {
            state: Mutex::new(State::default()),
            capacity: capacity.max(1),
            lease: DEFAULT_INBOX_LEASE,
        }
    }

    /// How long a taken event stays its worker's without renewal (default
    /// 120 s; at least a millisecond).
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(1));
        self
    }

    /// The most events it holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl Inbox for MemoryInbox {
    async fn enqueue(&self, event: &EventId) -> Result<Enqueued, Error> {
        let mut state = self.lock();
        if state.entries.contains_key(event) {
            return Ok(Enqueued::AlreadyQueued);
        }
        if state.entries.len() + state.dead.len() >= self.capacity {
            return Err(Error::new(
                ErrorKind::Store,
                "the inbox is full: its workers are behind or stopped",
            ));
        }
        state.insert(event);
        Ok(Enqueued::Queued)
    }

    async fn take(&self, consumer: &str, max: usize) -> Result<Vec<InboxItem>, Error> {
        let mut state = self.lock();
        let now = Instant::now();
        let until = now + self.lease;
        let mut items = Vec::new();
        // Retries that are due join the queue; leases that lapsed are
        // taken over first: they waited longest.
        while let Some(entry) = state.delayed.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let event = entry.remove();
            state.make_ready(&event);
        }
        while items.len() < max {
            let Some(entry) = state.taken.first_entry() else {
                break;
            };
            if entry.key().0 > now {
                break;
            }
            let event = entry.remove();
            // Its worker never settled it: that attempt counts as failed.
            if let Some(entry) = state.entries.get_mut(&event) {
                entry.attempts = entry.attempts.saturating_add(1);
            }
            items.extend(state.hand(event, consumer, until));
        }
        while items.len() < max {
            let Some((event, seq)) = state.ready.pop_front() else {
                break;
            };
            let current = state
                .entries
                .get(&event)
                .is_some_and(|e| e.seq == seq && matches!(e.at, Where::Ready));
            if current {
                items.extend(state.hand(event, consumer, until));
            }
        }
        Ok(items)
    }

    async fn renew(&self, item: &InboxItem) -> Result<bool, Error> {
        let mut state = self.lock();
        if !state.holds(item) {
            return Ok(false);
        }
        state.unlink(&item.event_id);
        let until = Instant::now() + self.lease;
        let seq = state.entries.get(&item.event_id).map_or(0, |e| e.seq);
        if let Some(entry) = state.entries.get_mut(&item.event_id) {
            entry.at = Where::Taken {
                consumer: item.consumer.clone(),
                until,
            };
        }
        state.taken.insert((until, seq), item.event_id.clone());
        Ok(true)
    }

    async fn ack(&self, item: &InboxItem) -> Result<bool, Error> {
        let mut state = self.lock();
        if !state.holds(item) {
            return Ok(false);
        }
        state.remove(&item.event_id);
        Ok(true)
    }

    async fn retry(&self, item: &InboxItem, delay: Duration, attempts: u32) -> Result<bool, Error> {
        let mut state = self.lock();
        if !state.holds(item) {
            return Ok(false);
        }
        state.unlink(&item.event_id);
        let seq = state.next();
        let due = Instant::now() + delay;
        if let Some(entry) = state.entries.get_mut(&item.event_id) {
            entry.attempts = attempts;
            entry.seq = seq;
            entry.at = Where::Delayed(due);
        }
        state.delayed.insert((due, seq), item.event_id.clone());
        Ok(true)
    }

    async fn dead_letter(&self, item: &InboxItem, failure: Failure<'_>) -> Result<bool, Error> {
        let mut state = self.lock();
        if !state.holds(item) {
            return Ok(false);
        }
        let enqueued_at = state
            .entries
            .get(&item.event_id)
            .map_or(item.enqueued_at, |e| e.enqueued_at);
        state.remove(&item.event_id);
        if let Some(old) = state.dead_index.remove(&item.event_id) {
            state.dead.remove(&old);
        }
        let seq = state.next();
        let letter = DeadLetter::new(
            item.event_id.clone(),
            failure.attempts,
            RecordedError::new(failure.error),
            enqueued_at,
            SystemTime::now(),
        );
        state.dead.insert(seq, letter);
        state.dead_index.insert(item.event_id.clone(), seq);
        Ok(true)
    }

    async fn dead_letters(&self, max: usize) -> Result<Vec<DeadLetter>, Error> {
        Ok(self.lock().dead.values().take(max).cloned().collect())
    }

    async fn replay(&self, event: &EventId) -> Result<bool, Error> {
        let mut state = self.lock();
        let Some(seq) = state.dead_index.remove(event) else {
            return Ok(false);
        };
        state.dead.remove(&seq);
        if !state.entries.contains_key(event) {
            state.insert(event);
        }
        Ok(true)
    }

    async fn depth(&self) -> Result<InboxDepth, Error> {
        let state = self.lock();
        let oldest = state
            .ages
            .first()
            .map(|(at, _)| SystemTime::now().duration_since(*at).unwrap_or_default());
        Ok(InboxDepth::new(
            state.entries.len(),
            oldest,
            state.dead.len(),
        ))
    }

    fn lease(&self) -> Duration {
        self.lease
    }
}
