//! [`RedisStoreBuilder`]: the settings of [`RedisStore`] and its
//! connection.

use std::fmt;
use std::time::Duration;

use redis::aio::ConnectionManager;

use crate::error::{Error, ErrorKind};

use super::{Connection, RedisStore};
use crate::store::redis_connection::Target;

/// Configures and connects a [`RedisStore`]: to one Redis server
/// ([`new`](Self::new)) or to a Redis Cluster ([`cluster`](Self::cluster)).
///
/// As a claim store and a transaction store, it behaves exactly as
/// [`MemoryStore`](crate::MemoryStore) does (one contract suite runs
/// against both); where that one forgets by capacity, this one forgets by
/// time to live. Every operation that must be atomic is one Lua script, so
/// concurrent receivers never interleave inside one. It needs Redis 6.0 or
/// newer, or a compatible server such as Valkey (the scripts read the
/// server's `TIME` and use `SET … KEEPTTL`).
///
/// Setters never fail; [`build`](RedisStoreBuilder::build) reports a
/// configuration that cannot work.
///
/// # Keys
///
/// With the default prefix `srw:`, for an event `ev_1` and a transaction
/// `tr_1`:
///
/// | key | type | holds | time to live |
/// | --- | --- | --- | --- |
/// | `srw:ev:{ev_1}:claim` | string | `<lease end, µs since the epoch>:<token>` while claimed, `done` once processed | claimed: the lease, or `handlers_ttl` from the last record once a handler completed or the owed work was recorded; done: `done_ttl` |
/// | `srw:ev:{ev_1}:handlers` | set | the handlers that completed | as the claim key; deleted once the event is done |
/// | `srw:ev:{ev_1}:owed` | string | what the first attempt owed (the status change it saw, the handlers it planned) | as the claim key; deleted once the event is done |
/// | `srw:tx:{tr_1}` | hash | the latest snapshot and the status before it | `transaction_ttl` from its last change |
///
/// The keys of one event share the hash tag `{ev_1}`, so they lie in one
/// slot of a Redis Cluster and one script may touch both.
///
/// # When Redis is unreachable
///
/// Every operation answers within the [`timeout`](Self::timeout): with an
/// error of kind [`ErrorKind::Store`] if Redis did not answer, and then
/// nothing is recorded. The connection is re-established in the
/// background, so the same store works again once Redis is back. What
/// Redis loses (a restart without persistence) the store forgets: a
/// forgotten event is processed again, a forgotten transaction seen again
/// is a first sighting.
///
/// ```no_run
/// use std::time::Duration;
/// use smart_router_webhooks::RedisStoreBuilder;
///
/// # async fn run() -> Result<(), smart_router_webhooks::Error> {
/// let store = RedisStoreBuilder::new("redis://:secret@127.0.0.1:6379/0")
///     .key_prefix("shop:webhooks:")
///     .timeout(Duration::from_millis(500))
///     .build()
///     .await?;
/// # let _ = store;
/// # Ok(())
/// # }
/// ```
///
/// Requires the `redis` feature.
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub struct RedisStoreBuilder {
    target: Target,
    key_prefix: String,
    timeout: Duration,
    done_ttl: Duration,
    handlers_ttl: Duration,
    transaction_ttl: Duration,
}

impl fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStoreBuilder")
            .field("redis", &self.target.describe())
            .field("key_prefix", &self.key_prefix)
            .field("timeout", &self.timeout)
            .field("done_ttl", &self.done_ttl)
            .field("handlers_ttl", &self.handlers_ttl)
            .field("transaction_ttl", &self.transaction_ttl)
            .finish()
    }
}

impl RedisStoreBuilder {
    /// The prefix of every key, unless [`key_prefix`](Self::key_prefix)
    /// says otherwise.
    pub(crate) const DEFAULT_KEY_PREFIX: &'static str = "srw:";

    /// How long an operation may take by default: Redis answers in well
    /// under a millisecond when healthy, and a delivery waiting on an
    /// unreachable Redis must still be answered (503) before the sender
    /// gives up on it.
    pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

    /// How long a processed event is remembered by default, as in memory:
    /// longer than the sender's retries (about 3 days).
    pub(crate) const DEFAULT_DONE_TTL: Duration = crate::store::memory::DEFAULT_DONE_TTL;

    /// How long the handlers that completed for an unfinished event are
    /// remembered by default after its last claim or record: longer than
    /// the sender's retries (about 3 days), so that the last retry of an
    /// event that failed halfway still skips them.
    pub(crate) const DEFAULT_HANDLERS_TTL: Duration = Duration::from_secs(4 * 24 * 3600);

    /// How long a transaction's latest snapshot is remembered by default
    /// after it last changed: 120 days, the window in which card networks
    /// let a cardholder dispute a payment, so that a chargeback event still
    /// finds the status it moves from. A transaction takes about 250 bytes
    /// of Redis memory, so a shop with 10,000 payments a day keeps about
    /// 300 MB: lower it if that is too much (ordering needs only a few
    /// days, the sender's retries).
    pub(crate) const DEFAULT_TRANSACTION_TTL: Duration = Duration::from_secs(120 * 24 * 3600);

