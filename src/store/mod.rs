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
#[cfg(feature = "redis")]
mod redis_connection;
#[cfg(all(feature = "redis", feature = "reconciler"))]
mod redis_cursor;

use std::collections::BTreeSet;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::Error;
use crate::model::{EventId, Timestamp, TransactionId, TransactionStatus};

/// The shared Redis connection, for the crate's other Redis backends (the
/// inbox).
#[cfg(feature = "redis")]
pub(crate) use self::redis::Connection as RedisConnection;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use self::redis::{RedisStore, RedisStoreBuilder};
#[cfg(feature = "reconciler")]
#[cfg_attr(docsrs, doc(cfg(feature = "reconciler")))]
pub use cursor::{Cursor, CursorStore, WalkLease};
pub use memory::MemoryStore;

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
        static PROCESS: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
        let process = *PROCESS.get_or_init(std::process::id);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        ClaimToken(format!("{process:x}-{nanos:x}-{n:x}"))
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
    /// earlier delivery) and running what `owed` says an earlier attempt
    /// owed.
    Acquired {
        /// Proof of the claim, for [`ClaimStore::complete`] and
        /// [`ClaimStore::release`].
        token: ClaimToken,
        /// The handlers that already completed for this event.
        completed: BTreeSet<String>,
        /// What an earlier attempt recorded as [`DeliveryProgress::owed`], if
        /// any: opaque text written by the receiver.
        owed: Option<String>,
    },
    /// The event was processed: the delivery is a duplicate.
    AlreadyDone,
    /// Another delivery holds the event right now.
    InProgress,
}

/// What a delivery records of its work on the event it holds, with
/// [`ClaimStore::renew`] and [`ClaimStore::release`]: the handlers that
/// completed so far (each a fact, whoever holds the claim now) and what
/// its processing owes.
///
/// Each renewal and the release carry everything recorded so far in the
/// delivery, not only what is new: recording is idempotent (a set of
/// handlers; the first owed text wins), so a store that missed one
/// renewal, or ignores renewals, loses nothing the release carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeliveryProgress<'a> {
    completed: &'a [&'a str],
    owed: Option<&'a str>,
}

impl<'a> DeliveryProgress<'a> {
    /// Nothing to record.
    pub const NONE: DeliveryProgress<'static> = DeliveryProgress {
        completed: &[],
        owed: None,
    };

    /// The handlers in `completed` completed (succeeded, or failed for
    /// good) and the processing owes `owed`.
    pub fn new(completed: &'a [&'a str], owed: Option<&'a str>) -> Self {
        DeliveryProgress { completed, owed }
    }

    /// The handlers that completed for the event: a later claim returns
    /// them in [`Claim::Acquired::completed`] and they are not run again.
    /// Record them while the event is claimed and not done, whoever holds
    /// the claim (they are facts about the handlers), and keep them until
    /// the event is done. A store may forget a claim that recorded nothing
    /// once its lease ended (so the claims of events never processed do
    /// not linger): nothing is then recorded.
    pub fn completed(&self) -> &'a [&'a str] {
        self.completed
    }

    /// What the processing owes (the status change it saw, the handlers it
    /// planned: opaque text written by the receiver). Record it under the
    /// same conditions as [`completed`](Self::completed), unless something
    /// is recorded already: the first attempt's record wins. Later claims
    /// return it in [`Claim::Acquired::owed`], so a retry runs what the
    /// first attempt owed even when the transaction store forgot the
    /// transaction.
    pub fn owed(&self) -> Option<&'a str> {
        self.owed
    }

    /// Whether there is nothing to record.
    pub fn is_empty(&self) -> bool {
        self.completed.is_empty() && self.owed.is_none()
    }
}

