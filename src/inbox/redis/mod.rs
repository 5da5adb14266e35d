//! [`RedisInbox`]: the inbox on Redis Streams, shared by every instance.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use redis::Script;

use super::{
    DEFAULT_INBOX_LEASE, DeadLetter, Enqueued, Failure, Inbox, InboxDepth, InboxItem, RecordedError,
};
use crate::error::{Error, ErrorKind};
use crate::model::EventId;
use crate::store::{RedisConnection, RedisStore};
use scripts::{ACK, DEAD_LETTER, DEPTH, ENQUEUE, RENEW, REPLAY, RETIRE, RETRY, TAKE};

mod scripts;

/// The inbox on Redis Streams (feature `redis`): every instance of the
/// application shares it, and with Redis persistence on it survives a
/// restart of Redis or of every instance. Made with [`RedisInbox::new`]
/// on the connection of [`RedisStore`], so it works on one server and on
/// a Redis Cluster alike.
///
/// # Keys
///
/// For an inbox named `shop` under the default prefix `srw:`, every key
/// has the hash tag `{shop}`, so that they lie in one slot of a cluster
/// and each operation is one Lua script:
///
/// | key | type | holds |
/// | --- | --- | --- |
/// | `srw:inbox:{shop}:stream` | stream, consumer group `shop` | the events to process: one entry per event waiting or in a worker's hands |
/// | `srw:inbox:{shop}:queued` | sorted set | every event in the inbox (waiting, taken, or waiting for a retry), scored by when it was first queued: the duplicate check, the depth and the oldest age |
/// | `srw:inbox:{shop}:delayed` | sorted set | the retries, scored by when they are due |
/// | `srw:inbox:{shop}:dead` | stream | the dead letters |
/// | `srw:inbox:{shop}:dead-index` | hash | each dead letter's entry in `dead` |
///
/// # How work moves
///
/// - **enqueue**: unless the event is in `queued`, `XADD` to the stream
///   and `ZADD` to `queued`, in one script: a duplicate delivery is
///   queued once.
/// - **take**: retries that are due move from `delayed` to the stream;
///   `XAUTOCLAIM` takes entries whose worker let them idle past the
///   [lease](Self::with_lease) (a worker that died: its work is taken
///   over); `XREADGROUP` takes new ones.
/// - **renew**: `XCLAIM` of the entry by its own worker resets its idle
///   time, while the worker processes it.
/// - **ack**, **retry**, **dead-letter**: only by the worker that holds
///   the entry (checked with `XPENDING`); each `XACK`s and `XDEL`s it,
///   then forgets the event, schedules it in `delayed`, or appends it to
///   `dead`.
///
/// The stream is never trimmed by length (`MAXLEN` would drop entries no
/// worker acknowledged): each entry is deleted when its work is settled,
/// so the stream holds exactly the unsettled work. Nothing here expires.
///
/// # Redis settings
///
/// Run Redis with persistence (`appendonly yes`; `appendfsync everysec`
/// may lose the last second of acknowledged deliveries in a crash of the
/// Redis host, `always` loses none) and `maxmemory-policy noeviction`:
/// an evicted inbox key loses acknowledged events. Redis 6.2 or newer
/// (`XAUTOCLAIM`).
///
/// ```no_run
/// # async fn run(builder: smart_router_webhooks::ReceiverBuilder) -> Result<(), smart_router_webhooks::Error> {
/// use smart_router_webhooks::RedisStoreBuilder;
/// use smart_router_webhooks::inbox::{RedisInbox, Workers};
///
/// let store = RedisStoreBuilder::new("redis://127.0.0.1:6379").build().await?;
/// let receiver = builder
///     .inbox(RedisInbox::new(&store, "shop")?)
///     .claim_store(store.clone())
///     .transaction_store(store)
///     .build()?;
/// let workers = Workers::builder(receiver.clone()).count(4).spawn()?;
/// # let _ = workers; Ok(()) }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
#[derive(Clone)]
pub struct RedisInbox {
    connection: RedisConnection,
    name: Arc<str>,
    keys: Arc<Keys>,
    lease: Duration,
}

struct Keys {
    stream: String,
    queued: String,
    delayed: String,
    dead: String,
    dead_index: String,
}

impl fmt::Debug for RedisInbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisInbox")
            .field("name", &&*self.name)
            .field("stream", &self.keys.stream)
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}

