//! [`MemoryStore`]: the in-memory store, the default for a single process.
//! Its trait implementations are in `claim.rs`, `transaction.rs` and (the
//! reconciler's cursors) `../cursor.rs`.

#[cfg(feature = "reconciler")]
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::model::{EventId, TransactionId};

mod bounded_map;
mod claim;
mod transaction;

use bounded_map::BoundedMap;
use claim::ClaimEntry;
use transaction::TransactionRecord;

#[cfg(feature = "reconciler")]
use super::cursor::Walk;

/// How many events or transactions the in-memory store remembers by
/// default.
pub(crate) const DEFAULT_CAPACITY: usize = 100_000;

/// How long the in-memory store remembers a processed event by default:
/// longer than the sender's retries (about 3 days).
pub(crate) const DEFAULT_DONE_TTL: Duration = Duration::from_secs(4 * 24 * 3600);

/// Locks a mutex, recovering from poisoning: every critical section of the
/// store leaves the data consistent before it can panic.
pub(in crate::store) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Everything a receiver remembers, in the process's memory: processed
/// events ([`ClaimStore`](crate::ClaimStore)), transaction statuses
/// ([`TransactionStore`](crate::TransactionStore)) and, with the
/// `reconciler` feature, the reconciler's cursors
/// (`reconcile::CursorStore`; lost when the process stops, and the next
/// run starts as configured). For a single instance: the receiver's
/// default.
///
/// Clones share what the store remembers, so give one to each place that
/// needs it:
///
/// ```
/// use std::time::Duration;
/// use smart_router_webhooks::{MemoryStore, Receiver};
///
/// // 500,000 processed events, each remembered for 4 days (the sender
/// // retries for about 3), and 200,000 transactions.
/// let store = MemoryStore::new(500_000, Duration::from_secs(4 * 24 * 3600), 200_000);
/// let builder = Receiver::builder()
///     .claim_store(store.clone())
///     .transaction_store(store);
/// # let _ = builder;
/// ```
///
/// # Events
///
/// Bounded: it remembers at most `events` events. When full, it forgets
/// the processed event completed longest ago; only when no processed event
/// is left, the unfinished event (waiting for a retry, its lease lapsed)
/// claimed longest ago; never an event whose claim is live. It forgets a
/// processed event after `done_ttl`. A forgotten event is a new one:
/// delivered again, a processed event is processed again, and an
/// unfinished one runs again the handlers that had completed for it. Give
/// it room for more than the events that arrive during the sender's
/// retries. Each operation is O(1) amortized.
///
/// A processed event costs about 150 bytes (its ID once, shared by the
/// map and the eviction queues, and a 32-byte map slot; an unfinished
/// event boxes its claim apart): 100,000 events take about 15 MB. With the
/// snapshot of the event's own transaction, about 470 bytes per event in
/// 6 allocations: measured by
/// `cargo test --test memory_footprint -- --nocapture` with a counting
/// allocator (see `BENCHMARKS.md`).
///
/// # Transactions
///
/// Bounded: it remembers at most `transactions` transactions, forgetting
/// the one whose latest snapshot changed longest ago (a transaction still
/// moving is kept, however long ago it was first seen). A forgotten
/// transaction seen again is a first sighting. For each, it remembers the
/// answers given to the last 16 events that newer ones superseded, so
/// that their retries see the same change; an older one applied again is
/// stale.
///
/// A transaction seen once costs about 320 bytes (its ID once, shared by
/// the map and the eviction queue, the latest event's ID and time, and a
/// 128-byte map slot); the answers of superseded events are allocated from
/// the second event on. Measured by `tests/memory_footprint.rs` with a
/// counting allocator.
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

/// What the clones of a [`MemoryStore`] share.
struct Inner {
    claims: Mutex<BoundedMap<Arc<EventId>, ClaimEntry>>,
    done_ttl: Duration,
    transactions: Mutex<BoundedMap<Arc<TransactionId>, TransactionRecord>>,
    /// The reconciler's walks, by name.
    #[cfg(feature = "reconciler")]
    walks: Mutex<HashMap<String, Walk>>,
}

impl Default for MemoryStore {
    /// 100,000 events, each processed one remembered for 4 days, and
    /// 100,000 transactions.
    fn default() -> Self {
        MemoryStore::new(DEFAULT_CAPACITY, DEFAULT_DONE_TTL, DEFAULT_CAPACITY)
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let claims = lock(&self.inner.claims);
        let (events, event_capacity) = (claims.len(), claims.capacity);
        drop(claims);
        let transactions = lock(&self.inner.transactions);
        f.debug_struct("MemoryStore")
            .field("events", &events)
            .field("event_capacity", &event_capacity)
            .field("done_ttl", &self.inner.done_ttl)
            .field("transactions", &transactions.len())
            .field("transaction_capacity", &transactions.capacity)
            .finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// A store remembering at most `events` events (at least 1), each
    /// processed one for `done_ttl`, and at most `transactions`
    /// transactions (at least 1).
    pub fn new(events: usize, done_ttl: Duration, transactions: usize) -> Self {
        MemoryStore {
            inner: Arc::new(Inner {
                claims: Mutex::new(BoundedMap::new(events)),
                done_ttl,
                transactions: Mutex::new(BoundedMap::new(transactions)),
                #[cfg(feature = "reconciler")]
                walks: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// How many events the store remembers now.
    pub fn remembered_events(&self) -> usize {
        lock(&self.inner.claims).len()
    }

    /// How many transactions the store remembers now.
    pub fn remembered_transactions(&self) -> usize {
        lock(&self.inner.transactions).len()
    }

    /// The reconciler's walks, by name.
    #[cfg(feature = "reconciler")]
    pub(in crate::store) fn walks(&self) -> MutexGuard<'_, HashMap<String, Walk>> {
        lock(&self.inner.walks)
    }
}
