//! Stores in Redis: for several instances of a receiver behind a load
//! balancer, which must share what they have done.
//!
//! The public documentation (key layout, scripts, behaviour during an
//! outage) is on [`RedisStoreBuilder`], [`RedisClaimStore`] and
//! [`RedisTransactionStore`].

use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use async_trait::async_trait;
use redis::Script;
use redis::aio::ConnectionManager;

use super::redis_connection::{RedisConnection, Target, within};
use super::{Applied, Claim, ClaimStore, ClaimToken, TransactionSnapshot, TransactionStore};
use crate::error::{Error, ErrorKind};
use crate::model::{EventId, Timestamp, TransactionId, TransactionStatus};

/// The longest lease or time to live sent to Redis; longer ones are cut to
/// it (about 100 years), so that no expiry overflows.
const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// The nanoseconds in a second, to split an instant into two numbers that
/// Lua's doubles hold exactly.
const NANOS_PER_SECOND: i128 = 1_000_000_000;

/// The Lua function the claim scripts share: whether `state`, the claim
/// key's value, is a claim held by `token`.
macro_rules! lua_holds {
    () => {
        "local function holds(state, token)
            if not state or state == 'done' then return false end
            local sep = string.find(state, ':', 1, true)
            return sep ~= nil and string.sub(state, sep + 1) == token
        end
        "
    };
}

/// KEYS: claim, handlers, owed. ARGV: token, lease (µs), lease (ms).
/// Returns `{outcome, completed handlers, owed or nil}`.
///
/// A new claim's key lives as long as its lease: an event whose processing
/// never recorded anything (its fetch failed, say) leaves nothing behind.
/// A claim taken over keeps the longer of its key's time to live and the
/// lease.
static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "local time = redis.call('TIME')
        local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
        local state = redis.call('GET', KEYS[1])
        if state == 'done' then return {'done', {}, false} end
        local ttl = tonumber(ARGV[3])
        if state then
            local sep = string.find(state, ':', 1, true)
            if tonumber(string.sub(state, 1, sep - 1)) > now then return {'busy', {}, false} end
            local left = redis.call('PTTL', KEYS[1])
            if left > ttl then ttl = left end
        else
            redis.call('DEL', KEYS[2], KEYS[3])
        end
        local lease_end = string.format('%.0f', now + tonumber(ARGV[2]))
        redis.call('SET', KEYS[1], lease_end .. ':' .. ARGV[1], 'PX', ttl)
        return {'acquired', redis.call('SMEMBERS', KEYS[2]), redis.call('GET', KEYS[3])}",
    )
});

/// The Lua function the record scripts share: keeps the claim key (KEYS[1])
/// for at least `ttl` ms, and gives every other key that exists the claim
/// key's time to live.
macro_rules! lua_keep {
    () => {
        "local function keep(ttl)
            local left = redis.call('PTTL', KEYS[1])
            if left < ttl then
                left = ttl
                redis.call('PEXPIRE', KEYS[1], left)
            end
            for i = 2, #KEYS do redis.call('PEXPIRE', KEYS[i], left) end
        end
        "
    };
}

/// KEYS: claim, handlers, owed. ARGV: handler, handlers' time to live (ms).
static RECORD_HANDLER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        lua_keep!(),
        "local state = redis.call('GET', KEYS[1])
        if not state or state == 'done' then return 0 end
        redis.call('SADD', KEYS[2], ARGV[1])
        keep(tonumber(ARGV[2]))
        return 1"
    ))
});

/// KEYS: claim, owed, handlers. ARGV: owed, handlers' time to live (ms).
static RECORD_OWED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        lua_keep!(),
        "local state = redis.call('GET', KEYS[1])
        if not state or state == 'done' then return 0 end
        redis.call('SET', KEYS[2], ARGV[1], 'NX')
        keep(tonumber(ARGV[2]))
        return 1"
    ))
});

