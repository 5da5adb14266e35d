//! [`Transaction`] and its [`Operation`]s.

use super::amount::Amount;
use super::ids::TransactionId;
use super::metadata::Metadata;
use super::object::api_object;
use super::open_enum::open_enum;
use super::status::TransactionStatus;
use super::timestamp::Timestamp;
use super::tolerant::tolerant_object;

api_object! {
    /// A payment, as the API describes it in `GET /transactions/{id}` and
    /// in the `data.transaction` of transaction events.
    ///
    /// Fields keep the API's names. Amounts are exact decimals in the
    /// currency's major unit. Expanded relations (`invoice`, `card`,
    /// `gateway_configuration`, …) and any field not modelled here are in
    /// [`extra`](Transaction::extra), as sent.
    ///
    /// Only the `id` is required: a field whose value does not fit its type
    /// is empty here, kept in `extra` and listed in
    /// [`warnings`](Transaction::warnings).
    #[derive(Debug)]
    pub struct Transaction ("a transaction with an `id`") {
        required {
            /// The transaction's ID (`tr_…`).
            id: TransactionId,
        }
        optional {
            /// The current status; `None` when the API sent none, or one
            /// that is not a string (the Go SDK declares it optional). The
            /// tracker moves nothing for a transaction without a status.
            status: Option<TransactionStatus>,
            /// The project (`proj_…` or `test-proj_…`).
            project_id: Option<String>,
            /// The invoice the payment was made for (`iv_…`).
            invoice_id: Option<String>,
            /// The customer (`cust_…`).
            customer_id: Option<String>,
            /// The subscription, for recurring payments.
            subscription_id: Option<String>,
            /// The customer token used, if any.
            token_id: Option<String>,
            /// The card used (`card_…`), if any.
            card_id: Option<String>,
            /// The name given to the payment.
            name: Option<String>,
            /// The amount asked.
            amount: Option<Amount>,
            /// The currency (ISO 4217 code).
            currency: Option<String>,
            /// The amount authorized.
            authorized_amount: Option<Amount>,
            /// The amount captured.
            captured_amount: Option<Amount>,
            /// The amount refunded so far.
            refunded_amount: Option<Amount>,
            /// The amount still available to capture or refund.
            available_amount: Option<Amount>,
            /// The amount voided.
            voided_amount: Option<Amount>,
            /// The error code of a failed payment (`card.failed-cvc`, …).
            error_code: Option<String>,
            /// The gateway's message for a failed payment.
            error_message: Option<String>,
            /// Whether the payment was authorized.
            authorized: bool,
            /// Whether the payment was captured.
            captured: bool,
            /// Whether the authorization was voided.
            voided: bool,
            /// Whether the payment was refunded, fully or partly.
            refunded: bool,
            /// Whether a chargeback was received.
            chargedback: bool,
            /// Whether the bank sent a fraud notification.
            received_fraud_notification: bool,
            /// Whether the bank sent a retrieval request.
            received_retrieval_request: bool,
            /// When the transaction was created.
            created_at: Option<Timestamp>,
            /// When it was authorized.
            authorized_at: Option<Timestamp>,
            /// When it was captured.
            captured_at: Option<Timestamp>,
            /// When it was last refunded.
            refunded_at: Option<Timestamp>,
            /// When it was voided.
            voided_at: Option<Timestamp>,
            /// When it was charged back.
            chargedback_at: Option<Timestamp>,
            /// The merchant's own key-value pairs.
            metadata: Metadata,
            /// Whether this is a sandbox (test) transaction.
            sandbox: bool,
            /// The gateway that processed it (`checkoutcom`, `adyen`, …).
            gateway_name: Option<String>,
            /// The payment method (`card`, `paypal`, …).
            payment_type: Option<String>,
            /// The operations made on the payment, when expanded.
            operations: Vec<Operation>,
            /// The refunds made on the payment, when expanded.
            refunds: Vec<serde_json::Value>,
        }
    }
}

tolerant_object!(Transaction);

