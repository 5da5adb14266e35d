//! [`Event`]: what happened, as the API reports it in `GET /events/{id}`.

use super::event_type::EventType;
use super::ids::EventId;
use super::object::api_object;
use super::timestamp::Timestamp;
use super::tolerant::tolerant_object;
use super::transaction::Transaction;
use super::warning::ModelWarning;
use super::webhook::WebhookDelivery;
use crate::error::{Error, ErrorKind};

api_object! {
    /// An event, as fetched from the API (the `event` object of
    /// `GET /events/{id}`).
    ///
    /// ```
    /// use smart_router_webhooks::{Event, EventType, TransactionStatus};
    ///
    /// let event = Event::from_slice(br#"{
    ///     "id": "ev_1", "name": "transaction.captured", "sandbox": true,
    ///     "fired_at": "2023-04-22T15:48:57.55294073Z",
    ///     "data": {"transaction": {"id": "tr_1", "status": "completed", "amount": "10"}}
    /// }"#)?;
    /// assert_eq!(event.name, EventType::TransactionCaptured);
    /// let transaction = event.transaction().unwrap();
    /// assert_eq!(transaction.status, Some(TransactionStatus::Completed));
    /// # Ok::<(), smart_router_webhooks::Error>(())
    /// ```
    ///
    /// Only `id` and `name` are required: any other field whose value does
    /// not fit its type, at any depth, is left empty in the typed view,
    /// kept raw in the `extra` of its object, and listed in
    /// [`warnings`](Event::warnings).
    #[derive(Debug)]
    pub struct Event ("an event with an `id` and a `name`") {
        required {
            /// The event's ID (`ev_…`).
            id: EventId,
            /// The event type.
            name: EventType,
        }
        optional {
            /// The project the event belongs to.
            project_id: Option<String>,
            /// Whether the event comes from a sandbox project.
            sandbox: bool,
            /// When the event was fired; `None` when the API sent none.
            fired_at: Option<Timestamp>,
            /// The object the event is about.
            data: EventData,
            /// The webhook deliveries of the event, when the API lists them.
            webhooks: Vec<WebhookDelivery>,
        }
    }
}

api_object! {
    /// The `data` of an event: the object the event is about, under the
    /// key of its resource (`transaction`, `invoice`, `customer`, …).
    ///
    /// The transaction of transaction events is read into a typed
    /// [`Transaction`]; other objects are in [`extra`](EventData::extra),
    /// raw, and read into a type of yours with [`Event::resource`].
    #[derive(Debug, Default)]
    pub struct EventData ("an object") {
        required {}
        optional {
            /// The event type, repeated.
            name: Option<EventType>,
            /// Whether the event comes from a sandbox project, repeated.
            sandbox: Option<bool>,
            /// The transaction, for transaction events.
            transaction: Option<Transaction>,
        }
    }
}

tolerant_object!(Event);
tolerant_object!(default EventData);

impl Event {
    /// An event with its ID and name and every other field empty: for tests
    /// and for building one by hand.
    pub fn new(id: EventId, name: EventType) -> Self {
        Event::with_required(id, name)
    }

    /// Reads an event from the JSON of its `event` object.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidPayload`] when the bytes are not JSON, not an
    /// object, or have no readable `id` or `name`. Nothing else fails an
    /// event: see [`warnings`](Event::warnings). (Read through
    /// `serde_json` directly, an event also fails on a number beyond the
    /// range of `f64` where an object or a list belongs; this reads it as
    /// a value of the wrong type, kept as sent.)
    pub fn from_slice(json: &[u8]) -> Result<Self, Error> {
        super::tolerant::read_document(|| serde_json::from_slice(json)).map_err(|e| {
            Error::new(ErrorKind::InvalidPayload, "the JSON is not an event").with_source(e)
        })
    }

    /// The event type.
    pub fn event_type(&self) -> &EventType {
        &self.name
    }

    /// The fields whose value did not fit their type, anywhere in the
    /// event (paths from the event: `data.transaction.amount`).
    pub fn warnings(&self) -> &[ModelWarning] {
        &self.warnings
    }

    /// The transaction of a transaction event, typed.
    pub fn transaction(&self) -> Option<&Transaction> {
        self.data.transaction.as_ref()
    }

    /// The object the event is about, as JSON: the transaction of a
    /// transaction event (written back from its typed form, unknown fields
    /// included), the invoice of an invoice event, and so on.
    pub fn resource_json(&self) -> Option<serde_json::Value> {
        let key = self.name.data_key();
        if let (Some(transaction), "transaction") = (&self.data.transaction, key) {
            return serde_json::to_value(transaction).ok();
        }
        self.data.extra.get(key).cloned()
    }

    /// The object the event is about (the invoice of `invoice.*`, the
    /// customer of `customer.*`, the token of `customer.token.*`, the
    /// subscription, payout, refund…, or the transaction), read into a type
    /// of yours.
    ///
    /// ```
    /// use smart_router_webhooks::Event;
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Invoice { id: String, amount: String }
    ///
    /// let event = Event::from_slice(br#"{"id": "ev_1", "name": "invoice.completed",
    ///     "data": {"invoice": {"id": "iv_1", "amount": "12.00", "currency": "EUR"}}}"#)?;
    /// let invoice: Invoice = event.resource()?;
    /// assert_eq!((invoice.id.as_str(), invoice.amount.as_str()), ("iv_1", "12.00"));
    /// # Ok::<(), smart_router_webhooks::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidPayload`] when the event has no such object, or
    /// it does not read as a `T`.
    pub fn resource<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        let key = self.name.data_key();
        let invalid = |message: &'static str| Error::new(ErrorKind::InvalidPayload, message);
        let read = match (&self.data.transaction, key) {
            (Some(transaction), "transaction") => {
                serde_json::to_value(transaction).and_then(serde_json::from_value)
            }
            _ => match self.data.extra.get_raw(key) {
                Some(raw) => serde_json::from_str(raw.get()),
                None => return Err(invalid("the event's data has no object for its resource")),
            },
        };
        read.map_err(|e| {
            invalid("the event's resource does not read as the type asked").with_source(e)
        })
    }
}