/// What a delivery holding a claim sends with a renewal
/// ([`ClaimStore::renew`]) and with the release ([`ClaimStore::release`]):
/// the event, the token that holds its claim, and the delivery's
/// progress to record.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct ClaimUpdate<'a> {
    /// The claimed event.
    pub event: &'a EventId,
    /// The token of the claim, from [`Claim::Acquired`].
    pub token: &'a ClaimToken,
    /// What the delivery records (see [`DeliveryProgress`]).
    pub progress: DeliveryProgress<'a>,
}

impl<'a> ClaimUpdate<'a> {
    /// `progress` on `event`, claimed with `token`.
    pub fn new(event: &'a EventId, token: &'a ClaimToken, progress: DeliveryProgress<'a>) -> Self {
        ClaimUpdate {
            event,
            token,
            progress,
        }
    }
}

/// Remembers which events were processed, so that a redelivered event runs
/// no handler twice.
///
/// A claim is a lease: if its holder dies, the claim expires and a later
/// delivery can take the event over. A delivery costs the store one
/// [`claim`](Self::claim), then one [`complete`](Self::complete) or
/// [`release`](Self::release) (which records the delivery's
/// [`DeliveryProgress`]), and one [`renew`](Self::renew) per third of the lease
/// its handlers run past the first: make each one command or script.
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

    /// Records `update.progress` (see [`DeliveryProgress`]), then extends
    /// the claim of `update.event` to `lease` from now if `update.token`
    /// still holds it; answers
    /// whether it did. The receiver renews the claims of the events it
    /// processes every third of the lease, so a handler longer than the
    /// lease is never run twice at once, and the handlers that completed
    /// while a sibling still runs are recorded within a third of the
    /// lease.
    ///
    /// The default renews and records nothing, and answers `true`: with
    /// such a store, give the receiver a lease longer than your handlers
    /// take; the progress is then recorded by
    /// [`release`](ClaimStore::release) alone.
    ///
    /// # Errors
    ///
    /// As for [`claim`](ClaimStore::claim).
    async fn renew(&self, update: ClaimUpdate<'_>, lease: Duration) -> Result<bool, Error> {
        let _ = (update, lease);
        Ok(true)
    }

    /// Marks `event` processed, if `token` still holds its claim, and
    /// forgets its per-handler and owed records. Later claims answer
    /// [`Claim::AlreadyDone`] for as long as the store remembers it.
    /// Answers whether the claim was still `token`'s (if not, nothing
    /// changed).
    ///
    /// # Errors
    ///
    /// As for [`claim`](ClaimStore::claim).
    async fn complete(&self, event: &EventId, token: &ClaimToken) -> Result<bool, Error>;

    /// Records `update.progress` (see [`DeliveryProgress`]), then gives the
    /// claim up without completing it, if `update.token` still holds it, so
    /// that the next
    /// delivery can claim the event at once and skip what completed.
    /// Answers whether the claim was still `token`'s.
    ///
    /// # Errors
    ///
    /// As for [`claim`](ClaimStore::claim).
    async fn release(&self, update: ClaimUpdate<'_>) -> Result<bool, Error>;
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

    /// What snapshots are ordered by: when the event was fired, to the
    /// nanosecond (`None` when the time is absent or cannot be read), and
    /// where the status stands in the lifecycle
    /// ([`TransactionStatus::lifecycle_rank`], `None` for an unknown
    /// status, which ranks below every known one). The event ID breaks
    /// the remaining ties: see [`is_newer_than`](Self::is_newer_than).
    pub(crate) fn order_key(&self) -> (Option<i128>, Option<u8>) {
        self.parts().order_key()
    }

    /// Whether this snapshot's time could be read: when not, it is ordered
    /// by lifecycle alone.
    pub(crate) fn has_readable_time(&self) -> bool {
        self.order_key().0.is_some()
    }

    /// Whether this snapshot is newer than `other`, a snapshot of another
    /// event of the same transaction. The first rule that tells them
    /// apart decides:
    ///
    /// 1. When both times can be read, the later time is newer; at the
    ///    same instant, the higher lifecycle rank.
    /// 2. When either time cannot be read, the higher lifecycle rank is
    ///    newer; at the same rank, the snapshot without a readable time
    ///    (it is never assumed older than one with a time).
    /// 3. Still tied, a snapshot in the same status as `other`, when the
    ///    lifecycle table lets that status follow itself (`refunded`: a
    ///    further partial refund), is newer, so that either of two such
    ///    events arriving second is a change.
    /// 4. Otherwise the greater event ID, compared byte by byte, is newer.
    ///
    /// So for any two events exactly one is newer than the other, except
    /// under rule 3, where the two have the same status, and the final
    /// status of a transaction is the same whatever the arrival order of
    /// its events. The one exception: a transaction whose timed events go
    /// back in the lifecycle (a second dispute after `solved`, `completed`
    /// after a retrieval request or a fraud notification) and that also
    /// has an event without a readable time ranked between the two: the
    /// three may then each be newer than another, and the arrival order
    /// decides. [`Tracking::time_unreadable`](crate::Tracking) flags every
    /// event ordered by rule 2.
    pub fn is_newer_than(&self, other: &TransactionSnapshot) -> bool {
        self.parts().is_newer_than(&other.parts())
    }

    pub(crate) fn parts(&self) -> SnapshotParts<'_> {
        SnapshotParts {
            status: &self.status,
            fired_at: self.fired_at.as_ref(),
            event_id: &self.event_id,
        }
    }
}

