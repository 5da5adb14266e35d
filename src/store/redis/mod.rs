//! Stores in Redis: for several instances of a receiver behind a load
//! balancer, which must share what they have done.
//!
//! The public documentation (key layout, scripts, behaviour during an
//! outage) is on [`RedisStoreBuilder`], [`RedisClaimStore`] and
//! [`RedisTransactionStore`].

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
pub use claim::RedisClaimStore;
pub use transaction::RedisTransactionStore;

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
///
/// ```no_run
/// # async fn run(builder: smart_router_webhooks::ReceiverBuilder) -> Result<(), smart_router_webhooks::Error> {
/// use smart_router_webhooks::RedisStoreBuilder;
///
/// let stores = RedisStoreBuilder::new("redis://127.0.0.1:6379").build().await?;
/// let receiver = builder
///     .claim_store(stores.claim_store())
///     .transaction_store(stores.transaction_store())
///     .build()?;
/// # let _ = receiver; Ok(()) }
/// ```
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
