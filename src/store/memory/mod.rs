//! In-memory stores: the default for a single process.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{
    Applied, Claim, ClaimStore, ClaimToken, ClaimUpdate, SnapshotParts, TransactionSnapshot,
    TransactionStore,
};
use crate::error::{Error, ErrorKind};
use crate::model::{EventId, Timestamp, TransactionId, TransactionStatus};

mod bounded_map;

use bounded_map::BoundedMap;

/// How many events or transactions the in-memory stores remember by
/// default.
pub(crate) const DEFAULT_CAPACITY: usize = 100_000;

/// How long the in-memory claim store remembers a processed event by
/// default: longer than the sender's retries (about 3 days).
pub(crate) const DEFAULT_DONE_TTL: Duration = Duration::from_secs(4 * 24 * 3600);

/// Locks a mutex, recovering from poisoning: every critical section below
/// leaves the data consistent before it can panic.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What the claim store remembers of an event. A processed event (nearly
/// every one remembered) is only its expiry; an unfinished one boxes its
/// claim, so the map's slots stay small.
enum ClaimEntry {
    Done { until: Instant },
    Claimed(Box<LiveClaim>),
}

struct LiveClaim {
    token: ClaimToken,
    until: Instant,
    completed: BTreeSet<String>,
    owed: Option<String>,
}

impl ClaimEntry {
    fn new(token: ClaimToken, until: Instant) -> Self {
        ClaimEntry::Claimed(Box::new(LiveClaim {
            token,
            until,
            completed: BTreeSet::new(),
            owed: None,
        }))
    }

    /// The claim, when `token` holds it (its lease may have lapsed, as long
    /// as nobody took the event over).
    fn held_by(&mut self, token: &ClaimToken) -> Option<&mut LiveClaim> {
        match self {
            ClaimEntry::Claimed(live) if live.token == *token => Some(live),
            _ => None,
        }
    }

    /// Whether the entry may be forgotten to make room: anything but a
    /// live claim.
    fn evictable(&self, now: Instant) -> bool {
        match self {
            ClaimEntry::Claimed(live) => live.until <= now,
            ClaimEntry::Done { .. } => true,
        }
    }
}

/// A [`ClaimStore`] in the process's memory: for a single instance.
///
/// Bounded: it remembers at most `capacity` events. When full, it forgets
/// the processed event completed longest ago; only when no processed event
/// is left, the unfinished event (waiting for a retry, its lease lapsed)
/// claimed longest ago; never an event whose claim is live. It forgets a
/// processed event after `done_ttl`. A forgotten event is a new one:
/// delivered again, a processed event is processed again, and an
/// unfinished one runs again the handlers that had completed for it. Give
/// it a capacity above the events that arrive during the sender's retries.
/// Each operation is O(1) amortized.
///
/// A processed event costs about 150 bytes (its ID once, shared by the
/// map and the eviction queues, and a 32-byte map slot; an unfinished
/// event boxes its claim apart): 100,000 events take about 15 MB. With the
/// [`MemoryTransactionStore`] snapshot of the event's own transaction, about
/// 470 bytes per event in 6 allocations: measured by
/// `cargo test --test memory_footprint -- --nocapture` with a counting
/// allocator (see `BENCHMARKS.md`).
///
/// ```
/// use std::time::Duration;
/// use smart_router_webhooks::{MemoryClaimStore, MemoryTransactionStore, Receiver};
///
/// let builder = Receiver::builder()
///     // 500,000 processed events, each remembered for 4 days (the sender
///     // retries for about 3).
///     .claim_store(MemoryClaimStore::new(500_000, Duration::from_secs(4 * 24 * 3600)))
///     .transaction_store(MemoryTransactionStore::new(200_000));
/// # let _ = builder;
/// ```
pub struct MemoryClaimStore {
    inner: Mutex<BoundedMap<Arc<EventId>, ClaimEntry>>,
    done_ttl: Duration,
}

impl Default for MemoryClaimStore {
    fn default() -> Self {
        MemoryClaimStore::new(DEFAULT_CAPACITY, DEFAULT_DONE_TTL)
    }
}

impl std::fmt::Debug for MemoryClaimStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = lock(&self.inner);
        f.debug_struct("MemoryClaimStore")
            .field("remembered", &inner.len())
            .field("capacity", &inner.capacity)
            .field("done_ttl", &self.done_ttl)
            .finish()
    }
}

impl MemoryClaimStore {
    /// A store remembering at most `capacity` events (at least 1), each
    /// processed one for `done_ttl`.
    pub fn new(capacity: usize, done_ttl: Duration) -> Self {
        MemoryClaimStore {
            inner: Mutex::new(BoundedMap::new(capacity)),
            done_ttl,
        }
    }

