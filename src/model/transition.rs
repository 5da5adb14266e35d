//! What tracking made of an event: [`Tracking`], and the status change it
//! brought, [`Transition`].

use super::TransactionStatus;

/// A change of a transaction's status.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Transition {
    /// The status before, `None` the first time the transaction is seen.
    pub from: Option<TransactionStatus>,
    /// The status now.
    pub to: TransactionStatus,
    /// Whether the lifecycle table expects this change (a first sighting is
    /// always expected). An unexpected change is still reported: the table
    /// is the crate's own, and the platform may take paths it does not
    /// list.
    pub expected: bool,
}

impl Transition {
    /// The change from `from` to `to`, with `expected` read from the
    /// lifecycle table.
    pub fn new(from: Option<TransactionStatus>, to: TransactionStatus) -> Self {
        let expected = from.as_ref().is_none_or(|from| from.can_transition_to(&to));
        Transition { from, to, expected }
    }

    /// Whether the change is to a final status (what
    /// [`TransitionFilter::ToFinal`](crate::TransitionFilter::ToFinal) matches).
    pub fn is_to_final(&self) -> bool {
        self.to.is_final()
    }
}

/// What the tracker made of one event: the status change it brought to
/// its transaction, if any, or why none.
///
/// For each transaction event, the event's snapshot (status as of
/// `fired_at`) is compared with the latest one known (kept in the
/// [`TransactionStore`](crate::TransactionStore)):
/// - the first sighting reports a transition from `None`;
/// - a newer snapshot with another status reports the change (as does
///   `refunded` → `refunded`, a further partial refund, which the lifecycle
///   table lists);
/// - an older one is *stale*: it changes nothing and reports no
///   transition, so a transaction never moves backwards however its
///   events are shuffled;
/// - an event tracked before is reported as it was the first time, even
///   when newer events came in between, so that a retried delivery runs
///   the transition handlers that failed on its change.
///
/// # The order
///
/// Newer is decided by
/// [`TransactionSnapshot::is_newer_than`](crate::TransactionSnapshot::is_newer_than), the same in
/// every store (the Redis store runs it in a Lua script):
///
/// 1. by `fired_at`, to the nanosecond, then by lifecycle rank (how far
///    along the lifecycle table, [`TransactionStatus::expected_next`],
///    the status is) when both times can be read;
/// 2. by lifecycle rank alone when either time cannot be read (absent, or
///    in no form [`Timestamp`](crate::Timestamp) reads), the snapshot
///    without a time being the newer at the same rank: such an event is
///    never assumed the oldest, and [`Tracking::time_unreadable`] says it
///    was ordered so;
/// 3. at the same time (or both unreadable) and rank: the same status
///    again is newer when the lifecycle table lets it follow itself (two
///    partial refunds at the same instant are two changes, in either
///    order);
/// 4. then by event ID, byte by byte: of `completed` and `voided` fired at
///    the same instant, the event with the greater ID is the final status,
///    whichever arrives first.
///
/// The final status is thus the same whatever the arrival order, except
/// for a transaction whose readable times go back in the lifecycle (a
/// second dispute after `solved`, `completed` after a retrieval request)
/// and which also has an event without a readable time ranked between
/// them: there the arrival order decides, and that event is flagged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Tracking {
    /// The status change the event brought, if any.
    pub transition: Option<Transition>,
    /// Whether a newer event of the same transaction was already applied
    /// when this one was first tracked: it changes nothing. (A retry of an
    /// event that was not stale then is not stale now either.)
    pub stale: bool,
    /// Whether the event's `fired_at` is absent or could not be read as a
    /// time: the event was then ordered against the transaction's others
    /// by lifecycle alone (see the order above), which the handlers
    /// and the delivery report may want to know.
    pub time_unreadable: bool,
    /// Whether the event's transaction has no readable status (`null`,
    /// missing, or not a string): the tracker moved nothing for it, since
    /// there is nothing to compare.
    pub no_status: bool,
}