    /// A builder for a store on the Redis at `url`
    /// (`redis://[user][:password@]host[:port][/db]`, or
    /// `redis+unix:///path?db=N&pass=…`).
    ///
    /// TLS (`rediss://`) is not supported.
    pub fn new(url: impl Into<String>) -> Self {
        Self::with_target(Target::Url(url.into()))
    }

    /// A builder for a store on a Redis Cluster, given the URLs of some or
    /// all of its nodes (`redis://[user][:password@]host:port`, the same
    /// credentials for every node): the others are discovered from them.
    /// Commands and scripts go to the node that holds their keys' slot,
    /// following the cluster as slots move or nodes fail over.
    ///
    /// ```no_run
    /// use smart_router_webhooks::RedisStoreBuilder;
    ///
    /// # async fn run() -> Result<(), smart_router_webhooks::Error> {
    /// let store = RedisStoreBuilder::cluster([
    ///     "redis://:secret@10.0.0.1:6379",
    ///     "redis://:secret@10.0.0.2:6379",
    ///     "redis://:secret@10.0.0.3:6379",
    /// ])
    /// .build()
    /// .await?;
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    pub fn cluster(urls: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self::with_target(Target::Cluster(urls.into_iter().map(Into::into).collect()))
    }

    /// A builder for a store on an existing connection manager, configured
    /// as its owner chose (its own timeouts and reconnection policy); the
    /// [`timeout`](Self::timeout) still bounds every operation.
    pub fn from_connection_manager(manager: ConnectionManager) -> Self {
        Self::with_target(Target::Manager(manager))
    }

    fn with_target(target: Target) -> Self {
        RedisStoreBuilder {
            target,
            key_prefix: Self::DEFAULT_KEY_PREFIX.to_owned(),
            timeout: Self::DEFAULT_TIMEOUT,
            done_ttl: Self::DEFAULT_DONE_TTL,
            handlers_ttl: Self::DEFAULT_HANDLERS_TTL,
            transaction_ttl: Self::DEFAULT_TRANSACTION_TTL,
        }
    }

    /// Puts `prefix` before every key (`srw:` by default),
    /// so that several applications can share one Redis. It may not
    /// contain `{` or `}`, which would break the keys' hash tags.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// The most an operation may take, connecting included
    /// (1 s by default); past it,
    /// the operation fails with [`ErrorKind::Store`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long a processed event is remembered
    /// (4 days by default).
    pub fn done_ttl(mut self, ttl: Duration) -> Self {
        self.done_ttl = ttl;
        self
    }

    /// How long an unfinished event's claim and completed handlers are
    /// remembered after its last claim or record
    /// (4 days by default);
    /// never less than the claim's lease.
    pub fn handlers_ttl(mut self, ttl: Duration) -> Self {
        self.handlers_ttl = ttl;
        self
    }

    /// How long a transaction's latest snapshot is remembered after it last
    /// changed (120 days by
    /// default). A forgotten transaction seen again is a first sighting.
    pub fn transaction_ttl(mut self, ttl: Duration) -> Self {
        self.transaction_ttl = ttl;
        self
    }

    /// Checks the configuration, connects (unless built
    /// [`from_connection_manager`](Self::from_connection_manager)) and
    /// returns the store (its clones share the connection).
    ///
    /// The connection is re-established by itself whenever it is lost.
    ///
    /// # Errors
    ///
    /// - [`ErrorKind::InvalidConfig`] when a URL is not a Redis URL (or a
    ///   cluster is given none, or nodes with different credentials), the
    ///   key prefix contains `{` or `}`, or the timeout or a time to live
    ///   is shorter than a millisecond.
    /// - [`ErrorKind::Store`] when Redis cannot be reached, or refuses the
    ///   credentials, within the timeout.
    pub async fn build(self) -> Result<RedisStore, Error> {
        let invalid = |message: &'static str| Err(Error::new(ErrorKind::InvalidConfig, message));
        if self.key_prefix.contains(['{', '}']) {
            return invalid("the Redis key prefix contains `{` or `}`");
        }
        let one_ms = Duration::from_millis(1);
        if self.timeout < one_ms {
            return invalid("the Redis timeout is shorter than a millisecond");
        }
        if [self.done_ttl, self.handlers_ttl, self.transaction_ttl]
            .iter()
            .any(|ttl| *ttl < one_ms)
        {
            return invalid("a Redis time to live is shorter than a millisecond");
        }
        let describe = self.target.describe();
        let redis = self.target.connect(self.timeout).await?;
        let connection = Connection {
            redis,
            timeout: self.timeout,
            key_prefix: self.key_prefix.into(),
            describe: describe.into(),
        };
        Ok(RedisStore {
            connection,
            done_ttl: self.done_ttl,
            handlers_ttl: self.handlers_ttl,
            transaction_ttl: self.transaction_ttl,
        })
    }
}
