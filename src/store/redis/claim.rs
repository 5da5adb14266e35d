//! [`RedisStore`] as a [`ClaimStore`], and the Lua scripts it runs (their
//! behaviour is documented on [`RedisStore`]).

use std::collections::BTreeSet;
use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use redis::Script;

use crate::error::Error;
use crate::model::EventId;

use super::{MAX_DURATION, RedisStore, millis, unexpected_reply};
use crate::store::{Claim, ClaimStore, ClaimToken, ClaimUpdate};

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

/// The Lua function the scripts that carry a delivery's progress share
/// (after `lua_holds`): while the event is claimed (the claim key's value
/// is neither absent nor `done`), whoever holds the claim, records the
/// owed work if `ARGV[at]` is `'1'` (text in `ARGV[at + 1]`, unless some is
/// recorded already) and adds the handlers in `ARGV[at + 2]…` to the set;
/// if it recorded anything, keeps the event's keys for at least `ttl` ms.
/// Returns whether `token` holds the claim. KEYS: claim, handlers, owed.
macro_rules! lua_record {
    () => {
        concat!(
            lua_keep!(),
            "local function record_holds(token, ttl, at)
                local state = redis.call('GET', KEYS[1])
                if not state or state == 'done' then return false end
                local any = false
                if ARGV[at] == '1' then
                    redis.call('SET', KEYS[3], ARGV[at + 1], 'NX')
                    any = true
                end
                if #ARGV > at + 1 then
                    redis.call('SADD', KEYS[2], unpack(ARGV, at + 2))
                    any = true
                end
                if any then keep(tonumber(ttl)) end
                return holds(state, token)
            end
            "
        )
    };
}

/// KEYS: claim, handlers, owed. ARGV: token, lease (µs), lease (ms),
/// handlers' time to live (ms), then the progress from `ARGV[5]` (see
/// `lua_record`). Records the progress, then returns 1 if the token held
/// the claim (now extended), 0 otherwise.
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        lua_holds!(),
        lua_record!(),
        "if not record_holds(ARGV[1], ARGV[4], 5) then return 0 end
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

/// KEYS: claim, handlers, owed. ARGV: token, handlers' time to live (ms),
/// then the progress from `ARGV[3]` (see `lua_record`). Records the
/// progress, then returns 1 if the token held the claim (now ended), 0
/// otherwise.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        lua_holds!(),
        lua_record!(),
        "if not record_holds(ARGV[1], ARGV[2], 3) then return 0 end
        redis.call('SET', KEYS[1], '0:' .. ARGV[1], 'KEEPTTL')
        return 1"
    ))
});

impl RedisStore {
    /// Runs `script` (the renewal or the release) on `update`'s event,
    /// with the token, then `args`, then the progress to record as
    /// `lua_record` reads it (`'1'`/`'0'` whether something is owed, the
    /// owed text, the handlers that completed). Answers whether the token
    /// held the claim.
    async fn record_progress(
        &self,
        what: &'static str,
        script: &Script,
        update: &ClaimUpdate<'_>,
        args: &[&str],
    ) -> Result<bool, Error> {
        let [claim, handlers, owed] = self.connection.event_keys(update.event);
        let progress = &update.progress;
        let mut all = Vec::with_capacity(3 + args.len() + progress.completed().len());
        all.push(update.token.as_str());
        all.extend_from_slice(args);
        all.push(if progress.owed().is_some() { "1" } else { "0" });
        all.push(progress.owed().unwrap_or(""));
        all.extend_from_slice(progress.completed());
        let reply: i64 = self
            .connection
            .invoke(what, script, &[&claim, &handlers, &owed], &all)
            .await?;
        Ok(reply == 1)
    }
}

#[async_trait]
impl ClaimStore for RedisStore {
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

    async fn renew(&self, update: ClaimUpdate<'_>, lease: Duration) -> Result<bool, Error> {
        let lease_micros = lease.min(MAX_DURATION).as_micros().to_string();
        let lease_millis = millis(lease).to_string();
        let ttl = millis(self.handlers_ttl).to_string();
        let args = [lease_micros.as_str(), &lease_millis, &ttl];
        self.record_progress("renew a claim", &RENEW, &update, &args)
            .await
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
        Ok(reply == 1)
    }

    async fn release(&self, update: ClaimUpdate<'_>) -> Result<bool, Error> {
        let ttl = millis(self.handlers_ttl).to_string();
        self.record_progress("release a claim", &RELEASE, &update, &[&ttl])
            .await
    }
}
