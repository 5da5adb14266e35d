//! [`RedisStore`] as a [`CursorStore`]: reconciler cursors and walk
//! leases in Redis (their keys are documented on [`RedisStore`]).

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use redis::Script;

use super::RedisStore;
use super::cursor::{Cursor, CursorStore, WalkLease};
use crate::error::{Error, ErrorKind};
use crate::model::EventId;

/// Takes or extends the lease (KEYS[1]) for ARGV[1] during ARGV[2] ms.
static LEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0",
    )
});

/// Saves the cursor (KEYS[2] = ARGV[2]) if ARGV[1] holds the lease KEYS[1].
static SAVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[2])
  return 1
end
return 0",
    )
});

/// Deletes the lease KEYS[1] if ARGV[1] holds it.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0",
    )
});

/// Adds (ARGV[3] = `add`) or removes ARGV[2] in the set KEYS[2] if ARGV[1]
/// holds the lease KEYS[1].
static STUCK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('GET', KEYS[1]) == ARGV[1] then
  if ARGV[3] == 'add' then
    redis.call('SADD', KEYS[2], ARGV[2])
  else
    redis.call('SREM', KEYS[2], ARGV[2])
  end
  return 1
end
return 0",
    )
});

impl RedisStore {
    /// The lease and cursor keys of `walk`.
    fn walk_keys(&self, walk: &str) -> [String; 2] {
        let base = self.walk_base(walk);
        [format!("{base}:lease"), format!("{base}:cursor")]
    }

    /// The prefix of `walk`'s keys.
    fn walk_base(&self, walk: &str) -> String {
        format!("{}walk:{{{walk}}}", self.connection().key_prefix())
    }

    /// Adds or removes `event` in the stuck set of the lease's walk.
    async fn change_stuck(
        &self,
        lease: WalkLease<'_>,
        event: &EventId,
        change: &'static str,
    ) -> Result<bool, Error> {
        let [lease_key, _] = self.walk_keys(lease.walk);
        let set = format!("{}:stuck", self.walk_base(lease.walk));
        let changed: i64 = self
            .connection()
            .invoke(
                "change a reconciler's stuck events",
                &STUCK,
                &[&lease_key, &set],
                &[lease.holder.as_str(), event.as_str(), change],
            )
            .await?;
        Ok(changed == 1)
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "reconciler")))]
#[async_trait]
impl CursorStore for RedisStore {
    async fn load(&self, walk: &str) -> Result<Option<Cursor>, Error> {
        static GET: LazyLock<Script> =
            LazyLock::new(|| Script::new("return redis.call('GET', KEYS[1])"));
        let [_, cursor] = self.walk_keys(walk);
        let text: Option<String> = self
            .connection()
            .invoke("read a reconciler cursor", &GET, &[&cursor], &[])
            .await?;
        text.as_deref().map(Cursor::from_text).transpose()
    }

    async fn lease(&self, lease: WalkLease<'_>, ttl: Duration) -> Result<bool, Error> {
        let (holder, [lease, _]) = (lease.holder, self.walk_keys(lease.walk));
        let millis = ttl.as_millis().clamp(1, u128::from(u32::MAX)).to_string();
        let taken: i64 = self
            .connection()
            .invoke(
                "take a reconciler lease",
                &LEASE,
                &[&lease],
                &[holder.as_str(), &millis],
            )
            .await?;
        Ok(taken == 1)
    }

    async fn save(&self, lease: WalkLease<'_>, cursor: &Cursor) -> Result<bool, Error> {
        let (holder, [lease, key]) = (lease.holder, self.walk_keys(lease.walk));
        let saved: i64 = self
            .connection()
            .invoke(
                "save a reconciler cursor",
                &SAVE,
                &[&lease, &key],
                &[holder.as_str(), &cursor.to_text()],
            )
            .await?;
        Ok(saved == 1)
    }

    async fn release(&self, lease: WalkLease<'_>) -> Result<(), Error> {
        let (holder, [lease, _]) = (lease.holder, self.walk_keys(lease.walk));
        let _: i64 = self
            .connection()
            .invoke(
                "release a reconciler lease",
                &RELEASE,
                &[&lease],
                &[holder.as_str()],
            )
            .await?;
        Ok(())
    }

    async fn stuck(&self, walk: &str) -> Result<Vec<EventId>, Error> {
        static MEMBERS: LazyLock<Script> =
            LazyLock::new(|| Script::new("return redis.call('SMEMBERS', KEYS[1])"));
        let set = format!("{}:stuck", self.walk_base(walk));
        let members: Vec<String> = self
            .connection()
            .invoke("read a reconciler's stuck events", &MEMBERS, &[&set], &[])
            .await?;
        let mut stuck = members
            .iter()
            .map(|id| EventId::parse(id))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                Error::new(ErrorKind::Store, "a stored stuck event is not an event ID")
                    .with_source(e)
            })?;
        stuck.sort();
        Ok(stuck)
    }

    async fn add_stuck(&self, lease: WalkLease<'_>, event: &EventId) -> Result<bool, Error> {
        self.change_stuck(lease, event, "add").await
    }

    async fn remove_stuck(&self, lease: WalkLease<'_>, event: &EventId) -> Result<bool, Error> {
        self.change_stuck(lease, event, "remove").await
    }
}
