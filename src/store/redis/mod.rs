//! Stores in Redis: for several instances of a receiver behind a load
//! balancer, which must share what they have done.
//!
//! The public documentation (key layout, scripts, behaviour during an
//! outage) is on [`RedisStoreBuilder`] and [`RedisStore`]; the store's
//! trait implementations are in `claim.rs`, `transaction.rs` and (the
//! reconciler's cursors) `../redis_cursor.rs`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use redis::Script;

use super::redis_connection::{RedisConnection, within};
use crate::error::{Error, ErrorKind};
use crate::model::{EventId, TransactionId};

/// The longest lease or time to live sent to Redis; longer ones are cut to
/// it (about 100 years), so that no expiry overflows.
const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// The nanoseconds in a second, to split an instant into two numbers that
/// Lua's doubles hold exactly.
const NANOS_PER_SECOND: i128 = 1_000_000_000;

mod builder;
mod claim;
#[cfg(test)]
mod tests;
mod transaction;

pub use builder::RedisStoreBuilder;

/// Whole milliseconds, rounded up so that a short duration is never 0,
/// and cut to [`MAX_DURATION`].
fn millis(d: Duration) -> u128 {
    d.min(MAX_DURATION).as_nanos().div_ceil(1_000_000).max(1)
}

/// A script answered something it never answers: the keys were written by
/// something else.
fn unexpected_reply() -> Error {
    Error::new(
        ErrorKind::Store,
        "Redis answered in a way this crate does not know: are the keys shared with another program?",
    )
}

/// The connection and key scheme of [`RedisStore`], shared by its clones
/// and, within the crate, by the inbox kept in the same Redis.
#[derive(Clone)]
pub(crate) struct Connection {
    redis: RedisConnection,
    timeout: Duration,
    key_prefix: Arc<str>,
    describe: Arc<str>,
}

impl Connection {
    /// Invokes `script` with `keys` and `args` within the timeout. On a
    /// cluster, the script runs on the node of its first key: every key
    /// must share its hash tag.
    pub(crate) async fn invoke<T: redis::FromRedisValue>(
        &self,
        what: &'static str,
        script: &Script,
        keys: &[&str],
        args: &[&str],
    ) -> Result<T, Error> {
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(*key);
        }
        for arg in args {
            invocation.arg(*arg);
        }
        let mut redis = self.redis.clone();
        within(self.timeout, what, invocation.invoke_async(&mut redis)).await
    }

    /// Runs `command` within the timeout.
    pub(crate) async fn query<T: redis::FromRedisValue>(
        &self,
        what: &'static str,
        command: &redis::Cmd,
    ) -> Result<T, Error> {
        let mut redis = self.redis.clone();
        within(self.timeout, what, command.query_async(&mut redis)).await
    }

    /// The prefix every key starts with.
    pub(crate) fn key_prefix(&self) -> &str {
        &self.key_prefix
    }

    /// The claim, handler-set and owed keys of `event`.
    fn event_keys(&self, event: &EventId) -> [String; 3] {
        let base = format!("{}ev:{{{}}}", self.key_prefix, event.as_str());
        [
            format!("{base}:claim"),
            format!("{base}:handlers"),
            format!("{base}:owed"),
        ]
    }

    /// The key of `transaction`'s snapshot.
    fn transaction_key(&self, transaction: &TransactionId) -> String {
        format!("{}tx:{{{}}}", self.key_prefix, transaction.as_str())
    }

    fn debug_fields<'d, 'a, 'b>(
        &self,
        d: &'d mut fmt::DebugStruct<'a, 'b>,
    ) -> &'d mut fmt::DebugStruct<'a, 'b> {
        d.field("redis", &&*self.describe)
            .field("key_prefix", &&*self.key_prefix)
            .field("timeout", &self.timeout)
    }
}