impl Transaction {
    /// A transaction with its ID and status and every other field empty:
    /// for tests and for building one by hand.
    pub fn new(id: TransactionId, status: TransactionStatus) -> Self {
        let mut transaction = Transaction::with_required(id);
        transaction.status = Some(status);
        transaction
    }

    /// Whether part, but not all, of the captured amount was refunded:
    /// the payment is refunded and `refunded_amount` is above zero and
    /// below `captured_amount`.
    pub fn is_partially_refunded(&self) -> bool {
        let refunded = self.refunded || self.status == Some(TransactionStatus::Refunded);
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
                Some(
                    TransactionStatus::ChargebackInitiated
                        | TransactionStatus::Solved
                        | TransactionStatus::Reversed
                )
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
        /// An increase of an authorized amount (the vendor's incremental
        /// authorization, `POST /invoices/{id}/increment_authorization`).
        IncrementAuthorization => "increment_authorization",
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
    #[derive(Debug, Default)]
    pub struct Operation ("an operation object") {
        required {}
        optional {
            /// The operation's ID (`tr_op_…`).
            id: Option<String>,
            /// The transaction it belongs to.
            transaction_id: Option<TransactionId>,
            /// What the operation did; `None` when the server sent none.
            kind: Option<OperationType> = "type",
            /// The amount it moved.
            amount: Option<Amount>,
            /// The currency of `amount`.
            currency: Option<String>,
            /// Whether the operation failed.
            has_failed: bool,
            /// Whether it was an attempt at the gateway.
            is_attempt: bool,
            /// Whether it counts in the transaction's balances.
            is_accountable: bool,
            /// The error code, when it failed.
            error_code: Option<String>,
            /// The gateway's message, when it failed.
            error_message: Option<String>,
            /// The gateway's own ID for the operation.
            gateway_operation_id: Option<String>,
            /// The payment method.
            payment_type: Option<String>,
            /// The merchant's or gateway's key-value pairs.
            metadata: Metadata,
            /// When it happened.
            created_at: Option<Timestamp>,
        }
    }
}

tolerant_object!(default Operation);

impl Operation {
    /// An operation with every field empty: for tests and for building one
    /// by hand.
    pub fn new() -> Self {
        Operation::with_required()
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
    fn only_the_id_is_required() {
        assert!(
            serde_json::from_value::<Transaction>(serde_json::json!({"status": "completed"}))
                .is_err()
        );
        assert!(
            serde_json::from_value::<Transaction>(serde_json::json!({"id": "tr/1", "status": "x"}))
                .is_err()
        );
        // The Go SDK declares `status` optional (processout-go,
        // transaction.go: `Status *string`): a transaction without one reads.
        for status in [serde_json::json!(null), serde_json::json!(7)] {
            let t = tx(serde_json::json!({"id": "tr_1", "status": status}));
            assert_eq!(t.status, None);
        }
        assert_eq!(tx(serde_json::json!({"id": "tr_1"})).status, None);
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
        t.status = Some(TransactionStatus::ChargebackInitiated);
        assert!(t.is_disputed());
        t.status = Some(TransactionStatus::Completed);
        t.chargedback = true;
        assert!(t.is_disputed());
    }

    #[test]
    fn operation_types_are_open() {
        // The vendor's incremental authorization example names its
        // operation `increment_authorization`, as the endpoint the SDKs
        // call (processout-go, invoice.go: `/increment_authorization`).
        let op: Operation =
            serde_json::from_value(serde_json::json!({"type": "increment_authorization"})).unwrap();
        assert_eq!(op.kind, Some(OperationType::IncrementAuthorization));
        assert!(!op.kind.unwrap().is_unknown());
        let op: Operation =
            serde_json::from_value(serde_json::json!({"type": "teleportation"})).unwrap();
        assert_eq!(
            op.kind.as_ref().map(OperationType::as_str),
            Some("teleportation")
        );
        assert!(op.kind.unwrap().is_unknown());
    }
}
