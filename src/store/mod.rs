//! Where the receiver remembers what it has done: which events were
//! processed (and by which handlers), and the last known status of each
//! transaction.
//!
//! Both are traits, so one process can keep them in memory (the default)
//! and several instances behind a load balancer can share them (Redis,
//! feature `redis`). Every operation that must be atomic is one call of the
//! trait, so an implementation can make it one command or script.

#[cfg(feature = "reconciler")]
mod cursor;
mod memory;
#[cfg(feature = "redis")]
mod redis;
#[cfg(all(feature = "redis", feature = "reconciler"))]
mod redis_cursor;

use std::collections::BTreeSet;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::Error;
use crate::model::{EventId, Timestamp, TransactionId, TransactionStatus};

#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use self::redis::{RedisClaimStore, RedisStoreBuilder, RedisStores, RedisTransactionStore};
#[cfg(feature = "reconciler")]
#[cfg_attr(docsrs, doc(cfg(feature = "reconciler")))]
pub use cursor::{Cursor, CursorStore, MemoryCursorStore};
pub use memory::{MemoryClaimStore, MemoryTransactionStore};
#[cfg(all(feature = "redis", feature = "reconciler"))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "redis", feature = "reconciler"))))]
pub use redis_cursor::RedisCursorStore;

/// Proof that a claim was acquired: only its holder may complete or release
/// the claim, so a process whose lease expired cannot release the claim of
/// the process that took over.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClaimToken(String);

impl ClaimToken {
    /// A token with the given text. Stores make them unique per claim.
    pub fn new(text: impl Into<String>) -> Self {
        ClaimToken(text.into())
    }

    /// A token unique within this process and, with overwhelming
    /// likelihood, across processes: process ID, time and a counter.
    pub fn unique() -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        ClaimToken(format!("{:x}-{nanos:x}-{n:x}", std::process::id()))
    }

    /// The token's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The answer to [`ClaimStore::claim`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Claim {
    /// The caller holds the event until the lease expires, and must process
    /// it, skipping the handlers in `completed` (they succeeded on an
    /// earlier delivery).
    Acquired {
        /// Proof of the claim, for [`ClaimStore::complete`] and
        /// [`ClaimStore::release`].
        token: ClaimToken,
        /// The handlers that already completed for this event.
        completed: BTreeSet<String>,
    },
    /// The event was processed: the delivery is a duplicate.
    AlreadyDone,
    /// Another delivery holds the event right now.
    InProgress,
}

/// Remembers which events were processed, so that a redelivered event runs
/// no handler twice.
///
/// A claim is a lease: if its holder dies, the claim expires and a later
/// delivery can take the event over.
#[async_trait]
pub trait ClaimStore: Send + Sync + 'static {
    /// Tries to claim `event` for `lease`, atomically.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) when the store cannot
    /// answer (unreachable, full); the receiver then asks the sender to
    /// retry.
    async fn claim(&self, event: &EventId, lease: Duration) -> Result<Claim, Error>;

    /// Records that `handler` completed for `event`, so a later claim skips
    /// it. Recorded whoever holds the claim: it is a fact about the handler.
    ///
    /// # Errors
    ///
    /// As for [`claim`](ClaimStore::claim).
    async fn record_handler(&self, event: &EventId, handler: &str) -> Result<(), Error>;

    /// Marks `event` processed, if `token` still holds its claim, and
    /// forgets its per-handler records. Later claims answer
    /// [`Claim::AlreadyDone`] for as long as the store remembers it.
    ///
    /// # Errors
    ///
    /// As for [`claim`](ClaimStore::claim).
    async fn complete(&self, event: &EventId, token: &ClaimToken) -> Result<(), Error>;

    /// Gives the claim up without completing it, if `token` still holds
    /// it, so that the next delivery can claim the event at once.
    ///
    /// # Errors
    ///
    /// As for [`claim`](ClaimStore::claim).
    async fn release(&self, event: &EventId, token: &ClaimToken) -> Result<(), Error>;
}

