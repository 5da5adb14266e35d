//! [`TransactionStatus`] and the lifecycle table that says which status
//! changes are expected.

use super::open_enum::open_enum;

open_enum! {
    /// The status of a transaction.
    ///
    /// The list is open: a status this crate does not know parses as
    /// [`TransactionStatus::Unknown`] and keeps its text.
    pub enum TransactionStatus {
        /// No payment attempted yet.
        Waiting => "waiting",
        /// Waiting for the gateway to confirm (typical of PayPal and other
        /// alternative payment methods).
        Pending => "pending",
        /// Held for fraud review.
        InReview => "in-review",
        /// Authorized, not captured.
        Authorized => "authorized",
        /// Capture asked, not confirmed.
        PendingCapture => "pending-capture",
        /// Paid.
        Completed => "completed",
        /// Attempted, failed.
        Failed => "failed",
        /// Stopped by rules or fraud review.
        Blocked => "blocked",
        /// Authorization released.
        Voided => "voided",
        /// Refunded, fully or partly.
        Refunded => "refunded",
        /// The cardholder's bank asks for documents.
        RetrievalRequest => "retrieval-request",
        /// The bank warns that a chargeback may follow.
        FraudNotification => "fraud-notification",
        /// A dispute was opened: the money is taken back.
        ChargebackInitiated => "chargeback-initiated",
        /// The dispute was won by the merchant.
        Solved => "solved",
        /// The dispute was lost by the merchant.
        Reversed => "reversed",
    }
}

use TransactionStatus::*;

/// The lifecycle this crate expects: each status with the statuses that may
/// follow it.
///
/// The vendor publishes no state machine; this table is the crate's own
/// reading of the statuses' meanings. Deliveries arrive out of order and the
/// table may miss a path the platform takes, so a change that is not in it is
/// reported as unexpected, never refused.
///
/// `failed` stays final. Transactions carry `attempts_count` and their
/// operations `is_attempt`, and the SDKs describe `gateway_name` as "the
/// last gateway the transaction was attempted on (successfully or not)":
/// one payment may be attempted several times (Smart Router's fallback to
/// another gateway). But no vendor source (SDK field docs, API reference)
/// documents a status change out of `failed`, and the attempts are those
/// made before the status settles. Should the platform move a failed
/// transaction on, the tracker still reports the change (as unexpected)
/// and runs its transition handlers: nothing is dropped.
pub const LIFECYCLE: &[(TransactionStatus, &[TransactionStatus])] = &[
    (
        Waiting,
        &[Pending, InReview, Authorized, Completed, Failed, Blocked],
    ),
    (
        Pending,
        &[InReview, Authorized, Completed, Failed, Blocked, Voided],
    ),
    (
        InReview,
        &[Pending, Authorized, Completed, Failed, Blocked, Voided],
    ),
    (
        Authorized,
        &[PendingCapture, Completed, Voided, Failed, Refunded],
    ),
    (PendingCapture, &[Completed, Failed, Voided]),
    (
        Completed,
        &[
            Refunded,
            RetrievalRequest,
            FraudNotification,
            ChargebackInitiated,
        ],
    ),
    (
        Refunded,
        &[
            Refunded,
            RetrievalRequest,
            FraudNotification,
            ChargebackInitiated,
        ],
    ),
    (
        RetrievalRequest,
        &[FraudNotification, ChargebackInitiated, Completed],
    ),
    (
        FraudNotification,
        &[ChargebackInitiated, Refunded, Completed],
    ),
    (ChargebackInitiated, &[Solved, Reversed]),
    (Solved, &[ChargebackInitiated]),
    (Failed, &[]),
    (Blocked, &[]),
    (Voided, &[]),
    (Reversed, &[]),
];

impl TransactionStatus {
    /// The statuses expected to follow this one, from [`LIFECYCLE`].
    ///
    /// Empty for a final status and for an unknown one.
    pub fn expected_next(&self) -> &'static [TransactionStatus] {
        LIFECYCLE
            .iter()
            .find(|(from, _)| from == self)
            .map_or(&[], |(_, next)| *next)
    }

    /// Whether [`LIFECYCLE`] expects a change from this status to `next`.
    ///
    /// Never true when either status is unknown.
    ///
    /// ```
    /// use smart_router_webhooks::TransactionStatus;
    ///
    /// assert!(TransactionStatus::Pending.can_transition_to(&TransactionStatus::Completed));
    /// assert!(!TransactionStatus::Completed.can_transition_to(&TransactionStatus::Pending));
    /// ```
    pub fn can_transition_to(&self, next: &TransactionStatus) -> bool {
        self.expected_next().contains(next)
    }

    /// Whether nothing is expected to follow this status (`failed`,
    /// `blocked`, `voided`, `reversed`). An unknown status is not final: the
    /// crate cannot tell.
    pub fn is_final(&self) -> bool {
        !self.is_unknown() && self.expected_next().is_empty()
    }

    /// Where the status stands in a payment's life, from 0 (`waiting`) up:
    /// used to order two snapshots fired at the same instant. `None` for an
    /// unknown status.
    pub(crate) fn lifecycle_rank(&self) -> Option<u8> {
        Some(match self {
            Waiting => 0,
            Pending | InReview => 1,
            Authorized => 2,
            PendingCapture => 3,
            Completed | Failed | Blocked | Voided => 4,
            Refunded => 5,
            RetrievalRequest => 6,
            FraudNotification => 7,
            ChargebackInitiated => 8,
            Solved | Reversed => 9,
            Unknown(_) => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_every_known_status_once() {
        assert_eq!(TransactionStatus::KNOWN.len(), 15);
        for status in TransactionStatus::KNOWN {
            let rows = LIFECYCLE.iter().filter(|(from, _)| from == status).count();
            assert_eq!(rows, 1, "{status}");
        }
        assert_eq!(LIFECYCLE.len(), TransactionStatus::KNOWN.len());
    }

    #[test]
    fn every_pair_agrees_with_the_table() {
        for from in TransactionStatus::KNOWN {
            let row = LIFECYCLE.iter().find(|(f, _)| f == from).unwrap().1;
            for to in TransactionStatus::KNOWN {
                assert_eq!(
                    from.can_transition_to(to),
                    row.contains(to),
                    "{from} -> {to}"
                );
            }
            assert_eq!(from.is_final(), row.is_empty(), "{from}");
        }
    }

    #[test]
    fn final_statuses_are_the_four_of_the_spec() {
        let finals: Vec<_> = TransactionStatus::KNOWN
            .iter()
            .filter(|s| s.is_final())
            .map(|s| s.as_str())
            .collect();
        assert_eq!(finals, ["failed", "blocked", "voided", "reversed"]);
    }

    #[test]
    fn unknown_statuses_never_make_a_transition_expected() {
        let odd = TransactionStatus::from("teleported");
        assert!(odd.is_unknown());
        assert!(odd.expected_next().is_empty());
        assert!(!odd.is_final());
        assert_eq!(odd.lifecycle_rank(), None);
        for known in TransactionStatus::KNOWN {
            assert!(!odd.can_transition_to(known));
            assert!(!known.can_transition_to(&odd));
        }
    }

    #[test]
    fn unknown_status_round_trips_through_serde() {
        let s: TransactionStatus = serde_json::from_str("\"partially-teleported\"").unwrap();
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            "\"partially-teleported\""
        );
        let k: TransactionStatus = serde_json::from_str("\"pending-capture\"").unwrap();
        assert_eq!(k, TransactionStatus::PendingCapture);
    }
}