    /// How many events the store remembers now.
    pub fn len(&self) -> usize {
        lock(&self.inner).len()
    }

    /// Whether the store remembers no event.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most events the store remembers.
    pub fn capacity(&self) -> usize {
        lock(&self.inner).capacity
    }

    /// Records the update's progress while its event is claimed (whoever
    /// holds it: the records are facts), then applies `change` to the
    /// claim if the update's token holds it; answers whether it did. A processed event keeps no
    /// records: they are forgotten when it completes, and a later claim
    /// answers `AlreadyDone`.
    fn with_progress(&self, update: ClaimUpdate<'_>, change: impl FnOnce(&mut LiveClaim)) -> bool {
        let ClaimUpdate {
            event,
            token,
            progress,
        } = update;
        let mut inner = lock(&self.inner);
        let Some(entry) = inner.get_mut(event) else {
            return false;
        };
        if let ClaimEntry::Claimed(live) = entry {
            for handler in progress.completed() {
                if !live.completed.contains(*handler) {
                    live.completed.insert((*handler).to_owned());
                }
            }
            if let (None, Some(owed)) = (&live.owed, progress.owed()) {
                live.owed = Some(owed.to_owned());
            }
        }
        match entry.held_by(token) {
            Some(live) => {
                change(live);
                true
            }
            None => false,
        }
    }
}

#[async_trait]
impl ClaimStore for MemoryClaimStore {
    async fn claim(&self, event: &EventId, lease: Duration) -> Result<Claim, Error> {
        let now = Instant::now();
        let mut inner = lock(&self.inner);
        if let Some(entry) = inner.get_mut(event) {
            match entry {
                ClaimEntry::Done { until } if *until > now => return Ok(Claim::AlreadyDone),
                ClaimEntry::Claimed(live) if live.until > now => return Ok(Claim::InProgress),
                ClaimEntry::Claimed(live) => {
                    // The lease expired: take over, keeping what completed.
                    let token = ClaimToken::unique();
                    live.token = token.clone();
                    live.until = now + lease;
                    return Ok(Claim::Acquired {
                        token,
                        completed: live.completed.clone(),
                        owed: live.owed.clone(),
                    });
                }
                ClaimEntry::Done { .. } => inner.remove(event),
            }
        }
        let token = ClaimToken::unique();
        let entry = ClaimEntry::new(token.clone(), now + lease);
        inner
            .insert(Arc::new(event.clone()), entry, |e| e.evictable(now))
            .map_err(|()| {
                Error::new(
                    ErrorKind::Store,
                    "the in-memory claim store is full of events being processed",
                )
            })?;
        Ok(Claim::Acquired {
            token,
            completed: BTreeSet::new(),
            owed: None,
        })
    }

    async fn renew(&self, update: ClaimUpdate<'_>, lease: Duration) -> Result<bool, Error> {
        let now = Instant::now();
        Ok(self.with_progress(update, |live| live.until = now + lease))
    }

    async fn complete(&self, event: &EventId, token: &ClaimToken) -> Result<bool, Error> {
        let until = Instant::now() + self.done_ttl;
        let mut inner = lock(&self.inner);
        let Some(entry) = inner.get_mut(event) else {
            return Ok(false);
        };
        if entry.held_by(token).is_none() {
            return Ok(false);
        }
        // Dropping the live claim forgets its handler and owed records.
        *entry = ClaimEntry::Done { until };
        inner.evict_first(event);
        Ok(true)
    }

    async fn release(&self, update: ClaimUpdate<'_>) -> Result<bool, Error> {
        let now = Instant::now();
        Ok(self.with_progress(update, |live| live.until = now))
    }
}

/// How many superseded events' answers the in-memory transaction store
/// keeps per transaction, for their retries.
const ANSWERS_PER_TRANSACTION: usize = 16;

/// The events applied as newer before the latest, with the `previous`
/// each was answered, the most recent last.
type Superseded = VecDeque<(EventId, Option<TransactionStatus>)>;

/// What the transaction store keeps of a transaction: its latest snapshot
/// (without the transaction's ID, which is the map's key) and the answers
/// given so far.
struct TransactionRecord {
    status: TransactionStatus,
    fired_at: Option<Timestamp>,
    event_id: EventId,
    previous: Option<TransactionStatus>,
    /// Allocated when a second event of the transaction is applied: most
    /// transactions remembered have one.
    superseded: Option<Box<Superseded>>,
}

impl TransactionRecord {
    fn new(snapshot: &TransactionSnapshot) -> Self {
        TransactionRecord {
            status: snapshot.status.clone(),
            fired_at: snapshot.fired_at.clone(),
            event_id: snapshot.event_id.clone(),
            previous: None,
            superseded: None,
        }
    }

