//! Fixture builders: transactions whose flags, amounts and times agree with
//! their status, and the events that carry them.

use crate::model::{
    Amount, Event, EventId, EventType, Timestamp, Transaction, TransactionId, TransactionStatus,
};

use super::MockApi;

/// The time fixtures are set at unless told otherwise.
pub const DEFAULT_TIME: &str = "2024-05-01T12:00:00Z";

/// Builds a [`Transaction`] as the API would send it at a given status:
/// the flags (`authorized`, `captured`, `voided`, `refunded`,
/// `chargedback`, …), the amounts (`authorized_amount`, `captured_amount`,
/// `refunded_amount`, `available_amount`, `voided_amount`) and the times
/// (`authorized_at`, `captured_at`, …) agree with the status, the amount
/// and the refunded amount, for any status.
///
/// Defaults: status `completed`, amount `10.00` EUR, nothing refunded
/// (all of it for status `refunded`), every time at [`DEFAULT_TIME`], a
/// sandbox transaction of [`MockApi::PROJECT_ID`].
///
/// ```
/// use smart_router_webhooks::testing::TransactionBuilder;
/// use smart_router_webhooks::{EventType, Timestamp, TransactionStatus::Refunded};
///
/// let refund = TransactionBuilder::new("tr_1").status(Refunded).amount("10").refunded("4");
/// let transaction = refund.clone().build();
/// assert!(transaction.captured && transaction.refunded);
/// assert_eq!(transaction.captured_amount, Some("10".parse()?));
/// assert_eq!(transaction.available_amount, Some("6".parse()?));
/// assert!(transaction.is_partially_refunded());
///
/// // The event of that status, carrying the transaction.
/// let event = refund.at("2024-05-02T09:30:00Z").event("ev_refund");
/// assert_eq!(event.name, EventType::TransactionRefunded);
/// assert_eq!(event.fired_at, Some(Timestamp::parse("2024-05-02T09:30:00Z")?));
/// # Ok::<(), smart_router_webhooks::Error>(())
/// ```
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `build` or `event` is called"]
pub struct TransactionBuilder {
    id: TransactionId,
    status: TransactionStatus,
    amount: Amount,
    currency: String,
    refunded: Option<Amount>,
    at: Timestamp,
    invoice_id: Option<String>,
    metadata: Vec<(String, String)>,
}

/// Parses a fixture's literal, panicking with what was wrong.
fn literal<T>(what: &str, text: &str, parse: impl FnOnce(&str) -> Result<T, crate::Error>) -> T {
    match parse(text) {
        Ok(value) => value,
        Err(e) => panic!("{text:?} is not a valid {what}: {e}"),
    }
}

impl TransactionBuilder {
    /// A transaction `id` (`tr_…`), completed, of 10.00 EUR.
    ///
    /// # Panics
    ///
    /// When `id` is not a valid transaction ID.
    pub fn new(id: &str) -> Self {
        TransactionBuilder {
            id: literal("transaction ID", id, TransactionId::parse),
            status: TransactionStatus::Completed,
            amount: literal("amount", "10.00", Amount::parse),
            currency: "EUR".to_owned(),
            refunded: None,
            at: Timestamp::lenient(DEFAULT_TIME),
            invoice_id: None,
            metadata: Vec::new(),
        }
    }

    /// The status it is at.
    pub fn status(mut self, status: TransactionStatus) -> Self {
        self.status = status;
        self
    }

    /// The amount asked (and authorized, captured… as the status says).
    ///
    /// # Panics
    ///
    /// When `amount` is not a decimal amount.
    pub fn amount(mut self, amount: &str) -> Self {
        self.amount = literal("amount", amount, Amount::parse);
        self
    }

    /// The currency (default `EUR`).
    pub fn currency(mut self, currency: &str) -> Self {
        self.currency = currency.to_owned();
        self
    }

    /// How much was refunded (default: nothing, or the whole amount for
    /// status `refunded`). Any captured status may carry a refund (a
    /// chargeback after a partial refund).
    ///
    /// # Panics
    ///
    /// When `refunded` is not a decimal amount.
    pub fn refunded(mut self, refunded: &str) -> Self {
        self.refunded = Some(literal("amount", refunded, Amount::parse));
        self
    }

    /// When it reached its status, in any form the API writes
    /// (`2024-05-01T12:00:00Z`, `Wed, 01 May 2024 12:00:00 GMT`, Unix
    /// seconds): the times of its steps, and the `fired_at` of its
    /// [`event`](Self::event).
    pub fn at(mut self, time: &str) -> Self {
        self.at = Timestamp::lenient(time);
        self
    }

    /// The invoice it pays (`iv_…`).
    pub fn invoice(mut self, invoice_id: &str) -> Self {
        self.invoice_id = Some(invoice_id.to_owned());
        self
    }

