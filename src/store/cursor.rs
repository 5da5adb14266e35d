//! Where a [`Reconciler`](crate::reconcile::Reconciler) keeps its place in
//! the API's event list, and who may walk it: [`CursorStore`], and its
//! implementation by [`MemoryStore`] for one process.

use std::collections::BTreeSet;
use std::fmt;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{ClaimToken, MemoryStore};
use crate::error::{Error, ErrorKind};
use crate::model::EventId;

/// A reconciler's place in the event list.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Cursor {
    /// Nothing is done yet and the walk starts with the oldest event
    /// (recorded when the list was empty on the first run).
    Beginning,
    /// Every event up to this one is done; the walk goes on after it.
    After(EventId),
}

impl Cursor {
    /// The text a store keeps: `beginning` or `after:<event ID>`.
    pub fn to_text(&self) -> String {
        match self {
            Cursor::Beginning => "beginning".to_owned(),
            Cursor::After(id) => format!("after:{id}"),
        }
    }

    /// Reads the text of [`to_text`](Cursor::to_text).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Store`] when the text is not a cursor.
    pub fn from_text(text: &str) -> Result<Cursor, Error> {
        if text == "beginning" {
            return Ok(Cursor::Beginning);
        }
        let not_a_cursor = || Error::new(ErrorKind::Store, "the stored cursor is not a cursor");
        let id = text.strip_prefix("after:").ok_or_else(not_a_cursor)?;
        EventId::parse(id)
            .map(Cursor::After)
            .map_err(|e| not_a_cursor().with_source(e))
    }

    /// The last event done, if any.
    pub fn event_id(&self) -> Option<&EventId> {
        match self {
            Cursor::Beginning => None,
            Cursor::After(id) => Some(id),
        }
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// The lease on a walk as its holder names it: the walk and the holder's
/// token, which every change of a walk carries, so that only the lease's
/// holder changes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalkLease<'a> {
    /// The walk's name.
    pub walk: &'a str,
    /// The token of the (would-be) holder of the lease.
    pub holder: &'a ClaimToken,
}

impl<'a> WalkLease<'a> {
    /// The lease on `walk` as `holder` names it.
    pub fn new(walk: &'a str, holder: &'a ClaimToken) -> Self {
        WalkLease { walk, holder }
    }
}

/// Keeps the cursor of each named walk, and a lease on the walk so that
/// only one instance walks it at a time.
///
/// The cursor is only written by the lease's holder: a process whose lease
/// ended (paused, cut off) cannot move the cursor of the one that took
/// over.
#[async_trait]
pub trait CursorStore: Send + Sync + 'static {
    /// The cursor of `walk`, if one was saved.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Store`] when the store cannot answer.
    async fn load(&self, walk: &str) -> Result<Option<Cursor>, Error>;

