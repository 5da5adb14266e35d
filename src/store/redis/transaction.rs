//! [`RedisStore`] as a [`TransactionStore`], and the Lua script it runs
//! (its behaviour is documented on [`RedisStore`]).

use std::sync::LazyLock;

use async_trait::async_trait;
use redis::Script;

use crate::error::Error;
use crate::model::{EventId, Timestamp, TransactionId, TransactionStatus};

use super::{NANOS_PER_SECOND, RedisStore, millis, unexpected_reply};
use crate::store::{Applied, TransactionSnapshot, TransactionStore};

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

impl RedisStore {
    /// The latest snapshot of `transaction`, if one is known: one
    /// `HMGET`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) when Redis does not
    /// answer within the timeout.
    pub async fn latest(
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
            fired_at.as_deref().map(Timestamp::lenient),
            event,
        ))
    }
}

#[async_trait]
impl TransactionStore for RedisStore {
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
        let ttl = millis(self.transaction_ttl).to_string();
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
}