/// KEYS: claim. ARGV: token, lease (µs), lease (ms). Returns 1 if the
/// token held the claim (now extended), 0 otherwise.
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        lua_holds!(),
        "if not holds(redis.call('GET', KEYS[1]), ARGV[1]) then return 0 end
        local time = redis.call('TIME')
        local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
        local lease_end = string.format('%.0f', now + tonumber(ARGV[2]))
        redis.call('SET', KEYS[1], lease_end .. ':' .. ARGV[1], 'KEEPTTL')
        if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then
            redis.call('PEXPIRE', KEYS[1], ARGV[3])
        end
        return 1"
    ))
});

/// KEYS: claim, handlers, owed. ARGV: token, done time to live (ms).
static COMPLETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        lua_holds!(),
        "if not holds(redis.call('GET', KEYS[1]), ARGV[1]) then return 0 end
        redis.call('SET', KEYS[1], 'done', 'PX', ARGV[2])
        redis.call('DEL', KEYS[2], KEYS[3])
        return 1"
    ))
});

/// KEYS: claim. ARGV: token.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        lua_holds!(),
        "if not holds(redis.call('GET', KEYS[1]), ARGV[1]) then return 0 end
        redis.call('SET', KEYS[1], '0:' .. ARGV[1], 'KEEPTTL')
        return 1"
    ))
});

