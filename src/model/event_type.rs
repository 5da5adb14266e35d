//! [`EventType`]: the name of an event, such as `transaction.captured`.

use super::open_enum::open_enum;

open_enum! {
    /// The type of an event (its `name`), such as `transaction.captured`.
    ///
    /// The list is open: a name this crate does not know parses as
    /// [`EventType::Unknown`] and keeps its text.
    ///
    /// ```
    /// use smart_router_webhooks::EventType;
    ///
    /// let known: EventType = "transaction.chargeback.created".parse().unwrap();
    /// assert_eq!(known, EventType::TransactionChargebackCreated);
    /// assert_eq!(known.resource(), "transaction");
    /// assert!(known.has_prefix("transaction.chargeback."));
    ///
    /// let new: EventType = "transaction.teleported".parse().unwrap();
    /// assert!(new.is_unknown());
    /// assert_eq!(new.as_str(), "transaction.teleported");
    /// assert_eq!(new.resource(), "transaction");
    /// ```
    pub enum EventType {
        /// A payment was requested.
        TransactionRequested => "transaction.requested",
        /// A payment was authorized.
        TransactionAuthorized => "transaction.authorized",
        /// A payment was captured.
        TransactionCaptured => "transaction.captured",
        /// A payment failed.
        TransactionFailed => "transaction.failed",
        /// An authorization was voided.
        TransactionVoided => "transaction.voided",
        /// A payment was refunded, fully or partly.
        TransactionRefunded => "transaction.refunded",
        /// A refund was asked and awaits the gateway.
        TransactionOperationRefundPending => "transaction.operation.refund.pending",
        /// A dispute was opened.
        TransactionChargebackCreated => "transaction.chargeback.created",
        /// A dispute was won by the merchant.
        TransactionChargebackWon => "transaction.chargeback.won",
        /// A dispute was lost by the merchant.
        TransactionChargebackLost => "transaction.chargeback.lost",
        /// The cardholder's bank asked for documents.
        TransactionChargebackRetrievalRequest => "transaction.chargeback.retrieval-request",
        /// The bank warned that a chargeback may follow.
        TransactionChargebackFraudNotification => "transaction.chargeback.fraud-notification",
        /// A subscription was created.
        SubscriptionCreated => "subscription.created",
        /// A subscription started.
        SubscriptionStarted => "subscription.started",
        /// A subscription went into a new billing cycle.
        SubscriptionIterated => "subscription.iterated",
        /// A subscription's trial ends soon.
        SubscriptionTrialEndingSoon => "subscription.trial.ending_soon",
        /// A subscription's trial ended.
        SubscriptionTrialEnded => "subscription.trial.ended",
        /// A subscription's payment failed.
        SubscriptionPaymentFailed => "subscription.payment_failed",
        /// A subscription was canceled.
        SubscriptionCanceled => "subscription.canceled",
        /// A customer was created.
        CustomerCreated => "customer.created",
        /// A customer was updated.
        CustomerUpdated => "customer.updated",
        /// A customer was deleted.
        CustomerDeleted => "customer.deleted",
        /// A customer token was created.
        CustomerTokenCreated => "customer.token.created",
        /// A customer token was updated.
        CustomerTokenUpdated => "customer.token.updated",
        /// A customer token was deleted.
        CustomerTokenDeleted => "customer.token.deleted",
        /// A plan was created.
        PlanCreated => "plan.created",
        /// A plan was updated.
        PlanUpdated => "plan.updated",
        /// A plan was deleted.
        PlanDeleted => "plan.deleted",
        /// A product was created.
        ProductCreated => "product.created",
        /// A product was updated.
        ProductUpdated => "product.updated",
        /// A product was deleted.
        ProductDeleted => "product.deleted",
        /// A coupon was created.
        CouponCreated => "coupon.created",
        /// A coupon was updated.
        CouponUpdated => "coupon.updated",
        /// A coupon was deleted.
        CouponDeleted => "coupon.deleted",
        /// An invoice was completed (older API versions).
        InvoiceCompleted => "invoice.completed",
        /// An invoice is pending (older API versions).
        InvoicePending => "invoice.pending",
    }
}