    /// A metadata entry.
    pub fn metadata(mut self, key: &str, value: &str) -> Self {
        self.metadata.push((key.to_owned(), value.to_owned()));
        self
    }

    /// The transaction.
    ///
    /// # Panics
    ///
    /// When the amount is negative, or the refunded amount is negative,
    /// above the amount, or not zero on a transaction never captured.
    pub fn build(self) -> Transaction {
        use TransactionStatus::*;
        let status = &self.status;
        let authorized = matches!(
            status,
            Authorized
                | PendingCapture
                | Completed
                | Voided
                | Refunded
                | RetrievalRequest
                | FraudNotification
                | ChargebackInitiated
                | Solved
                | Reversed
        );
        let captured = authorized && !matches!(status, Authorized | PendingCapture | Voided);
        let chargedback = matches!(status, ChargebackInitiated | Solved | Reversed);
        let amount = self.amount;
        // Zero written at the amount's scale ("0.00" beside "10.00").
        let scale = amount
            .as_plain_str()
            .split_once('.')
            .map_or(0, |(_, f)| f.len());
        let zero = Amount::from_minor_units(0, u32::try_from(scale).unwrap_or(0));
        let refunded = match (self.refunded, status) {
            (Some(refunded), _) => refunded,
            (None, Refunded) => amount.clone(),
            (None, _) => zero.clone(),
        };
        assert!(!amount.is_negative(), "the amount {amount} is negative");
        assert!(
            !refunded.is_negative() && refunded <= amount && (captured || refunded.is_zero()),
            "a refund of {refunded} does not fit a {status} transaction of {amount}"
        );
        let is = |yes: bool| if yes { amount.clone() } else { zero.clone() };
        let when = |yes: bool| yes.then(|| self.at.clone());
        let available = if chargedback {
            zero.clone()
        } else if captured {
            &amount - &refunded
        } else {
            is(authorized && *status != Voided)
        };
        let mut t = Transaction::new(self.id, self.status.clone());
        t.project_id = Some(MockApi::PROJECT_ID.to_owned());
        t.sandbox = true;
        t.invoice_id = self.invoice_id;
        t.currency = Some(self.currency);
        t.authorized = authorized;
        t.captured = captured;
        t.voided = *status == Voided;
        t.refunded = !refunded.is_zero();
        t.chargedback = chargedback;
        t.received_fraud_notification = *status == FraudNotification;
        t.received_retrieval_request = *status == RetrievalRequest;
        t.authorized_amount = Some(is(authorized));
        t.captured_amount = Some(is(captured));
        t.voided_amount = Some(is(*status == Voided));
        t.available_amount = Some(available);
        t.created_at = Some(self.at.clone());
        t.authorized_at = when(authorized);
        t.captured_at = when(captured);
        t.voided_at = when(*status == Voided);
        t.refunded_at = when(!refunded.is_zero());
        t.chargedback_at = when(chargedback);
        t.refunded_amount = Some(refunded);
        if matches!(status, Failed | Blocked) {
            t.error_code = Some("card.declined".to_owned());
            t.error_message = Some("The card was declined.".to_owned());
        }
        for (key, value) in self.metadata {
            t.metadata.insert(key, value);
        }
        t.amount = Some(amount);
        t
    }

    /// The event Smart Router fires when a transaction reaches this
    /// status, carrying the transaction, fired at its time (see
    /// [`at`](Self::at)): `completed` is `transaction.captured`,
    /// `refunded` is `transaction.refunded`, `chargeback-initiated` is
    /// `transaction.chargeback.created`, `solved` and `reversed` are
    /// `transaction.chargeback.won` and `.lost`, `failed` and `blocked` are
    /// `transaction.failed`, `authorized` and `pending-capture` are
    /// `transaction.authorized`, and the statuses before are
    /// `transaction.requested`.
    ///
    /// # Panics
    ///
    /// As [`build`](Self::build), or when `event_id` is not a valid event
    /// ID.
    pub fn event(self, event_id: &str) -> Event {
        use TransactionStatus::*;
        let event_type = match &self.status {
            Authorized | PendingCapture => EventType::TransactionAuthorized,
            Completed => EventType::TransactionCaptured,
            Failed | Blocked => EventType::TransactionFailed,
            Voided => EventType::TransactionVoided,
            Refunded => EventType::TransactionRefunded,
            RetrievalRequest => EventType::TransactionChargebackRetrievalRequest,
            FraudNotification => EventType::TransactionChargebackFraudNotification,
            ChargebackInitiated => EventType::TransactionChargebackCreated,
            Solved => EventType::TransactionChargebackWon,
            Reversed => EventType::TransactionChargebackLost,
            _ => EventType::TransactionRequested,
        };
        let at = self.at.clone();
        EventBuilder::new(event_id, event_type)
            .fired_at_time(at)
            .transaction(self.build())
            .build()
    }
}

