//! What Smart Router sends and the API returns: identifiers, events,
//! transactions and their statuses.
//!
//! Every string enum the server sends is open (an unknown value parses and
//! keeps its text) and every object keeps the fields this crate does not
//! model in its `extra` map. A field whose value does not fit its type never
//! fails the object: it is kept raw and listed as a [`ModelWarning`].

mod amount;
mod event;
mod event_type;
pub(crate) mod extra;
mod ids;
mod metadata;
pub(crate) mod object;
mod open_enum;
mod status;
mod timestamp;
pub(crate) mod tolerant;
mod transaction;
mod transition;
mod warning;
mod webhook;

pub use amount::Amount;
pub use event::{Event, EventData};
pub use event_type::EventType;
pub use extra::Extra;
pub use ids::{EventId, TransactionId};
pub use metadata::Metadata;
pub use status::{LIFECYCLE, TransactionStatus};
pub use timestamp::Timestamp;
pub use transaction::{Operation, OperationType, Transaction};
pub use transition::{Tracking, Transition};
pub use warning::ModelWarning;
pub use webhook::{WebhookDelivery, WebhookStatus};