    /// Takes the lease on its walk for `ttl`, or extends it when its
    /// holder has it already. `false` when another holder's lease has not
    /// ended.
    ///
    /// # Errors
    ///
    /// As for [`load`](CursorStore::load).
    async fn lease(&self, lease: WalkLease<'_>, ttl: Duration) -> Result<bool, Error>;

    /// Saves `cursor` if the lease's holder has it; `false` (and nothing
    /// saved) otherwise.
    ///
    /// # Errors
    ///
    /// As for [`load`](CursorStore::load).
    async fn save(&self, lease: WalkLease<'_>, cursor: &Cursor) -> Result<bool, Error>;

    /// Ends the lease, if its holder has it.
    ///
    /// # Errors
    ///
    /// As for [`load`](CursorStore::load).
    async fn release(&self, lease: WalkLease<'_>) -> Result<(), Error>;

    /// The events of `walk` reported stuck and not done since, in the
    /// order of their IDs: the reconciler tries each again at the start of
    /// every run.
    ///
    /// # Errors
    ///
    /// As for [`load`](CursorStore::load).
    async fn stuck(&self, walk: &str) -> Result<Vec<EventId>, Error>;

    /// Adds `event` to the stuck events of the lease's walk if its holder
    /// has it; `false` (and nothing added) otherwise.
    ///
    /// # Errors
    ///
    /// As for [`load`](CursorStore::load).
    async fn add_stuck(&self, lease: WalkLease<'_>, event: &EventId) -> Result<bool, Error>;

    /// Removes `event` from the stuck events of the lease's walk if its
    /// holder has it; `false` (and nothing removed) otherwise.
    ///
    /// # Errors
    ///
    /// As for [`load`](CursorStore::load).
    async fn remove_stuck(&self, lease: WalkLease<'_>, event: &EventId) -> Result<bool, Error>;
}

#[async_trait]
impl<S: CursorStore + ?Sized> CursorStore for std::sync::Arc<S> {
    async fn load(&self, walk: &str) -> Result<Option<Cursor>, Error> {
        (**self).load(walk).await
    }

    async fn lease(&self, lease: WalkLease<'_>, ttl: Duration) -> Result<bool, Error> {
        (**self).lease(lease, ttl).await
    }

    async fn save(&self, lease: WalkLease<'_>, cursor: &Cursor) -> Result<bool, Error> {
        (**self).save(lease, cursor).await
    }

    async fn release(&self, lease: WalkLease<'_>) -> Result<(), Error> {
        (**self).release(lease).await
    }

    async fn stuck(&self, walk: &str) -> Result<Vec<EventId>, Error> {
        (**self).stuck(walk).await
    }

    async fn add_stuck(&self, lease: WalkLease<'_>, event: &EventId) -> Result<bool, Error> {
        (**self).add_stuck(lease, event).await
    }

    async fn remove_stuck(&self, lease: WalkLease<'_>, event: &EventId) -> Result<bool, Error> {
        (**self).remove_stuck(lease, event).await
    }
}

/// What [`MemoryStore`] keeps of a walk.
#[derive(Debug, Default)]
pub(super) struct Walk {
    cursor: Option<Cursor>,
    lease: Option<(ClaimToken, Instant)>,
    stuck: BTreeSet<EventId>,
}

impl Walk {
    fn held_by(&self, holder: &ClaimToken) -> bool {
        self.lease
            .as_ref()
            .is_some_and(|(token, until)| token == holder && *until > Instant::now())
    }
}

impl MemoryStore {
    /// Runs `f` on `walk`'s state.
    fn with_walk<T>(&self, walk: &str, f: impl FnOnce(&mut Walk) -> T) -> T {
        f(self.walks().entry(walk.to_owned()).or_default())
    }

    /// Runs `change` if the lease's holder has it; whether it did.
    fn if_held(&self, lease: WalkLease<'_>, change: impl FnOnce(&mut Walk)) -> bool {
        self.with_walk(lease.walk, |w| {
            let held = w.held_by(lease.holder);
            if held {
                change(w);
            }
            held
        })
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "reconciler")))]
#[async_trait]
impl CursorStore for MemoryStore {
    async fn load(&self, walk: &str) -> Result<Option<Cursor>, Error> {
        Ok(self.with_walk(walk, |w| w.cursor.clone()))
    }

    async fn lease(&self, lease: WalkLease<'_>, ttl: Duration) -> Result<bool, Error> {
        let holder = lease.holder;
        Ok(self.with_walk(lease.walk, |w| {
            let now = Instant::now();
            let free = w
                .lease
                .as_ref()
                .is_none_or(|(token, until)| token == holder || *until <= now);
            if free {
                w.lease = Some((holder.clone(), now + ttl));
            }
            free
        }))
    }

    async fn save(&self, lease: WalkLease<'_>, cursor: &Cursor) -> Result<bool, Error> {
        Ok(self.if_held(lease, |w| w.cursor = Some(cursor.clone())))
    }

    async fn release(&self, lease: WalkLease<'_>) -> Result<(), Error> {
        self.with_walk(lease.walk, |w| {
            if w.lease
                .as_ref()
                .is_some_and(|(token, _)| token == lease.holder)
            {
                w.lease = None;
            }
        });
        Ok(())
    }

    async fn stuck(&self, walk: &str) -> Result<Vec<EventId>, Error> {
        Ok(self.with_walk(walk, |w| w.stuck.iter().cloned().collect()))
    }

    async fn add_stuck(&self, lease: WalkLease<'_>, event: &EventId) -> Result<bool, Error> {
        Ok(self.if_held(lease, |w| {
            w.stuck.insert(event.clone());
        }))
    }

    async fn remove_stuck(&self, lease: WalkLease<'_>, event: &EventId) -> Result<bool, Error> {
        Ok(self.if_held(lease, |w| {
            w.stuck.remove(event);
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_read_back_their_text() {
        let after = Cursor::After(EventId::parse("ev_1").unwrap());
        for cursor in [Cursor::Beginning, after] {
            assert_eq!(Cursor::from_text(&cursor.to_text()).unwrap(), cursor);
        }
        assert!(Cursor::from_text("after:bad id").is_err());
        assert!(Cursor::from_text("ev_1").is_err());
    }

    #[tokio::test]
    async fn only_the_lease_holder_moves_the_cursor() {
        let store = MemoryStore::default();
        let (a, b) = (ClaimToken::unique(), ClaimToken::unique());
        let ttl = Duration::from_millis(50);
        assert!(store.lease(WalkLease::new("w", &a), ttl).await.unwrap());
        assert!(!store.lease(WalkLease::new("w", &b), ttl).await.unwrap());
        assert!(store.lease(WalkLease::new("other", &b), ttl).await.unwrap());
        assert!(
            !store
                .save(WalkLease::new("w", &b), &Cursor::Beginning)
                .await
                .unwrap()
        );
        assert!(
            store
                .save(WalkLease::new("w", &a), &Cursor::Beginning)
                .await
                .unwrap()
        );
        assert_eq!(store.load("w").await.unwrap(), Some(Cursor::Beginning));
        tokio::time::sleep(ttl * 2).await;
        assert!(
            !store
                .save(WalkLease::new("w", &a), &Cursor::Beginning)
                .await
                .unwrap()
        );
        assert!(store.lease(WalkLease::new("w", &b), ttl).await.unwrap());
        store.release(WalkLease::new("w", &a)).await.unwrap();
        assert!(
            !store.lease(WalkLease::new("w", &a), ttl).await.unwrap(),
            "a stranger's release is ignored"
        );
        store.release(WalkLease::new("w", &b)).await.unwrap();
        assert!(store.lease(WalkLease::new("w", &a), ttl).await.unwrap());
    }

    #[tokio::test]
    async fn only_the_lease_holder_changes_the_stuck_events() {
        let store = MemoryStore::default();
        let (a, b) = (ClaimToken::unique(), ClaimToken::unique());
        let id = |text| EventId::parse(text).unwrap();
        let (one, two) = (id("ev_1"), id("ev_2"));
        assert!(
            store
                .lease(WalkLease::new("w", &a), Duration::from_secs(60))
                .await
                .unwrap()
        );
        assert!(
            store
                .add_stuck(WalkLease::new("w", &a), &two)
                .await
                .unwrap()
        );
        assert!(
            store
                .add_stuck(WalkLease::new("w", &a), &one)
                .await
                .unwrap()
        );
        assert!(
            !store
                .add_stuck(WalkLease::new("w", &b), &two)
                .await
                .unwrap()
        );
        assert!(
            !store
                .remove_stuck(WalkLease::new("w", &b), &one)
                .await
                .unwrap()
        );
        assert_eq!(store.stuck("w").await.unwrap(), [one.clone(), two.clone()]);
        assert!(store.stuck("other").await.unwrap().is_empty());
        assert!(
            store
                .remove_stuck(WalkLease::new("w", &a), &one)
                .await
                .unwrap()
        );
        assert_eq!(store.stuck("w").await.unwrap(), [two]);
    }
}