/// KEYS: transaction. ARGV: event, status, has fired_at ('1'/'0'),
/// fired_at, seconds, nanoseconds (both '' when the time cannot be read),
/// rank ('' when unknown), time to live (ms), whether the status may follow
/// itself ('1'/'0'). Returns `{'newer', previous}` or
/// `{'stale', event, status, fired_at}` (absent values as nil).
///
/// `newer` is [`TransactionSnapshot::is_newer_than`], rule for rule:
/// seconds are compared as decimal integers in text (exact whatever their
/// size), event IDs byte by byte (never by the server's locale).
///
/// The answers given to the last 16 superseded events are kept in fields
/// `answer:<event>` (`-` for none, `=<status>` otherwise), their events in
/// field `superseded`, oldest first, separated by spaces.
static APPLY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "local function num(s)
            if s and s ~= '' then return tonumber(s) end
            return nil
        end
        local function cmp(a, b)
            if a == b then return 0 end
            if a == nil then return -1 end
            if b == nil or a > b then return 1 end
            return -1
        end
        local function bytes_cmp(a, b)
            if a == b then return 0 end
            for i = 1, math.min(#a, #b) do
                local x, y = string.byte(a, i), string.byte(b, i)
                if x ~= y then return x < y and -1 or 1 end
            end
            return #a < #b and -1 or 1
        end
        local function int_cmp(a, b)
            local na, nb = string.sub(a, 1, 1) == '-', string.sub(b, 1, 1) == '-'
            if na ~= nb then return na and -1 or 1 end
            local c = cmp(#a, #b)
            if c == 0 then c = bytes_cmp(a, b) end
            if na then return -c end
            return c
        end
        local function newer(old)
            local timed, old_timed = ARGV[5] ~= '', (old[4] or '') ~= ''
            local c
            if timed and old_timed then
                c = int_cmp(ARGV[5], old[4])
                if c == 0 then c = cmp(num(ARGV[6]), num(old[5])) end
                if c == 0 then c = cmp(num(ARGV[7]), num(old[6])) end
            else
                c = cmp(num(ARGV[7]), num(old[6]))
                if c == 0 and timed ~= old_timed then c = timed and -1 or 1 end
            end
            if c == 0 and ARGV[2] == old[2] and ARGV[9] == '1' then c = 1 end
            if c == 0 then c = bytes_cmp(ARGV[1], old[1]) end
            return c > 0
        end
        local old = redis.call('HMGET', KEYS[1],
            'event', 'status', 'fired_at', 'secs', 'nanos', 'rank', 'previous')
        local previous = false
        if old[1] then
            if old[1] == ARGV[1] then return {'newer', old[7]} end
            local answer = redis.call('HGET', KEYS[1], 'answer:' .. ARGV[1])
            if answer == '-' then return {'newer', false} end
            if answer then return {'newer', string.sub(answer, 2)} end
            if not newer(old) then return {'stale', old[1], old[2], old[3]} end
            previous = old[2]
            local ids = {}
            for id in string.gmatch(redis.call('HGET', KEYS[1], 'superseded') or '', '%S+') do
                ids[#ids + 1] = id
            end
            ids[#ids + 1] = old[1]
            redis.call('HSET', KEYS[1], 'answer:' .. old[1], old[7] and ('=' .. old[7]) or '-')
            while #ids > 16 do
                redis.call('HDEL', KEYS[1], 'answer:' .. table.remove(ids, 1))
            end
            redis.call('HSET', KEYS[1], 'superseded', table.concat(ids, ' '))
        end
        redis.call('HDEL', KEYS[1], 'fired_at', 'previous')
        redis.call('HSET', KEYS[1], 'event', ARGV[1], 'status', ARGV[2],
            'secs', ARGV[5], 'nanos', ARGV[6], 'rank', ARGV[7])
        if ARGV[3] == '1' then redis.call('HSET', KEYS[1], 'fired_at', ARGV[4]) end
        if previous then redis.call('HSET', KEYS[1], 'previous', previous) end
        redis.call('PEXPIRE', KEYS[1], ARGV[8])
        return {'newer', previous}",
    )
});

/// Whole milliseconds, rounded up so that a short duration is never 0,
/// and cut to [`MAX_DURATION`].
fn millis(d: Duration) -> u128 {
    d.min(MAX_DURATION).as_nanos().div_ceil(1_000_000).max(1)
}

/// Configures and connects [`RedisClaimStore`] and
/// [`RedisTransactionStore`], which then share one connection: to one Redis
/// server ([`new`](Self::new)) or to a Redis Cluster
/// ([`cluster`](Self::cluster)).
///
/// The stores behave exactly as the in-memory ones do (one contract suite
/// runs against both); where the memory stores forget by capacity, these
/// forget by time to live. Every operation that must be atomic is one Lua
/// script, so concurrent receivers never interleave inside one. They need
/// Redis 6.0 or newer, or a compatible server such as Valkey (the scripts
/// read the server's `TIME` and use `SET … KEEPTTL`).
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
/// background, so the same stores work again once Redis is back. What
/// Redis loses (a restart without persistence) the stores forget: a
/// forgotten event is processed again, a forgotten transaction seen again
/// is a first sighting.
///
/// ```no_run
/// use std::time::Duration;
/// use smart_router_webhooks::RedisStoreBuilder;
///
/// # async fn run() -> Result<(), smart_router_webhooks::Error> {
/// let stores = RedisStoreBuilder::new("redis://:secret@127.0.0.1:6379/0")
///     .key_prefix("shop:webhooks:")
///     .timeout(Duration::from_millis(500))
///     .build()
///     .await?;
/// let claims = stores.claim_store();
/// let transactions = stores.transaction_store();
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
    pub const DEFAULT_KEY_PREFIX: &'static str = "srw:";

    /// How long an operation may take by default: Redis answers in well
    /// under a millisecond when healthy, and a delivery waiting on an
    /// unreachable Redis must still be answered (503) before the sender
    /// gives up on it.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

    /// How long a processed event is remembered by default, as in memory:
    /// longer than the sender's retries (about 3 days).
    pub const DEFAULT_DONE_TTL: Duration = super::memory::DEFAULT_DONE_TTL;

    /// How long the handlers that completed for an unfinished event are
    /// remembered by default after its last claim or record: longer than
    /// the sender's retries (about 3 days), so that the last retry of an
    /// event that failed halfway still skips them.
    pub const DEFAULT_HANDLERS_TTL: Duration = Duration::from_secs(4 * 24 * 3600);

    /// How long a transaction's latest snapshot is remembered by default
    /// after it last changed: 120 days, the window in which card networks
    /// let a cardholder dispute a payment, so that a chargeback event still
    /// finds the status it moves from. A transaction takes about 250 bytes
    /// of Redis memory, so a shop with 10,000 payments a day keeps about
    /// 300 MB: lower it if that is too much (ordering needs only a few
    /// days, the sender's retries).
    pub const DEFAULT_TRANSACTION_TTL: Duration = Duration::from_secs(120 * 24 * 3600);

    /// A builder for stores on the Redis at `url`
    /// (`redis://[user][:password@]host[:port][/db]`, or
    /// `redis+unix:///path?db=N&pass=…`).
    ///
    /// TLS (`rediss://`) is not supported.
    pub fn new(url: impl Into<String>) -> Self {
        Self::with_target(Target::Url(url.into()))
    }

    /// A builder for stores on a Redis Cluster, given the URLs of some or
    /// all of its nodes (`redis://[user][:password@]host:port`, the same
    /// credentials for every node): the others are discovered from them.
    /// Commands and scripts go to the node that holds their keys' slot,
    /// following the cluster as slots move or nodes fail over.
    ///
    /// ```no_run
    /// use smart_router_webhooks::RedisStoreBuilder;
    ///
    /// # async fn run() -> Result<(), smart_router_webhooks::Error> {
    /// let stores = RedisStoreBuilder::cluster([
    ///     "redis://:secret@10.0.0.1:6379",
    ///     "redis://:secret@10.0.0.2:6379",
    ///     "redis://:secret@10.0.0.3:6379",
    /// ])
    /// .build()
    /// .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn cluster(urls: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self::with_target(Target::Cluster(urls.into_iter().map(Into::into).collect()))
    }

    /// A builder for stores on an existing connection manager, configured
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

    /// Puts `prefix` before every key ([`DEFAULT_KEY_PREFIX`] by default),
    /// so that several applications can share one Redis. It may not
    /// contain `{` or `}`, which would break the keys' hash tags.
    ///
    /// [`DEFAULT_KEY_PREFIX`]: Self::DEFAULT_KEY_PREFIX
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// The most an operation may take, connecting included
    /// ([`DEFAULT_TIMEOUT`](Self::DEFAULT_TIMEOUT) by default); past it,
    /// the operation fails with [`ErrorKind::Store`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long a processed event is remembered
    /// ([`DEFAULT_DONE_TTL`](Self::DEFAULT_DONE_TTL) by default).
    pub fn done_ttl(mut self, ttl: Duration) -> Self {
        self.done_ttl = ttl;
        self
    }

    /// How long an unfinished event's claim and completed handlers are
    /// remembered after its last claim or record
    /// ([`DEFAULT_HANDLERS_TTL`](Self::DEFAULT_HANDLERS_TTL) by default);
    /// never less than the claim's lease.
    pub fn handlers_ttl(mut self, ttl: Duration) -> Self {
        self.handlers_ttl = ttl;
        self
    }

    /// How long a transaction's latest snapshot is remembered after it last
    /// changed ([`DEFAULT_TRANSACTION_TTL`](Self::DEFAULT_TRANSACTION_TTL)
    /// by default). A forgotten transaction seen again is a first sighting.
    pub fn transaction_ttl(mut self, ttl: Duration) -> Self {
        self.transaction_ttl = ttl;
        self
    }

    /// Checks the configuration, connects (unless built
    /// [`from_connection_manager`](Self::from_connection_manager)) and
    /// returns the stores, sharing the connection.
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
    pub async fn build(self) -> Result<RedisStores, Error> {
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
        Ok(RedisStores {
            claims: RedisClaimStore {
                connection: connection.clone(),
                done_ttl: self.done_ttl,
                handlers_ttl: self.handlers_ttl,
            },
            transactions: RedisTransactionStore {
                connection,
                ttl: self.transaction_ttl,
            },
        })
    }
}

