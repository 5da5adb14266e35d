//! [`MemoryStore`] as a [`ClaimStore`] (its behaviour is documented on
//! [`MemoryStore`]).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{MemoryStore, lock};
use crate::error::{Error, ErrorKind};
use crate::model::EventId;
use crate::store::{Claim, ClaimStore, ClaimToken, ClaimUpdate};

/// What the claim store remembers of an event. A processed event (nearly
/// every one remembered) is only its expiry; an unfinished one boxes its
/// claim, so the map's slots stay small.
pub(super) enum ClaimEntry {
    Done { until: Instant },
    Claimed(Box<LiveClaim>),
}

/// An unfinished event's claim: its holder, lease end and records.
pub(super) struct LiveClaim {
    token: ClaimToken,
    until: Instant,
    completed: BTreeSet<String>,
    owed: Option<String>,
}

impl ClaimEntry {
    fn new(token: ClaimToken, until: Instant) -> Self {
        ClaimEntry::Claimed(Box::new(LiveClaim {
            token,
            until,
            completed: BTreeSet::new(),
            owed: None,
        }))
    }

    /// The claim, when `token` holds it (its lease may have lapsed, as long
    /// as nobody took the event over).
    fn held_by(&mut self, token: &ClaimToken) -> Option<&mut LiveClaim> {
        match self {
            ClaimEntry::Claimed(live) if live.token == *token => Some(live),
            _ => None,
        }
    }

    /// Whether the entry may be forgotten to make room: anything but a
    /// live claim.
    fn evictable(&self, now: Instant) -> bool {
        match self {
            ClaimEntry::Claimed(live) => live.until <= now,
            ClaimEntry::Done { .. } => true,
        }
    }
}

impl MemoryStore {
    /// Records the update's progress while its event is claimed (whoever
    /// holds it: the records are facts), then applies `change` to the
    /// claim if the update's token holds it; answers whether it did. A processed event keeps no
    /// records: they are forgotten when it completes, and a later claim
    /// answers `AlreadyDone`.
    fn with_progress(&self, update: ClaimUpdate<'_>, change: impl FnOnce(&mut LiveClaim)) -> bool {
        let ClaimUpdate {
            event,
            token,
            progress,
        } = update;
        let mut inner = lock(&self.inner.claims);
        let Some(entry) = inner.get_mut(event) else {
            return false;
        };
        if let ClaimEntry::Claimed(live) = entry {
            for handler in progress.completed() {
                if !live.completed.contains(*handler) {
                    live.completed.insert((*handler).to_owned());
                }
            }
            if let (None, Some(owed)) = (&live.owed, progress.owed()) {
                live.owed = Some(owed.to_owned());
            }
        }
        match entry.held_by(token) {
            Some(live) => {
                change(live);
                true
            }
            None => false,
        }
    }
}

#[async_trait]
impl ClaimStore for MemoryStore {
    async fn claim(&self, event: &EventId, lease: Duration) -> Result<Claim, Error> {
        let now = Instant::now();
        let mut inner = lock(&self.inner.claims);
        if let Some(entry) = inner.get_mut(event) {
            match entry {
                ClaimEntry::Done { until } if *until > now => return Ok(Claim::AlreadyDone),
                ClaimEntry::Claimed(live) if live.until > now => return Ok(Claim::InProgress),
                ClaimEntry::Claimed(live) => {
                    // The lease expired: take over, keeping what completed.
                    let token = ClaimToken::unique();
                    live.token = token.clone();
                    live.until = now + lease;
                    return Ok(Claim::Acquired {
                        token,
                        completed: live.completed.clone(),
                        owed: live.owed.clone(),
                    });
                }
                ClaimEntry::Done { .. } => inner.remove(event),
            }
        }
        let token = ClaimToken::unique();
        let entry = ClaimEntry::new(token.clone(), now + lease);
        inner
            .insert(Arc::new(event.clone()), entry, |e| e.evictable(now))
            .map_err(|()| {
                Error::new(
                    ErrorKind::Store,
                    "the in-memory claim store is full of events being processed",
                )
            })?;
        Ok(Claim::Acquired {
            token,
            completed: BTreeSet::new(),
            owed: None,
        })
    }

    async fn renew(&self, update: ClaimUpdate<'_>, lease: Duration) -> Result<bool, Error> {
        let now = Instant::now();
        Ok(self.with_progress(update, |live| live.until = now + lease))
    }

    async fn complete(&self, event: &EventId, token: &ClaimToken) -> Result<bool, Error> {
        let until = Instant::now() + self.inner.done_ttl;
        let mut inner = lock(&self.inner.claims);
        let Some(entry) = inner.get_mut(event) else {
            return Ok(false);
        };
        if entry.held_by(token).is_none() {
            return Ok(false);
        }
        // Dropping the live claim forgets its handler and owed records.
        *entry = ClaimEntry::Done { until };
        inner.evict_first(event);
        Ok(true)
    }

    async fn release(&self, update: ClaimUpdate<'_>) -> Result<bool, Error> {
        let now = Instant::now();
        Ok(self.with_progress(update, |live| live.until = now))
    }
}