impl RedisInbox {
    /// The inbox of the application `name` (letters, digits, `-`, `_`,
    /// `.`), on the connection, key prefix and timeout of `store`. Every
    /// instance of one application uses the same name; the name is also
    /// the stream's consumer group.
    ///
    /// ```no_run
    /// use smart_router_webhooks::RedisStoreBuilder;
    /// use smart_router_webhooks::inbox::RedisInbox;
    ///
    /// # async fn run() -> Result<(), smart_router_webhooks::Error> {
    /// let store = RedisStoreBuilder::new("redis://127.0.0.1:6379").build().await?;
    /// let inbox = RedisInbox::new(&store, "shop")?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] when the name is empty or has another
    /// character.
    pub fn new(store: &RedisStore, name: impl Into<String>) -> Result<Self, Error> {
        let name = name.into();
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
        if name.is_empty() || !name.chars().all(allowed) {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                "the inbox's name is empty or has characters other than letters, digits, `-`, `_`, `.`",
            ));
        }
        let connection = store.connection().clone();
        let base = format!("{}inbox:{{{name}}}", connection.key_prefix());
        let keys = Keys {
            stream: format!("{base}:stream"),
            queued: format!("{base}:queued"),
            delayed: format!("{base}:delayed"),
            dead: format!("{base}:dead"),
            dead_index: format!("{base}:dead-index"),
        };
        Ok(RedisInbox {
            connection,
            name: name.into(),
            keys: Arc::new(keys),
            lease: DEFAULT_INBOX_LEASE,
        })
    }

    /// How long a taken event may go without renewal before another
    /// worker takes it over (default 120 s; at least a
    /// millisecond). Every instance should use the same.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(1));
        self
    }

    /// A script's arguments: the group first, then `args`.
    fn with_group<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut all = Vec::with_capacity(args.len() + 1);
        all.push(&*self.name);
        all.extend_from_slice(args);
        all
    }

    /// Runs a script that answers 1 when the worker held the item.
    async fn settle(
        &self,
        what: &'static str,
        script: &Script,
        keys: &[&str],
        item: &InboxItem,
        more: &[&str],
    ) -> Result<bool, Error> {
        let mut args = vec![
            item.consumer.as_str(),
            item.receipt.as_str(),
            item.event_id.as_str(),
        ];
        args.extend_from_slice(more);
        let held: i64 = self
            .connection
            .invoke(what, script, keys, &self.with_group(&args))
            .await?;
        Ok(held == 1)
    }
}

/// Milliseconds since the epoch, as Redis scores keep them.
fn epoch_ms(at: SystemTime) -> String {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
        .to_string()
}

/// The time `ms` milliseconds after the epoch.
fn from_epoch_ms(ms: &str) -> Result<SystemTime, Error> {
    let ms: u64 = ms.parse().map_err(|_| unexpected())?;
    Ok(UNIX_EPOCH + Duration::from_millis(ms))
}

fn millis(d: Duration) -> String {
    d.as_millis().clamp(1, u128::from(u64::MAX)).to_string()
}

fn event(text: &str) -> Result<EventId, Error> {
    EventId::parse(text).map_err(|e| unexpected().with_source(e))
}

/// A dead letter's error as stored: the JSON array of its messages (a
/// dead letter of an earlier version holds one message as plain text).
fn recorded(text: &str) -> RecordedError {
    match serde_json::from_str::<Vec<String>>(text) {
        Ok(messages) => RecordedError::from_messages(messages),
        Err(_) => RecordedError::from_messages([text]),
    }
}

/// Redis held something the inbox did not write.
fn unexpected() -> Error {
    Error::new(
        ErrorKind::Store,
        "the inbox's Redis keys hold something this crate did not write",
    )
}

#[async_trait]
impl Inbox for RedisInbox {
    async fn enqueue(&self, event: &EventId) -> Result<Enqueued, Error> {
        let k = &self.keys;
        let queued: i64 = self
            .connection
            .invoke(
                "queue an event",
                &ENQUEUE,
                &[&k.stream, &k.queued],
                &self.with_group(&[event.as_str()]),
            )
            .await?;
        Ok(if queued == 1 {
            Enqueued::Queued
        } else {
            Enqueued::AlreadyQueued
        })
    }