/// A script answered something it never answers: the keys were written by
/// something else.
fn unexpected_reply() -> Error {
    Error::new(
        ErrorKind::Store,
        "Redis answered in a way this crate does not know: are the keys shared with another program?",
    )
}

/// The connection and key scheme both stores share (and, within the
/// crate, any other store kept in the same Redis).
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
    #[allow(dead_code)] // for stores added within the crate
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

/// The stores [`RedisStoreBuilder::build`] connects, sharing one
/// connection.
///
/// Requires the `redis` feature.
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
#[derive(Clone, Debug)]
pub struct RedisStores {
    claims: RedisClaimStore,
    transactions: RedisTransactionStore,
}

impl RedisStores {
    /// The claim store.
    pub fn claim_store(&self) -> RedisClaimStore {
        self.claims.clone()
    }

    /// The transaction store.
    pub fn transaction_store(&self) -> RedisTransactionStore {
        self.transactions.clone()
    }

    /// The connection the stores share, for other stores of the crate kept
    /// in the same Redis under the same prefix.
    #[allow(dead_code)] // for stores added within the crate
    pub(crate) fn connection(&self) -> &Connection {
        &self.claims.connection
    }
}

/// A [`ClaimStore`] in Redis: for several instances sharing the events they
/// processed. Made by [`RedisStoreBuilder`], which describes its keys.
///
/// Each operation is one Lua script on the event's keys:
///
/// - **claim**: a done event answers [`Claim::AlreadyDone`]; a lease that
///   has not ended (by the server's clock) answers [`Claim::InProgress`];
///   otherwise the claim key gets a new token and lease end, and the
///   completed handlers and owed work are read in the same script. An
///   ended lease is taken over with its handler set and owed work; a claim
///   of an event the store does not remember starts from nothing, and its
///   key lives only as long as the lease until something is recorded.
/// - **record_handler** and **record_owed**: add the handler to the set,
///   or the owed work if none is recorded, while the event is claimed
///   (lease ended or not), and keep the event's keys for at least
///   `handlers_ttl`.
/// - **renew**: if the token still holds the claim, its lease ends
///   `lease` from now.
/// - **complete**: if the token still holds the claim, the claim key
///   becomes `done` for `done_ttl`; the handler set and owed work are
///   deleted.
/// - **release**: if the token still holds the claim, its lease ends now;
///   the handler set and owed work stay.
///
/// Clones share the connection.
///
/// Requires the `redis` feature.
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
#[derive(Clone)]
pub struct RedisClaimStore {
    connection: Connection,
    done_ttl: Duration,
    handlers_ttl: Duration,
}

