//! [`Transaction`] and its [`Operation`]s.

use std::collections::BTreeMap;

use super::amount::Amount;
use super::ids::TransactionId;
use super::object::api_object;
use super::open_enum::open_enum;
use super::status::TransactionStatus;
use super::timestamp::Timestamp;

api_object! {
    /// A payment, as the API describes it in `GET /transactions/{id}` and
    /// in the `data.transaction` of transaction events.
    ///
    /// Fields keep the API's names. Amounts are exact decimals in the
    /// currency's major unit. Expanded relations (`invoice`, `card`,
    /// `gateway_configuration`, …) and any field not modelled here are in
    /// [`extra`](Transaction::extra), as sent.
    pub struct Transaction {
        required {
            /// The transaction's ID (`tr_…`).
            id: TransactionId = "id",
            /// The current status.
            status: TransactionStatus = "status",
        }
        optional {
            /// The project (`proj_…` or `test-proj_…`).
            project_id: Option<String> = "project_id",
            /// The invoice the payment was made for (`iv_…`).
            invoice_id: Option<String> = "invoice_id",
            /// The customer (`cust_…`).
            customer_id: Option<String> = "customer_id",
            /// The subscription, for recurring payments.
            subscription_id: Option<String> = "subscription_id",
            /// The customer token used, if any.
            token_id: Option<String> = "token_id",
            /// The card used (`card_…`), if any.
            card_id: Option<String> = "card_id",
            /// The name given to the payment.
            name: Option<String> = "name",
            /// The amount asked.
            amount: Option<Amount> = "amount",
            /// The currency (ISO 4217 code).
            currency: Option<String> = "currency",
            /// The amount authorized.
            authorized_amount: Option<Amount> = "authorized_amount",
            /// The amount captured.
            captured_amount: Option<Amount> = "captured_amount",
            /// The amount refunded so far.
            refunded_amount: Option<Amount> = "refunded_amount",
            /// The amount still available to capture or refund.
            available_amount: Option<Amount> = "available_amount",
            /// The amount voided.
            voided_amount: Option<Amount> = "voided_amount",
            /// The error code of a failed payment (`card.failed-cvc`, …).
            error_code: Option<String> = "error_code",
            /// The gateway's message for a failed payment.
            error_message: Option<String> = "error_message",
            /// Whether the payment was authorized.
            authorized: bool = "authorized",
            /// Whether the payment was captured.
            captured: bool = "captured",
            /// Whether the authorization was voided.
            voided: bool = "voided",
            /// Whether the payment was refunded, fully or partly.
            refunded: bool = "refunded",
            /// Whether a chargeback was received.
            chargedback: bool = "chargedback",
            /// Whether the bank sent a fraud notification.
            received_fraud_notification: bool = "received_fraud_notification",
            /// Whether the bank sent a retrieval request.
            received_retrieval_request: bool = "received_retrieval_request",
            /// When the transaction was created.
            created_at: Option<Timestamp> = "created_at",
            /// When it was authorized.
            authorized_at: Option<Timestamp> = "authorized_at",
            /// When it was captured.
            captured_at: Option<Timestamp> = "captured_at",
            /// When it was last refunded.
            refunded_at: Option<Timestamp> = "refunded_at",
            /// When it was voided.
            voided_at: Option<Timestamp> = "voided_at",
            /// When it was charged back.
            chargedback_at: Option<Timestamp> = "chargedback_at",
            /// The merchant's own key-value pairs.
            metadata: BTreeMap<String, String> = "metadata",
            /// Whether this is a sandbox (test) transaction.
            sandbox: bool = "sandbox",
            /// The gateway that processed it (`checkoutcom`, `adyen`, …).
            gateway_name: Option<String> = "gateway_name",
            /// The payment method (`card`, `paypal`, …).
            payment_type: Option<String> = "payment_type",
            /// The operations made on the payment, when expanded.
            operations: Vec<Operation> = "operations",
            /// The refunds made on the payment, when expanded.
            refunds: Vec<serde_json::Value> = "refunds",
        }
    }
}

impl Transaction {
    /// Whether part, but not all, of the captured amount was refunded:
    /// the payment is refunded and `refunded_amount` is above zero and
    /// below `captured_amount`.
    pub fn is_partially_refunded(&self) -> bool {
        let refunded = self.refunded || self.status == TransactionStatus::Refunded;
        match (&self.refunded_amount, &self.captured_amount) {
            (Some(done), Some(captured)) => refunded && !done.is_zero() && done < captured,
            _ => false,
        }
    }

    /// Whether the payment is or was disputed: a chargeback was received,
    /// or the status is `chargeback-initiated`, `solved` or `reversed`.
    pub fn is_disputed(&self) -> bool {
        self.chargedback
            || matches!(
                self.status,
                TransactionStatus::ChargebackInitiated
                    | TransactionStatus::Solved
                    | TransactionStatus::Reversed
            )
    }
}

