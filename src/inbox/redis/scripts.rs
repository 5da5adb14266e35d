//! The Lua scripts of [`RedisInbox`](super::RedisInbox): each operation
//! that must be atomic is one script over the inbox's keys (all in one
//! hash slot).

use std::sync::LazyLock;

use redis::Script;

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
pub(super) static ENQUEUE: LazyLock<Script> = LazyLock::new(|| {
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
/// whose holder let them idle past the lease (counting each earlier
/// delivery of the entry as a failed attempt), then new ones. Returns
/// `id, event, attempts, enqueued` for each.
pub(super) static TAKE: LazyLock<Script> = LazyLock::new(|| {
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
        local function add(entries, taken_over)
            for _, e in ipairs(entries) do
                local fields = {}
                local f = e[2] or {}
                for i = 1, #f, 2 do fields[f[i]] = f[i + 1] end
                if fields.event then
                    local attempts = tonumber(fields.attempts or '0') or 0
                    if taken_over then
                        -- Each earlier delivery of the entry was an attempt
                        -- its worker never settled: counted as failed.
                        local p = redis.call('XPENDING', KEYS[1], ARGV[1], e[1], e[1], 1)
                        if #p == 1 then attempts = attempts + tonumber(p[1][4]) - 1 end
                    end
                    out[#out + 1] = e[1]
                    out[#out + 1] = fields.event
                    out[#out + 1] = fmt(attempts)
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
            add(claimed[2], true)
        until cursor == '0-0' or #out / 4 >= count
        local left = count - #out / 4
        if left > 0 then
            local read = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', left,
                'STREAMS', KEYS[1], '>')
            if read then add(read[1][2], false) end
        end
        return out"
    ))
});

/// KEYS: stream. ARGV: group, consumer, id.
pub(super) static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        lua_common!(),
        "if not holds(ARGV[2], ARGV[3]) then return 0 end
        redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
        return 1"
    ))
});

/// KEYS: stream, queued. ARGV: group, consumer, id, event.
pub(super) static ACK: LazyLock<Script> = LazyLock::new(|| {
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
pub(super) static RETRY: LazyLock<Script> = LazyLock::new(|| {
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
/// event, attempts, error (the JSON array of its messages), enqueued (ms,
/// if the index lost it).
pub(super) static DEAD_LETTER: LazyLock<Script> = LazyLock::new(|| {
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
pub(super) static REPLAY: LazyLock<Script> = LazyLock::new(|| {
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
pub(super) static DEPTH: LazyLock<Script> = LazyLock::new(|| {
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
pub(super) static RETIRE: LazyLock<Script> = LazyLock::new(|| {
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