impl fmt::Debug for RedisClaimStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.connection
            .debug_fields(&mut f.debug_struct("RedisClaimStore"))
            .field("done_ttl", &self.done_ttl)
            .field("handlers_ttl", &self.handlers_ttl)
            .finish()
    }
}

impl RedisClaimStore {
    /// A claim store on the Redis at `url`, with the defaults of
    /// [`RedisStoreBuilder`].
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), smart_router_webhooks::Error> {
    /// let claims = smart_router_webhooks::RedisClaimStore::connect("redis://127.0.0.1:6379").await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`RedisStoreBuilder::build`].
    pub async fn connect(url: impl Into<String>) -> Result<Self, Error> {
        Ok(RedisStoreBuilder::new(url).build().await?.claims)
    }
}

/// The answer of a script that says 1 when the token held the claim.
fn held(reply: i64) -> bool {
    reply == 1
}

#[async_trait]
impl ClaimStore for RedisClaimStore {
    async fn claim(&self, event: &EventId, lease: Duration) -> Result<Claim, Error> {
        let token = ClaimToken::unique();
        let lease_micros = lease.min(MAX_DURATION).as_micros().to_string();
        let lease_millis = millis(lease).to_string();
        let [claim, handlers, owed] = self.connection.event_keys(event);
        let (outcome, completed, owed): (String, BTreeSet<String>, Option<String>) = self
            .connection
            .invoke(
                "claim an event",
                &CLAIM,
                &[&claim, &handlers, &owed],
                &[token.as_str(), &lease_micros, &lease_millis],
            )
            .await?;
        match outcome.as_str() {
            "acquired" => Ok(Claim::Acquired {
                token,
                completed,
                owed,
            }),
            "done" => Ok(Claim::AlreadyDone),
            "busy" => Ok(Claim::InProgress),
            _ => Err(unexpected_reply()),
        }
    }

    async fn record_handler(&self, event: &EventId, handler: &str) -> Result<(), Error> {
        let [claim, handlers, owed] = self.connection.event_keys(event);
        let ttl = millis(self.handlers_ttl).to_string();
        let _: i64 = self
            .connection
            .invoke(
                "record a completed handler",
                &RECORD_HANDLER,
                &[&claim, &handlers, &owed],
                &[handler, &ttl],
            )
            .await?;
        Ok(())
    }