    async fn take(&self, consumer: &str, max: usize) -> Result<Vec<InboxItem>, Error> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let k = &self.keys;
        let (count, lease) = (max.to_string(), millis(self.lease));
        let flat: Vec<String> = self
            .connection
            .invoke(
                "take events from the inbox",
                &TAKE,
                &[&k.stream, &k.queued, &k.delayed],
                &self.with_group(&[consumer, &count, &lease]),
            )
            .await?;
        flat.chunks(4)
            .map(|entry| {
                let [id, event_id, attempts, enqueued] = entry else {
                    return Err(unexpected());
                };
                Ok(InboxItem::new(
                    event(event_id)?,
                    attempts.parse().map_err(|_| unexpected())?,
                    from_epoch_ms(enqueued)?,
                    consumer,
                    id.clone(),
                ))
            })
            .collect()
    }

    async fn renew(&self, item: &InboxItem) -> Result<bool, Error> {
        let held: i64 = self
            .connection
            .invoke(
                "renew an inbox lease",
                &RENEW,
                &[&self.keys.stream],
                &self.with_group(&[&item.consumer, &item.receipt]),
            )
            .await?;
        Ok(held == 1)
    }

    async fn ack(&self, item: &InboxItem) -> Result<bool, Error> {
        let k = &self.keys;
        self.settle(
            "acknowledge an inbox item",
            &ACK,
            &[&k.stream, &k.queued],
            item,
            &[],
        )
        .await
    }

    async fn retry(&self, item: &InboxItem, delay: Duration, attempts: u32) -> Result<bool, Error> {
        let k = &self.keys;
        let delay = delay.as_millis().min(u128::from(u64::MAX)).to_string();
        self.settle(
            "schedule an inbox retry",
            &RETRY,
            &[&k.stream, &k.queued, &k.delayed],
            item,
            &[&delay, &attempts.to_string(), &epoch_ms(item.enqueued_at)],
        )
        .await
    }

    async fn dead_letter(&self, item: &InboxItem, failure: Failure<'_>) -> Result<bool, Error> {
        let k = &self.keys;
        // The chain of messages as a JSON array: storable, and read back
        // whole.
        let recorded = RecordedError::new(failure.error);
        let messages: Vec<&str> = recorded.messages().collect();
        let error = serde_json::Value::from(messages).to_string();
        self.settle(
            "dead-letter an inbox item",
            &DEAD_LETTER,
            &[&k.stream, &k.queued, &k.dead, &k.dead_index],
            item,
            &[
                &failure.attempts.to_string(),
                &error,
                &epoch_ms(item.enqueued_at),
            ],
        )
        .await
    }

    async fn dead_letters(&self, max: usize) -> Result<Vec<DeadLetter>, Error> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let entries: Vec<(String, HashMap<String, String>)> = self
            .connection
            .query(
                "list dead letters",
                redis::cmd("XRANGE")
                    .arg(&self.keys.dead)
                    .arg("-")
                    .arg("+")
                    .arg("COUNT")
                    .arg(max),
            )
            .await?;
        entries
            .into_iter()
            .map(|(_, fields)| {
                let field = |name: &str| fields.get(name).ok_or_else(unexpected);
                Ok(DeadLetter::new(
                    event(field("event")?)?,
                    field("attempts")?.parse().map_err(|_| unexpected())?,
                    recorded(field("error")?),
                    from_epoch_ms(field("enqueued")?)?,
                    from_epoch_ms(field("at")?)?,
                ))
            })
            .collect()
    }

    async fn replay(&self, event: &EventId) -> Result<bool, Error> {
        let k = &self.keys;
        let replayed: i64 = self
            .connection
            .invoke(
                "replay a dead letter",
                &REPLAY,
                &[&k.stream, &k.queued, &k.dead, &k.dead_index],
                &self.with_group(&[event.as_str()]),
            )
            .await?;
        Ok(replayed == 1)
    }

    async fn depth(&self) -> Result<InboxDepth, Error> {
        let k = &self.keys;
        let (items, dead, age): (usize, usize, i64) = self
            .connection
            .invoke(
                "read the inbox's depth",
                &DEPTH,
                &[&k.queued, &k.dead_index],
                &[],
            )
            .await?;
        let oldest = u64::try_from(age).ok().map(Duration::from_millis);
        Ok(InboxDepth::new(items, oldest, dead))
    }

    fn lease(&self) -> Duration {
        self.lease
    }

    /// Deletes the consumer from the group, with every other consumer
    /// that holds nothing and was idle for an hour (workers of stopped
    /// processes), so that the group does not grow with each restart.
    async fn retire(&self, consumer: &str) -> Result<(), Error> {
        let idle = millis(Duration::from_secs(3600).max(self.lease * 2));
        let _: i64 = self
            .connection
            .invoke(
                "retire a worker",
                &RETIRE,
                &[&self.keys.stream],
                &self.with_group(&[consumer, &idle]),
            )
            .await?;
        Ok(())
    }
}