/// Builds an [`Event`] as the API sends it: its ID and type, when it was
/// fired (default [`DEFAULT_TIME`]), a sandbox event of
/// [`MockApi::PROJECT_ID`], and the object it is about.
///
/// ```
/// use serde_json::json;
/// use smart_router_webhooks::testing::EventBuilder;
/// use smart_router_webhooks::EventType;
///
/// let event = EventBuilder::new("ev_1", EventType::from("invoice.completed"))
///     .resource(json!({"id": "iv_1", "amount": "12.00"}))
///     .fired_at("2024-05-01T12:00:01Z")
///     .build();
/// assert_eq!(event.resource_json().unwrap()["id"], "iv_1");
/// ```
#[derive(Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct EventBuilder {
    event: Event,
}

impl EventBuilder {
    /// An event `id` (`ev_…`) of type `event_type`.
    ///
    /// # Panics
    ///
    /// When `id` is not a valid event ID.
    pub fn new(id: &str, event_type: EventType) -> Self {
        let mut event = Event::new(literal("event ID", id, EventId::parse), event_type.clone());
        event.project_id = Some(MockApi::PROJECT_ID.to_owned());
        event.sandbox = true;
        event.fired_at = Some(Timestamp::lenient(DEFAULT_TIME));
        event.data.name = Some(event_type);
        event.data.sandbox = Some(true);
        EventBuilder { event }
    }

    /// When it was fired, in any form the API writes.
    pub fn fired_at(self, time: &str) -> Self {
        self.fired_at_time(Timestamp::lenient(time))
    }

    fn fired_at_time(mut self, time: Timestamp) -> Self {
        self.event.fired_at = Some(time);
        self
    }

    /// The transaction it is about (see [`TransactionBuilder`]).
    pub fn transaction(mut self, transaction: Transaction) -> Self {
        self.event.data.transaction = Some(transaction);
        self
    }

    /// The object it is about, as JSON, under its type's key in `data`
    /// (`invoice` for `invoice.*`, `customer` for `customer.*`…).
    pub fn resource(mut self, object: serde_json::Value) -> Self {
        let key = self.event.name.data_key().to_owned();
        self.event.data.extra.insert(key, object);
        self
    }

    /// The event.
    pub fn build(self) -> Event {
        self.event
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TransactionStatus::*;

    fn amount(t: &Option<Amount>) -> &str {
        t.as_ref().map_or("-", Amount::as_str)
    }

    #[test]
    fn flags_and_amounts_agree_with_every_status() {
        let all = [
            Waiting,
            Pending,
            InReview,
            Authorized,
            PendingCapture,
            Completed,
            Failed,
            Blocked,
            Voided,
            Refunded,
            RetrievalRequest,
            FraudNotification,
            ChargebackInitiated,
            Solved,
            Reversed,
        ];
        for status in all {
            let t = TransactionBuilder::new("tr_1")
                .status(status.clone())
                .build();
            let captured = t.captured_amount.as_ref().is_some_and(|a| !a.is_zero());
            assert_eq!(t.captured, captured, "{status}");
            assert_eq!(t.captured_at.is_some(), t.captured, "{status}");
            assert!(!t.captured || t.authorized, "{status}");
            assert_eq!(t.refunded, status == Refunded, "{status}");
            assert_eq!(t.chargedback, t.is_disputed(), "{status}");
            // What is available is what was captured and not refunded.
            if t.captured && !t.chargedback {
                let left =
                    &t.captured_amount.clone().unwrap() - t.refunded_amount.as_ref().unwrap();
                assert_eq!(t.available_amount, Some(left), "{status}");
            }
        }
        let refund = TransactionBuilder::new("tr_1")
            .status(Refunded)
            .amount("10")
            .refunded("4")
            .build();
        assert_eq!(
            [
                &refund.captured_amount,
                &refund.refunded_amount,
                &refund.available_amount
            ]
            .map(amount),
            ["10", "4", "6"]
        );
    }

    #[test]
    #[should_panic(expected = "does not fit")]
    fn a_refund_above_the_amount_is_refused() {
        let _ = TransactionBuilder::new("tr_1")
            .amount("10")
            .refunded("12")
            .build();
    }

    #[test]
    fn events_match_their_status_and_time() {
        let event = TransactionBuilder::new("tr_1")
            .status(ChargebackInitiated)
            .at("2024-06-01T00:00:00Z")
            .event("ev_1");
        assert_eq!(event.name, EventType::TransactionChargebackCreated);
        assert_eq!(
            event.fired_at,
            Some(Timestamp::lenient("2024-06-01T00:00:00Z"))
        );
        let transaction = event.transaction().unwrap();
        assert_eq!(transaction.chargedback_at, event.fired_at);
        // It reads back as the API would send it.
        let json = serde_json::to_vec(&event).unwrap();
        assert_eq!(
            Event::from_slice(&json).unwrap().transaction(),
            Some(transaction)
        );
    }
}