    async fn record_owed(&self, event: &EventId, text: &str) -> Result<(), Error> {
        let [claim, handlers, owed] = self.connection.event_keys(event);
        let ttl = millis(self.handlers_ttl).to_string();
        let _: i64 = self
            .connection
            .invoke(
                "record what an event owes",
                &RECORD_OWED,
                &[&claim, &owed, &handlers],
                &[text, &ttl],
            )
            .await?;
        Ok(())
    }

    async fn renew(
        &self,
        event: &EventId,
        token: &ClaimToken,
        lease: Duration,
    ) -> Result<bool, Error> {
        let [claim, ..] = self.connection.event_keys(event);
        let lease_micros = lease.min(MAX_DURATION).as_micros().to_string();
        let lease_millis = millis(lease).to_string();
        let reply: i64 = self
            .connection
            .invoke(
                "renew a claim",
                &RENEW,
                &[&claim],
                &[token.as_str(), &lease_micros, &lease_millis],
            )
            .await?;
        Ok(held(reply))
    }

    async fn complete(&self, event: &EventId, token: &ClaimToken) -> Result<bool, Error> {
        let [claim, handlers, owed] = self.connection.event_keys(event);
        let ttl = millis(self.done_ttl).to_string();
        let reply: i64 = self
            .connection
            .invoke(
                "mark an event processed",
                &COMPLETE,
                &[&claim, &handlers, &owed],
                &[token.as_str(), &ttl],
            )
            .await?;
        Ok(held(reply))
    }

    async fn release(&self, event: &EventId, token: &ClaimToken) -> Result<bool, Error> {
        let [claim, ..] = self.connection.event_keys(event);
        let reply: i64 = self
            .connection
            .invoke("release a claim", &RELEASE, &[&claim], &[token.as_str()])
            .await?;
        Ok(held(reply))
    }
}

/// A [`TransactionStore`] in Redis: for several instances sharing the
/// latest status of each transaction. Made by [`RedisStoreBuilder`], which
/// describes its keys.
///
/// [`apply`](TransactionStore::apply) is one Lua script: it compares the
/// snapshot with the stored one as
/// [`is_newer_than`](TransactionSnapshot::is_newer_than) does (the order
/// the [`TransactionTracker`](crate::TransactionTracker) documents) and
/// stores it, with the status it replaces as `previous`, only if it is
/// newer. The same event applied again answers the stored `previous`, and
/// so does each of the last 16 events that newer ones superseded (their
/// answers are kept in the transaction's hash).
/// [`latest`](TransactionStore::latest) is one `HMGET`.
///
/// Clones share the connection.
///
/// Requires the `redis` feature.
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
#[derive(Clone)]
pub struct RedisTransactionStore {
    connection: Connection,
    ttl: Duration,
}

impl fmt::Debug for RedisTransactionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.connection
            .debug_fields(&mut f.debug_struct("RedisTransactionStore"))
            .field("transaction_ttl", &self.ttl)
            .finish()
    }
}

impl RedisTransactionStore {
    /// A transaction store on the Redis at `url`, with the defaults of
    /// [`RedisStoreBuilder`].
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), smart_router_webhooks::Error> {
    /// let transactions =
    ///     smart_router_webhooks::RedisTransactionStore::connect("redis://127.0.0.1:6379").await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`RedisStoreBuilder::build`].
    pub async fn connect(url: impl Into<String>) -> Result<Self, Error> {
        Ok(RedisStoreBuilder::new(url).build().await?.transactions)
    }

    /// The snapshot of `transaction` read back from its stored fields.
    fn snapshot(
        transaction: &TransactionId,
        event: Option<String>,
        status: Option<String>,
        fired_at: Option<String>,
    ) -> Result<TransactionSnapshot, Error> {
        let event = EventId::parse(&event.ok_or_else(unexpected_reply)?)
            .map_err(|e| unexpected_reply().with_source(e))?;
        let status = TransactionStatus::from(status.ok_or_else(unexpected_reply)?);
        Ok(TransactionSnapshot::new(
            transaction.clone(),
            status,
            fired_at.as_deref().map(Timestamp::parse),
            event,
        ))
    }
}