impl EventType {
    /// The kind of object the event is about: the name's first segment
    /// (`transaction`, `subscription`, `customer`, `invoice`, …), also for
    /// unknown names.
    pub fn resource(&self) -> &str {
        let name = self.as_str();
        name.split_once('.').map_or(name, |(first, _)| first)
    }

    /// Whether the event is about a transaction (`transaction.…`).
    pub fn is_transaction(&self) -> bool {
        self.resource() == "transaction"
    }

    /// Whether the name starts with `prefix` at a segment boundary.
    ///
    /// `"transaction."` and `"transaction"` both match
    /// `transaction.captured`; `"trans"` does not, and
    /// `"transaction.chargeback"` matches `transaction.chargeback.created`
    /// but not `transaction.chargebacks.x`. An empty prefix matches every
    /// name.
    pub fn has_prefix(&self, prefix: &str) -> bool {
        let name = self.as_str();
        if prefix.is_empty() || prefix.ends_with('.') {
            return name.starts_with(prefix);
        }
        match name.strip_prefix(prefix) {
            Some(rest) => rest.is_empty() || rest.starts_with('.'),
            None => false,
        }
    }

    /// The key under which the event's `data` holds its object: the
    /// resource, except `token` for customer-token events.
    pub(crate) fn data_key(&self) -> &str {
        if self.has_prefix("customer.token.") {
            "token"
        } else {
            self.resource()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_name_round_trips_through_text_and_serde() {
        assert_eq!(EventType::KNOWN.len(), 36);
        for known in EventType::KNOWN {
            let text = known.as_str();
            assert_eq!(&text.parse::<EventType>().unwrap(), known);
            assert!(!known.is_unknown());
            let json = serde_json::to_string(known).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(&serde_json::from_str::<EventType>(&json).unwrap(), known);
        }
    }

    #[test]
    fn unknown_names_keep_their_exact_text() {
        for text in [
            "transaction.teleported",
            "Transaction.Captured",
            "",
            "x",
            "a.b.c.d",
        ] {
            let t: EventType = text.parse().unwrap();
            assert!(t.is_unknown(), "{text}");
            assert_eq!(t.as_str(), text);
            let json = serde_json::to_string(&t).unwrap();
            let back: EventType = serde_json::from_str(&json).unwrap();
            assert_eq!(back.as_str(), text);
            assert_eq!(back, t);
        }
    }

    #[test]
    fn unknown_with_known_text_equals_the_known_variant() {
        let manual = EventType::Unknown("transaction.captured".into());
        assert_eq!(manual, EventType::TransactionCaptured);
        assert!(!manual.is_unknown());
    }

    #[test]
    fn prefixes_match_at_segment_boundaries() {
        let t = EventType::TransactionChargebackCreated;
        assert!(t.has_prefix(""));
        assert!(t.has_prefix("transaction"));
        assert!(t.has_prefix("transaction."));
        assert!(t.has_prefix("transaction.chargeback"));
        assert!(t.has_prefix("transaction.chargeback."));
        assert!(t.has_prefix("transaction.chargeback.created"));
        assert!(!t.has_prefix("trans"));
        assert!(!t.has_prefix("transaction.charge"));
        assert!(!t.has_prefix("subscription."));
        assert!(!EventType::from("transactions.x").has_prefix("transaction"));
    }

    #[test]
    fn resources() {
        assert_eq!(
            EventType::SubscriptionTrialEndingSoon.resource(),
            "subscription"
        );
        assert_eq!(EventType::CustomerTokenCreated.resource(), "customer");
        assert_eq!(EventType::CustomerTokenCreated.data_key(), "token");
        assert_eq!(EventType::from("nodots").resource(), "nodots");
        assert!(EventType::TransactionFailed.is_transaction());
        assert!(!EventType::InvoicePending.is_transaction());
    }
}
