//! The [`TransactionTracker`]: the step of the pipeline that follows each
//! transaction's status across events that arrive late, twice, or out of
//! order, keeping the latest snapshot in the transaction store.

use std::sync::Arc;

use crate::error::Error;
use crate::model::{Event, Tracking, Transition};
use crate::store::{Applied, TransactionSnapshot, TransactionStore};

#[cfg(test)]
mod tests;

/// Follows transaction statuses, fed by the transaction snapshots of
/// events: what it reports, and the order of snapshots, are documented on
/// [`Tracking`].
#[derive(Clone)]
pub(crate) struct TransactionTracker {
    store: Arc<dyn TransactionStore>,
}

impl std::fmt::Debug for TransactionTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransactionTracker").finish_non_exhaustive()
    }
}

impl TransactionTracker {
    /// A tracker keeping its snapshots in `store`.
    pub(crate) fn new(store: Arc<dyn TransactionStore>) -> Self {
        TransactionTracker { store }
    }

    /// Applies the event's transaction snapshot. Events without a
    /// transaction change nothing.
    ///
    /// # Errors
    ///
    /// The store's error, of kind [`ErrorKind::Store`](crate::ErrorKind::Store).
    pub(crate) async fn track(&self, event: &Event) -> Result<Tracking, Error> {
        let Some(transaction) = event.transaction() else {
            return Ok(Tracking::default());
        };
        let Some(status) = &transaction.status else {
            return Ok(Tracking {
                no_status: true,
                ..Tracking::default()
            });
        };
        let snapshot = TransactionSnapshot::new(
            transaction.id.clone(),
            status.clone(),
            event.fired_at.clone(),
            event.id.clone(),
        );
        let time_unreadable = !snapshot.has_readable_time();
        Ok(match self.store.apply(&snapshot).await? {
            Applied::Newer { previous } => {
                let to = status.clone();
                let changed = previous
                    .as_ref()
                    .is_none_or(|from| *from != to || from.can_transition_to(&to));
                Tracking {
                    transition: changed.then(|| Transition::new(previous, to)),
                    stale: false,
                    time_unreadable,
                    no_status: false,
                }
            }
            Applied::Stale { .. } => Tracking {
                transition: None,
                stale: true,
                time_unreadable,
                no_status: false,
            },
        })
    }
}