#[async_trait]
impl TransactionStore for RedisTransactionStore {
    async fn apply(&self, snapshot: &TransactionSnapshot) -> Result<Applied, Error> {
        let key = self.connection.transaction_key(&snapshot.transaction_id);
        let (nanos, rank) = snapshot.order_key();
        let (secs, sub) = match nanos {
            Some(n) => (
                n.div_euclid(NANOS_PER_SECOND).to_string(),
                n.rem_euclid(NANOS_PER_SECOND).to_string(),
            ),
            None => (String::new(), String::new()),
        };
        let rank = rank.map_or_else(String::new, |r| r.to_string());
        let fired_at = snapshot.fired_at.as_ref().map(Timestamp::as_str);
        let ttl = millis(self.ttl).to_string();
        let follows_itself = snapshot.status.can_transition_to(&snapshot.status);
        let reply: Vec<Option<String>> = self
            .connection
            .invoke(
                "apply a transaction snapshot",
                &APPLY,
                &[&key],
                &[
                    snapshot.event_id.as_str(),
                    snapshot.status.as_str(),
                    if fired_at.is_some() { "1" } else { "0" },
                    fired_at.unwrap_or(""),
                    &secs,
                    &sub,
                    &rank,
                    &ttl,
                    if follows_itself { "1" } else { "0" },
                ],
            )
            .await?;
        let mut reply = reply.into_iter();
        match reply.next().flatten().as_deref() {
            Some("newer") => Ok(Applied::Newer {
                previous: reply.next().flatten().map(TransactionStatus::from),
            }),
            Some("stale") => {
                let mut field = || reply.next().flatten();
                let (event, status, fired_at) = (field(), field(), field());
                Ok(Applied::Stale {
                    latest: Self::snapshot(&snapshot.transaction_id, event, status, fired_at)?,
                })
            }
            _ => Err(unexpected_reply()),
        }
    }

    async fn latest(
        &self,
        transaction: &TransactionId,
    ) -> Result<Option<TransactionSnapshot>, Error> {
        let key = self.connection.transaction_key(transaction);
        let (event, status, fired_at): (Option<String>, Option<String>, Option<String>) = self
            .connection
            .query(
                "read a transaction snapshot",
                redis::cmd("HMGET")
                    .arg(&key)
                    .arg(&["event", "status", "fired_at"][..]),
            )
            .await?;
        if event.is_none() {
            return Ok(None);
        }
        Self::snapshot(transaction, event, status, fired_at).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builder_never_prints_the_password() {
        let single = RedisStoreBuilder::new("redis://:s3cret@127.0.0.1:6379");
        let cluster = RedisStoreBuilder::cluster([
            "redis://:s3cret@127.0.0.1:6379",
            "redis://:s3cret@127.0.0.1:6380",
        ]);
        for printed in [format!("{single:?}"), format!("{cluster:?}")] {
            assert!(!printed.contains("s3cret"), "{printed}");
            assert!(printed.contains("127.0.0.1:6379"), "{printed}");
        }
    }

    #[test]
    fn durations_become_whole_milliseconds_of_at_least_one() {
        assert_eq!(millis(Duration::ZERO), 1);
        assert_eq!(millis(Duration::from_micros(1500)), 2);
        assert_eq!(millis(Duration::from_secs(2)), 2000);
        assert_eq!(millis(Duration::MAX), MAX_DURATION.as_millis());
    }

    #[tokio::test]
    async fn a_configuration_that_cannot_work_is_refused_at_build() {
        let cases = [
            RedisStoreBuilder::new("http://127.0.0.1"),
            RedisStoreBuilder::new("redis://127.0.0.1").key_prefix("a{b}:"),
            RedisStoreBuilder::new("redis://127.0.0.1").timeout(Duration::ZERO),
            RedisStoreBuilder::new("redis://127.0.0.1").done_ttl(Duration::from_micros(10)),
            RedisStoreBuilder::cluster(Vec::<String>::new()),
            RedisStoreBuilder::cluster(["redis://127.0.0.1:7000", "http://127.0.0.1:7001"]),
        ];
        for builder in cases {
            let err = builder.build().await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
        }
    }
}
