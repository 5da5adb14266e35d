//! [`RedisInbox`]: the inbox on Redis Streams, shared by every instance.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use redis::Script;

use super::{DEFAULT_INBOX_LEASE, DeadLetter, Enqueued, Inbox, InboxDepth, InboxItem};
use crate::error::{Error, ErrorKind};
use crate::model::EventId;
use crate::store::{RedisConnection, RedisStores};

/// The Lua functions the scripts share. KEYS[1] is always the stream and
/// ARGV[1] the consumer group.
macro_rules! lua_common {
    () => {
        "local function now_ms()
            local t = redis.call('TIME')
            return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        end
        local function fmt(n) return string.format('%.0f', n) end
        local function ensure()
            if redis.call('EXISTS', KEYS[1]) == 0 then
                redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
            end
        end
        local function push(event, attempts, enqueued)
            return redis.call('XADD', KEYS[1], '*', 'event', event,
                'attempts', attempts, 'enqueued', enqueued)
        end
        local function holds(consumer, id)
            local p = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)
            return #p == 1 and p[1][2] == consumer
        end
        local function drop(id)
            redis.call('XACK', KEYS[1], ARGV[1], id)
            redis.call('XDEL', KEYS[1], id)
        end
        "
    };
}

/// KEYS: stream, queued. ARGV: group, event. 1 if queued, 0 if it was.
static ENQUEUE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        lua_common!(),
        "if redis.call('ZSCORE', KEYS[2], ARGV[2]) then return 0 end
        ensure()
        local now = fmt(now_ms())
        push(ARGV[2], '0', now)
        redis.call('ZADD', KEYS[2], now, ARGV[2])
        return 1"
    ))
});

/// KEYS: stream, queued, delayed. ARGV: group, consumer, count, lease
/// (ms). Moves the retries that are due to the stream, takes entries
/// whose holder let them idle past the lease, then new ones. Returns
/// `id, event, attempts, enqueued` for each.
static TAKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        lua_common!(),
        "ensure()
        local now = now_ms()
        local due = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', fmt(now), 'LIMIT', 0, 1000)
        for _, member in ipairs(due) do
            local attempts, enqueued, event = string.match(member, '^(%d+):(%d+):(.+)$')
            if event then push(event, attempts, enqueued) end
            redis.call('ZREM', KEYS[3], member)
        end
        local count = tonumber(ARGV[3])
        local out = {}
        local function add(entries)
            for _, e in ipairs(entries) do
                local fields = {}
                local f = e[2] or {}
                for i = 1, #f, 2 do fields[f[i]] = f[i + 1] end
                if fields.event then
                    out[#out + 1] = e[1]
                    out[#out + 1] = fields.event
                    out[#out + 1] = fields.attempts or '0'
                    out[#out + 1] = fields.enqueued or fmt(now)
                else
                    drop(e[1])
                end
            end
        end
        local cursor = '0-0'
        repeat
            local claimed = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[4],
                cursor, 'COUNT', count - #out / 4)
            cursor = claimed[1]
            add(claimed[2])
        until cursor == '0-0' or #out / 4 >= count
        local left = count - #out / 4
        if left > 0 then
            local read = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', left,
                'STREAMS', KEYS[1], '>')
            if read then add(read[1][2]) end
        end
        return out"
    ))
});

/// KEYS: stream. ARGV: group, consumer, id.
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        lua_common!(),
        "if not holds(ARGV[2], ARGV[3]) then return 0 end
        redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
        return 1"
    ))
});

/// KEYS: stream, queued. ARGV: group, consumer, id, event.
static ACK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        lua_common!(),
        "if not holds(ARGV[2], ARGV[3]) then return 0 end
        drop(ARGV[3])
        redis.call('ZREM', KEYS[2], ARGV[4])
        return 1"
    ))
});

/// KEYS: stream, queued, delayed. ARGV: group, consumer, id, event, delay
/// (ms), attempts, enqueued (ms, if the index lost it).
static RETRY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        lua_common!(),
        "if not holds(ARGV[2], ARGV[3]) then return 0 end
        drop(ARGV[3])
        local enqueued = redis.call('ZSCORE', KEYS[2], ARGV[4])
        if not enqueued then
            enqueued = ARGV[7]
            redis.call('ZADD', KEYS[2], enqueued, ARGV[4])
        end
        local due = fmt(now_ms() + tonumber(ARGV[5]))
        redis.call('ZADD', KEYS[3], due,
            ARGV[6] .. ':' .. fmt(tonumber(enqueued)) .. ':' .. ARGV[4])
        return 1"
    ))
});