    fn parts(&self) -> SnapshotParts<'_> {
        SnapshotParts {
            status: &self.status,
            fired_at: self.fired_at.as_ref(),
            event_id: &self.event_id,
        }
    }

    fn snapshot(&self, transaction: &TransactionId) -> TransactionSnapshot {
        TransactionSnapshot::new(
            transaction.clone(),
            self.status.clone(),
            self.fired_at.clone(),
            self.event_id.clone(),
        )
    }

    /// The answer given to `event` when it was applied as newer, if it is
    /// the latest or one of the superseded events remembered.
    fn answer(&self, event: &EventId) -> Option<&Option<TransactionStatus>> {
        if self.event_id == *event {
            return Some(&self.previous);
        }
        let superseded = self.superseded.as_deref()?;
        superseded.iter().find(|(e, _)| e == event).map(|(_, p)| p)
    }

    /// Makes `snapshot` the latest, keeping the answer of the one it
    /// supersedes; answers the status before it.
    fn supersede(&mut self, snapshot: &TransactionSnapshot) -> Option<TransactionStatus> {
        let previous = Some(std::mem::replace(&mut self.status, snapshot.status.clone()));
        let event = std::mem::replace(&mut self.event_id, snapshot.event_id.clone());
        self.fired_at.clone_from(&snapshot.fired_at);
        let answered = std::mem::replace(&mut self.previous, previous.clone());
        let superseded = self.superseded.get_or_insert_with(Box::default);
        if superseded.len() == ANSWERS_PER_TRANSACTION {
            superseded.pop_front();
        }
        superseded.push_back((event, answered));
        previous
    }
}

/// A [`TransactionStore`] in the process's memory: for a single instance.
///
/// Bounded: it remembers at most `capacity` transactions, forgetting the
/// one whose latest snapshot changed longest ago (a transaction still
/// moving is kept, however long ago it was first seen). A forgotten transaction seen again is a
/// first sighting. For each, it remembers the answers given to the last 16
/// events that newer ones superseded, so that their retries see the same
/// change; an older one applied again is stale.
///
/// A transaction seen once costs about 320 bytes (its ID once, shared by
/// the map and the eviction queue, the latest event's ID and time, and a
/// 128-byte map slot); the answers of superseded events are allocated from
/// the second event on. Measured by `tests/memory_footprint.rs` with a
/// counting allocator.
///
/// ```
/// use smart_router_webhooks::{MemoryTransactionStore, Receiver};
///
/// let builder = Receiver::builder().transaction_store(MemoryTransactionStore::new(200_000));
/// # let _ = builder;
/// ```
pub struct MemoryTransactionStore {
    inner: Mutex<BoundedMap<Arc<TransactionId>, TransactionRecord>>,
}

impl Default for MemoryTransactionStore {
    fn default() -> Self {
        MemoryTransactionStore::new(DEFAULT_CAPACITY)
    }
}

impl std::fmt::Debug for MemoryTransactionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = lock(&self.inner);
        f.debug_struct("MemoryTransactionStore")
            .field("remembered", &inner.len())
            .field("capacity", &inner.capacity)
            .finish()
    }
}

impl MemoryTransactionStore {
    /// A store remembering at most `capacity` transactions (at least 1).
    pub fn new(capacity: usize) -> Self {
        MemoryTransactionStore {
            inner: Mutex::new(BoundedMap::new(capacity)),
        }
    }

    /// How many transactions the store remembers now.
    pub fn len(&self) -> usize {
        lock(&self.inner).len()
    }

    /// Whether the store remembers no transaction.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The latest snapshot of `transaction`, if the store remembers it.
    pub fn latest(&self, transaction: &TransactionId) -> Option<TransactionSnapshot> {
        lock(&self.inner)
            .get(transaction)
            .map(|r| r.snapshot(transaction))
    }
}

#[async_trait]
impl TransactionStore for MemoryTransactionStore {
    async fn apply(&self, snapshot: &TransactionSnapshot) -> Result<Applied, Error> {
        let mut inner = lock(&self.inner);
        let transaction = &snapshot.transaction_id;
        if let Some(record) = inner.get_mut(transaction) {
            if let Some(previous) = record.answer(&snapshot.event_id) {
                return Ok(Applied::Newer {
                    previous: previous.clone(),
                });
            }
            if !snapshot.parts().is_newer_than(&record.parts()) {
                return Ok(Applied::Stale {
                    latest: record.snapshot(transaction),
                });
            }
            let previous = record.supersede(snapshot);
            inner.touch(transaction);
            return Ok(Applied::Newer { previous });
        }
        // Every record may be forgotten, so inserting cannot fail.
        let record = TransactionRecord::new(snapshot);
        let _ = inner.insert(Arc::new(transaction.clone()), record, |_| true);
        Ok(Applied::Newer { previous: None })
    }
}
