#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod delivery;
pub mod error;
pub mod model;
pub mod store;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

#[cfg(feature = "reqwest")]
pub use api::ReqwestTransport;
pub use api::{
    ApiClient, ApiClientBuilder, EventFetcher, FetchError, FetchErrorKind, Transport,
    TransportError,
};
pub use delivery::{BasicAuth, Credentials, WebhookPayload};
pub use error::{Error, ErrorKind};
pub use model::{
    Amount, Event, EventData, EventId, EventType, LIFECYCLE, Operation, OperationType, Timestamp,
    Transaction, TransactionId, TransactionStatus,
};
pub use store::{
    Applied, Claim, ClaimStore, ClaimToken, MemoryClaimStore, MemoryTransactionStore,
    TransactionSnapshot, TransactionStore,
};
