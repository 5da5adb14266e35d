//! [`Event`]: what happened, as the API reports it in `GET /events/{id}`.

use super::event_type::EventType;
use super::ids::EventId;
use super::object::api_object;
use super::timestamp::Timestamp;
use super::transaction::Transaction;
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
    /// assert_eq!(transaction.status, TransactionStatus::Completed);
    /// # Ok::<(), smart_router_webhooks::Error>(())
    /// ```
    pub struct Event {
        required {
            /// The event's ID (`ev_…`).
            id: EventId = "id",
            /// The event type.
            name: EventType = "name",
        }
        optional {
            /// The project the event belongs to.
            project_id: Option<String> = "project_id",
            /// Whether the event comes from a sandbox project.
            sandbox: bool = "sandbox",
            /// When the event was fired; `None` when the API sent none.
            fired_at: Option<Timestamp> = "fired_at",
            /// The object the event is about.
            data: EventData = "data",
            /// The webhook deliveries of the event, when the API lists them.
            webhooks: Option<WebhookRecords> = "webhooks",
        }
    }
}

api_object! {
    /// The `data` of an event: the object the event is about, under the
    /// key of its resource (`transaction`, `invoice`, `customer`, …).
    ///
    /// The transaction of transaction events is read into a typed
    /// [`Transaction`]; other objects are in [`extra`](EventData::extra).
    #[derive(Default)]
    pub struct EventData {
        required {}
        optional {
            /// The event type, repeated.
            name: Option<EventType> = "name",
            /// Whether the event comes from a sandbox project, repeated.
            sandbox: Option<bool> = "sandbox",
            /// The transaction, for transaction events.
            transaction: Option<Transaction> = "transaction",
        }
    }
}

impl Event {
    /// Reads an event from the JSON of its `event` object.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidPayload`] when the bytes are not JSON or not an
    /// event (no `id` or `name`, an invalid ID, a field of the wrong type).
    pub fn from_slice(json: &[u8]) -> Result<Self, Error> {
        serde_json::from_slice(json).map_err(|e| {
            Error::new(ErrorKind::InvalidPayload, "the JSON is not an event").with_source(e)
        })
    }

    /// The event type.
    pub fn event_type(&self) -> &EventType {
        &self.name
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
}

/// The webhook deliveries an event lists, as the API sent them.
///
/// Reads as a slice of JSON values. `Debug` shows how many there are, not
/// what they hold: a record's `request_url` carries the webhook URL's
/// credentials.
#[derive(Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct WebhookRecords(pub Vec<serde_json::Value>);

impl std::ops::Deref for WebhookRecords {
    type Target = [serde_json::Value];
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::fmt::Debug for WebhookRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebhookRecords({} records)", self.0.len())
    }
}