/// What the receiver knows of a transaction: its status as of one event.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransactionSnapshot {
    /// The transaction.
    pub transaction_id: TransactionId,
    /// Its status in the event.
    pub status: TransactionStatus,
    /// When that event was fired.
    pub fired_at: Option<Timestamp>,
    /// The event the snapshot comes from.
    pub event_id: EventId,
}

impl TransactionSnapshot {
    /// A snapshot of `transaction_id` in `status`, as of `event_id` fired at
    /// `fired_at`.
    pub fn new(
        transaction_id: TransactionId,
        status: TransactionStatus,
        fired_at: Option<Timestamp>,
        event_id: EventId,
    ) -> Self {
        TransactionSnapshot {
            transaction_id,
            status,
            fired_at,
            event_id,
        }
    }

    /// The key snapshots are ordered by: when the event was fired (to the
    /// nanosecond; an unknown time is older than any known one), then where
    /// the status stands in the lifecycle.
    pub fn order_key(&self) -> (Option<i128>, Option<u8>) {
        (
            self.fired_at.as_ref().and_then(Timestamp::unix_nanos),
            self.status.lifecycle_rank(),
        )
    }

    /// Whether this snapshot is newer than `other`: its
    /// [`order_key`](Self::order_key) is greater.
    pub fn is_newer_than(&self, other: &TransactionSnapshot) -> bool {
        self.order_key() > other.order_key()
    }
}

/// The answer to [`TransactionStore::apply`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Applied {
    /// The snapshot became the transaction's latest. `previous` is the
    /// latest before it, `None` on the first sighting. Applying the same
    /// event again answers the same, even after newer snapshots, so a
    /// retried delivery sees the same change (and a handler that failed
    /// on it runs again).
    Newer {
        /// The status before this snapshot, `None` on the first sighting.
        previous: Option<TransactionStatus>,
    },
    /// A newer snapshot is already known: this one is out of date and
    /// changes nothing.
    Stale {
        /// The latest snapshot known.
        latest: TransactionSnapshot,
    },
}

/// Remembers the latest known status of each transaction, so that events
/// delivered out of order never move a transaction backwards.
#[async_trait]
pub trait TransactionStore: Send + Sync + 'static {
    /// Stores `snapshot` if it is newer than the one known
    /// ([`TransactionSnapshot::is_newer_than`]), atomically
    /// (compare-and-set). A snapshot of an event that was applied as
    /// newer answers as it did the first time, whether it is still the
    /// latest or newer ones superseded it since (a store may forget such
    /// answers after a while, as it forgets transactions: the event is then
    /// stale).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) when the store cannot
    /// answer.
    async fn apply(&self, snapshot: &TransactionSnapshot) -> Result<Applied, Error>;

    /// The latest snapshot of `transaction`, if one is known.
    ///
    /// # Errors
    ///
    /// As for [`apply`](TransactionStore::apply).
    async fn latest(
        &self,
        transaction: &TransactionId,
    ) -> Result<Option<TransactionSnapshot>, Error>;
}

/// A shared store is a store: give several receivers one `Arc` of it.
#[async_trait]
impl<S: ClaimStore + ?Sized> ClaimStore for std::sync::Arc<S> {
    async fn claim(&self, event: &EventId, lease: Duration) -> Result<Claim, Error> {
        (**self).claim(event, lease).await
    }

    async fn record_handler(&self, event: &EventId, handler: &str) -> Result<(), Error> {
        (**self).record_handler(event, handler).await
    }

    async fn complete(&self, event: &EventId, token: &ClaimToken) -> Result<(), Error> {
        (**self).complete(event, token).await
    }

    async fn release(&self, event: &EventId, token: &ClaimToken) -> Result<(), Error> {
        (**self).release(event, token).await
    }
}

/// A shared store is a store: give several receivers one `Arc` of it.
#[async_trait]
impl<S: TransactionStore + ?Sized> TransactionStore for std::sync::Arc<S> {
    async fn apply(&self, snapshot: &TransactionSnapshot) -> Result<Applied, Error> {
        (**self).apply(snapshot).await
    }

    async fn latest(
        &self,
        transaction: &TransactionId,
    ) -> Result<Option<TransactionSnapshot>, Error> {
        (**self).latest(transaction).await
    }
}
