//! [`MemoryStore`] as a [`TransactionStore`] (its behaviour is documented
//! on [`MemoryStore`]).

use std::collections::VecDeque;
use std::sync::Arc;

use async_trait::async_trait;

use super::{MemoryStore, lock};
use crate::error::Error;
use crate::model::{EventId, Timestamp, TransactionId, TransactionStatus};
use crate::store::{Applied, SnapshotParts, TransactionSnapshot, TransactionStore};

/// How many superseded events' answers the in-memory transaction store
/// keeps per transaction, for their retries.
const ANSWERS_PER_TRANSACTION: usize = 16;

/// The events applied as newer before the latest, with the `previous`
/// each was answered, the most recent last.
type Superseded = VecDeque<(EventId, Option<TransactionStatus>)>;

/// What the transaction store keeps of a transaction: its latest snapshot
/// (without the transaction's ID, which is the map's key) and the answers
/// given so far.
pub(super) struct TransactionRecord {
    status: TransactionStatus,
    fired_at: Option<Timestamp>,
    event_id: EventId,
    previous: Option<TransactionStatus>,
    /// Allocated when a second event of the transaction is applied: most
    /// transactions remembered have one.
    superseded: Option<Box<Superseded>>,
}

impl TransactionRecord {
    fn new(snapshot: &TransactionSnapshot) -> Self {
        TransactionRecord {
            status: snapshot.status.clone(),
            fired_at: snapshot.fired_at.clone(),
            event_id: snapshot.event_id.clone(),
            previous: None,
            superseded: None,
        }
    }

    fn parts(&self) -> SnapshotParts<'_> {
        SnapshotParts {
            status: &self.status,
            fired_at: self.fired_at.as_ref(),
            event_id: &self.event_id,
        }
    }

    fn snapshot(&self, transaction: &TransactionId) -> TransactionSnapshot {
        TransactionSnapshot::new(
            transaction.clone(),
            self.status.clone(),
            self.fired_at.clone(),
            self.event_id.clone(),
        )
    }

    /// The answer given to `event` when it was applied as newer, if it is
    /// the latest or one of the superseded events remembered.
    fn answer(&self, event: &EventId) -> Option<&Option<TransactionStatus>> {
        if self.event_id == *event {
            return Some(&self.previous);
        }
        let superseded = self.superseded.as_deref()?;
        superseded.iter().find(|(e, _)| e == event).map(|(_, p)| p)
    }

    /// Makes `snapshot` the latest, keeping the answer of the one it
    /// supersedes; answers the status before it.
    fn supersede(&mut self, snapshot: &TransactionSnapshot) -> Option<TransactionStatus> {
        let previous = Some(std::mem::replace(&mut self.status, snapshot.status.clone()));
        let event = std::mem::replace(&mut self.event_id, snapshot.event_id.clone());
        self.fired_at.clone_from(&snapshot.fired_at);
        let answered = std::mem::replace(&mut self.previous, previous.clone());
        let superseded = self.superseded.get_or_insert_with(Box::default);
        if superseded.len() == ANSWERS_PER_TRANSACTION {
            superseded.pop_front();
        }
        superseded.push_back((event, answered));
        previous
    }
}

impl MemoryStore {
    /// The latest snapshot of `transaction`, if the store remembers it.
    pub fn latest(&self, transaction: &TransactionId) -> Option<TransactionSnapshot> {
        lock(&self.inner.transactions)
            .get(transaction)
            .map(|r| r.snapshot(transaction))
    }
}

#[async_trait]
impl TransactionStore for MemoryStore {
    async fn apply(&self, snapshot: &TransactionSnapshot) -> Result<Applied, Error> {
        let mut inner = lock(&self.inner.transactions);
        let transaction = &snapshot.transaction_id;
        if let Some(record) = inner.get_mut(transaction) {
            if let Some(previous) = record.answer(&snapshot.event_id) {
                return Ok(Applied::Newer {
                    previous: previous.clone(),
                });
            }
            if !snapshot.parts().is_newer_than(&record.parts()) {
                return Ok(Applied::Stale {
                    latest: record.snapshot(transaction),
                });
            }
            let previous = record.supersede(snapshot);
            inner.touch(transaction);
            return Ok(Applied::Newer { previous });
        }
        // Every record may be forgotten, so inserting cannot fail.
        let record = TransactionRecord::new(snapshot);
        let _ = inner.insert(Arc::new(transaction.clone()), record, |_| true);
        Ok(Applied::Newer { previous: None })
    }
}