/// What orders a snapshot, borrowed: so a store can compare what it keeps
/// without rebuilding a [`TransactionSnapshot`].
pub(crate) struct SnapshotParts<'a> {
    pub(crate) status: &'a TransactionStatus,
    pub(crate) fired_at: Option<&'a Timestamp>,
    pub(crate) event_id: &'a EventId,
}

impl SnapshotParts<'_> {
    fn order_key(&self) -> (Option<i128>, Option<u8>) {
        (
            self.fired_at.and_then(Timestamp::unix_nanos),
            self.status.lifecycle_rank(),
        )
    }

    /// [`TransactionSnapshot::is_newer_than`].
    pub(crate) fn is_newer_than(&self, other: &SnapshotParts<'_>) -> bool {
        use std::cmp::Ordering;
        let (time, rank) = self.order_key();
        let (other_time, other_rank) = other.order_key();
        let order = match (time, other_time) {
            (Some(time), Some(other_time)) => time.cmp(&other_time).then(rank.cmp(&other_rank)),
            // `false < true`: the snapshot without a time is newer.
            _ => rank
                .cmp(&other_rank)
                .then(other_time.is_some().cmp(&time.is_some())),
        };
        let order = order.then_with(|| {
            if self.status == other.status && self.status.can_transition_to(other.status) {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        });
        let order = order.then_with(|| {
            self.event_id
                .as_str()
                .as_bytes()
                .cmp(other.event_id.as_str().as_bytes())
        });
        order == Ordering::Greater
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
}

/// A shared store is a store: give several receivers one `Arc` of it.
#[async_trait]
impl<S: ClaimStore + ?Sized> ClaimStore for std::sync::Arc<S> {
    async fn claim(&self, event: &EventId, lease: Duration) -> Result<Claim, Error> {
        (**self).claim(event, lease).await
    }

    async fn renew(&self, update: ClaimUpdate<'_>, lease: Duration) -> Result<bool, Error> {
        (**self).renew(update, lease).await
    }

    async fn complete(&self, event: &EventId, token: &ClaimToken) -> Result<bool, Error> {
        (**self).complete(event, token).await
    }

    async fn release(&self, update: ClaimUpdate<'_>) -> Result<bool, Error> {
        (**self).release(update).await
    }
}

/// A shared store is a store: give several receivers one `Arc` of it.
#[async_trait]
impl<S: TransactionStore + ?Sized> TransactionStore for std::sync::Arc<S> {
    async fn apply(&self, snapshot: &TransactionSnapshot) -> Result<Applied, Error> {
        (**self).apply(snapshot).await
    }
}