/// KEYS: stream, queued, dead, dead index. ARGV: group, consumer, id,
/// event, attempts, error, enqueued (ms, if the index lost it).
static DEAD_LETTER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        lua_common!(),
        "if not holds(ARGV[2], ARGV[3]) then return 0 end
        drop(ARGV[3])
        local enqueued = redis.call('ZSCORE', KEYS[2], ARGV[4]) or ARGV[7]
        redis.call('ZREM', KEYS[2], ARGV[4])
        local old = redis.call('HGET', KEYS[4], ARGV[4])
        if old then redis.call('XDEL', KEYS[3], old) end
        local id = redis.call('XADD', KEYS[3], '*', 'event', ARGV[4], 'attempts', ARGV[5],
            'enqueued', fmt(tonumber(enqueued)), 'error', ARGV[6], 'at', fmt(now_ms()))
        redis.call('HSET', KEYS[4], ARGV[4], id)
        return 1"
    ))
});

/// KEYS: stream, queued, dead, dead index. ARGV: group, event.
static REPLAY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        lua_common!(),
        "local old = redis.call('HGET', KEYS[4], ARGV[2])
        if not old then return 0 end
        redis.call('XDEL', KEYS[3], old)
        redis.call('HDEL', KEYS[4], ARGV[2])
        if not redis.call('ZSCORE', KEYS[2], ARGV[2]) then
            ensure()
            local now = fmt(now_ms())
            push(ARGV[2], '0', now)
            redis.call('ZADD', KEYS[2], now, ARGV[2])
        end
        return 1"
    ))
});

/// KEYS: queued, dead index. Returns items, dead letters, and the oldest
/// item's age in ms (or -1).
static DEPTH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
        local age = -1
        if oldest[2] then age = math.max(0, now - tonumber(oldest[2])) end
        return {redis.call('ZCARD', KEYS[1]), redis.call('HLEN', KEYS[2]),
            string.format('%.0f', age)}",
    )
});

/// KEYS: stream. ARGV: group, consumer, idle (ms). Deletes the consumer,
/// and every consumer idle for longer than `idle`, that holds nothing.
static RETIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
        local ok, consumers = pcall(redis.call, 'XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
        if not ok then return 0 end
        local gone = 0
        for _, c in ipairs(consumers) do
            local info = {}
            for i = 1, #c, 2 do info[c[i]] = c[i + 1] end
            if info.pending == 0 and (info.name == ARGV[2] or info.idle > tonumber(ARGV[3])) then
                redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], info.name)
                gone = gone + 1
            end
        end
        return gone",
    )
});

/// The inbox on Redis Streams (feature `redis`): every instance of the
/// application shares it, and with Redis persistence on it survives a
/// restart of Redis or of every instance. Made with [`RedisInbox::new`]
/// on the connection of [`RedisStores`], so it works on one server and on
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
/// let stores = RedisStoreBuilder::new("redis://127.0.0.1:6379").build().await?;
/// let receiver = builder
///     .claim_store(stores.claim_store())
///     .transaction_store(stores.transaction_store())
///     .inbox(RedisInbox::new(&stores, "shop")?)
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
    /// `.`), on the connection, key prefix and timeout of `stores`. Every
    /// instance of one application uses the same name; the name is also
    /// the stream's consumer group.
    ///
    /// ```no_run
    /// use smart_router_webhooks::RedisStoreBuilder;
    /// use smart_router_webhooks::inbox::RedisInbox;
    ///
    /// # async fn run() -> Result<(), smart_router_webhooks::Error> {
    /// let stores = RedisStoreBuilder::new("redis://127.0.0.1:6379").build().await?;
    /// let inbox = RedisInbox::new(&stores, "shop")?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] when the name is empty or has another
    /// character.
    pub fn new(stores: &RedisStores, name: impl Into<String>) -> Result<Self, Error> {
        let name = name.into();
        let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
        if name.is_empty() || !name.chars().all(allowed) {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                "the inbox's name is empty or has characters other than letters, digits, `-`, `_`, `.`",
            ));
        }
        let connection = stores.connection().clone();
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

    async fn dead_letter(
        &self,
        item: &InboxItem,
        attempts: u32,
        error: &str,
    ) -> Result<bool, Error> {
        let k = &self.keys;
        self.settle(
            "dead-letter an inbox item",
            &DEAD_LETTER,
            &[&k.stream, &k.queued, &k.dead, &k.dead_index],
            item,
            &[&attempts.to_string(), error, &epoch_ms(item.enqueued_at)],
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
                    field("error")?.clone(),
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