/// Everything the crate keeps in Redis, on one connection: processed
/// events ([`ClaimStore`]), transaction statuses ([`TransactionStore`]),
/// the reconciler's cursors (`reconcile::CursorStore`, feature
/// `reconciler`), and the connection of [`inbox::RedisInbox`]. For
/// several instances behind a load balancer, which must share what they
/// have done.
///
/// Made by [`RedisStoreBuilder`], which describes the keys, or by
/// [`connect`](Self::connect) with the defaults. Clones share the
/// connection, so give one to each place that needs it:
///
/// ```no_run
/// # async fn run(builder: smart_router_webhooks::ReceiverBuilder) -> Result<(), smart_router_webhooks::Error> {
/// use smart_router_webhooks::RedisStore;
///
/// let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
/// let receiver = builder
///     .claim_store(store.clone())
///     .transaction_store(store)
///     .build()?;
/// # let _ = receiver; Ok(()) }
/// ```
///
/// Each operation that must be atomic is one Lua script on the keys of one
/// event, transaction or walk, so concurrent instances never interleave
/// inside one.
///
/// # Claims
///
/// - **claim**: a done event answers [`Claim::AlreadyDone`]; a lease that
///   has not ended (by the server's clock) answers [`Claim::InProgress`];
///   otherwise the claim key gets a new token and lease end, and the
///   completed handlers and owed work are read in the same script. An
///   ended lease is taken over with its handler set and owed work; a claim
///   of an event the store does not remember starts from nothing, and its
///   key lives only as long as the lease until something is recorded.
/// - **renew**: records the delivery's [`DeliveryProgress`] (below), then,
///   if the token still holds the claim, its lease ends `lease` from now.
/// - **complete**: if the token still holds the claim, the claim key
///   becomes `done` for `done_ttl`; the handler set and owed work are
///   deleted.
/// - **release**: records the delivery's [`DeliveryProgress`], then, if
///   the token still holds the claim, its lease ends now; the handler set
///   and owed work stay.
///
/// Recording the progress adds the completed handlers to the set, and the
/// owed work if none is recorded, while the event is claimed (lease ended
/// or not, whoever holds it), and keeps the event's keys for at least
/// `handlers_ttl`. So a delivery costs two scripts, claim then complete
/// or release, plus a renewal per third of the lease its handlers run
/// past the first, whatever its number of handlers.
///
/// # Transactions
///
/// [`apply`](crate::TransactionStore::apply) is one Lua script: it compares the
/// snapshot with the stored one as
/// [`is_newer_than`](crate::TransactionSnapshot::is_newer_than) does (the order
/// [`Tracking`](crate::Tracking) documents) and stores it, with the status
/// it replaces as `previous`, only if it is newer. The same event applied
/// again answers the stored `previous`, and so does each of the last 16
/// events that newer ones superseded (their answers are kept in the
/// transaction's hash). [`latest`](Self::latest) is one `HMGET`.
///
/// # Reconciler cursors
///
/// With the `reconciler` feature, the store is a `reconcile::CursorStore`:
/// several instances share the cursor, and a lease lets one walk at a
/// time. A walk named `events` under the default prefix `srw:` has three
/// keys, `srw:walk:{events}:cursor`, `srw:walk:{events}:lease` and the set
/// of its stuck events `srw:walk:{events}:stuck`: the hash tag puts them
/// in one slot of a Redis Cluster. The lease is a `SET … PX` whose value
/// is its holder's token; moving the cursor, changing the stuck set and
/// ending the lease are scripts that check the token first.
///
/// [`ClaimStore`]: crate::ClaimStore
/// [`TransactionStore`]: crate::TransactionStore
/// [`Claim::AlreadyDone`]: crate::Claim::AlreadyDone
/// [`Claim::InProgress`]: crate::Claim::InProgress
/// [`DeliveryProgress`]: crate::DeliveryProgress
/// [`inbox::RedisInbox`]: crate::inbox::RedisInbox
///
/// Requires the `redis` feature.
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
#[derive(Clone)]
pub struct RedisStore {
    connection: Connection,
    done_ttl: Duration,
    handlers_ttl: Duration,
    transaction_ttl: Duration,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.connection
            .debug_fields(&mut f.debug_struct("RedisStore"))
            .field("done_ttl", &self.done_ttl)
            .field("handlers_ttl", &self.handlers_ttl)
            .field("transaction_ttl", &self.transaction_ttl)
            .finish()
    }
}

impl RedisStore {
    /// A store on the Redis at `url`, with the defaults of
    /// [`RedisStoreBuilder`].
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), smart_router_webhooks::Error> {
    /// let store = smart_router_webhooks::RedisStore::connect("redis://127.0.0.1:6379").await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`RedisStoreBuilder::build`].
    pub async fn connect(url: impl Into<String>) -> Result<Self, Error> {
        RedisStoreBuilder::new(url).build().await
    }

    /// The connection, key prefix and timeout of the store, for the other
    /// Redis backends of the crate (the cursors, the inbox).
    pub(crate) fn connection(&self) -> &Connection {
        &self.connection
    }
}