open_enum! {
    /// What an [`Operation`] did.
    pub enum OperationType {
        /// The payment was requested.
        Request => "request",
        /// A 3-D Secure check.
        ThreeDSCheck => "three_d_s_check",
        /// An authorization.
        Authorization => "authorization",
        /// A capture.
        Capture => "capture",
        /// A void.
        Void => "void",
        /// A refund.
        Refund => "refund",
        /// A chargeback.
        Chargeback => "chargeback",
    }
}

api_object! {
    /// One step of a transaction's history (a request, an authorization, a
    /// capture, a refund, a chargeback…).
    #[derive(Default)]
    pub struct Operation {
        required {}
        optional {
            /// The operation's ID (`tr_op_…`).
            id: Option<String> = "id",
            /// The transaction it belongs to.
            transaction_id: Option<TransactionId> = "transaction_id",
            /// What the operation did; `None` when the server sent none.
            kind: Option<OperationType> = "type",
            /// The amount it moved.
            amount: Option<Amount> = "amount",
            /// The currency of `amount`.
            currency: Option<String> = "currency",
            /// Whether the operation failed.
            has_failed: bool = "has_failed",
            /// Whether it was an attempt at the gateway.
            is_attempt: bool = "is_attempt",
            /// Whether it counts in the transaction's balances.
            is_accountable: bool = "is_accountable",
            /// The error code, when it failed.
            error_code: Option<String> = "error_code",
            /// The gateway's message, when it failed.
            error_message: Option<String> = "error_message",
            /// The gateway's own ID for the operation.
            gateway_operation_id: Option<String> = "gateway_operation_id",
            /// The payment method.
            payment_type: Option<String> = "payment_type",
            /// The merchant's or gateway's key-value pairs.
            metadata: BTreeMap<String, String> = "metadata",
            /// When it happened.
            created_at: Option<Timestamp> = "created_at",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tx(json: serde_json::Value) -> Transaction {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn null_fields_read_as_defaults_and_unknown_fields_are_kept() {
        let t = tx(serde_json::json!({
            "id": "tr_1", "status": "completed", "captured": null, "operations": null,
            "refunds": null, "metadata": null, "amount": "10.50", "brand_new": {"x": 1}
        }));
        assert!(!t.captured);
        assert!(t.operations.is_empty());
        assert!(t.metadata.is_empty());
        assert_eq!(t.amount.as_ref().map(Amount::as_str), Some("10.50"));
        assert_eq!(t.extra["brand_new"], serde_json::json!({"x": 1}));
    }

    #[test]
    fn id_and_status_are_required() {
        assert!(
            serde_json::from_value::<Transaction>(serde_json::json!({"status": "completed"}))
                .is_err()
        );
        assert!(serde_json::from_value::<Transaction>(serde_json::json!({"id": "tr_1"})).is_err());
        assert!(
            serde_json::from_value::<Transaction>(serde_json::json!({"id": "tr/1", "status": "x"}))
                .is_err()
        );
    }

    #[test]
    fn serializes_back_with_every_field() {
        let t = tx(serde_json::json!({"id": "tr_1", "status": "pending", "kept": true}));
        let back = serde_json::to_value(&t).unwrap();
        assert_eq!(back["id"], "tr_1");
        assert_eq!(back["status"], "pending");
        assert_eq!(back["kept"], true);
        assert_eq!(tx(back), t);
    }

    #[test]
    fn partial_refund_and_dispute_helpers() {
        let mut t = Transaction::new(
            TransactionId::parse("tr_1").unwrap(),
            TransactionStatus::Refunded,
        );
        t.refunded = true;
        t.captured_amount = Some("10.00".parse().unwrap());
        t.refunded_amount = Some("4".parse().unwrap());
        assert!(t.is_partially_refunded());
        t.refunded_amount = Some("10".parse().unwrap());
        assert!(!t.is_partially_refunded(), "a full refund is not partial");
        t.refunded_amount = Some("0".parse().unwrap());
        assert!(!t.is_partially_refunded());
        assert!(!t.is_disputed());
        t.status = TransactionStatus::ChargebackInitiated;
        assert!(t.is_disputed());
        t.status = TransactionStatus::Completed;
        t.chargedback = true;
        assert!(t.is_disputed());
    }

    #[test]
    fn operation_types_are_open() {
        let op: Operation =
            serde_json::from_value(serde_json::json!({"type": "incremental_authorization"}))
                .unwrap();
        assert_eq!(
            op.kind.as_ref().map(OperationType::as_str),
            Some("incremental_authorization")
        );
        assert!(op.kind.unwrap().is_unknown());
    }
}
