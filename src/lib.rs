#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

// The data path of one delivery, module by module (each depends only on
// those before it): `delivery` (credentials, payload) → `receiver` (the
// pipeline) → `api` (the event, fetched) → `model` (what it says) →
// `tracker` (the transaction's status change) → `dispatch` (the handlers)
// → `store` (claims and snapshots). Every public item has one path: the
// crate root for what a receiver's code names, a feature module (or `api`,
// `adapters`) for the rest.
pub mod adapters;
pub mod api;
mod delivery;
mod dispatch;
mod error;
pub mod inbox;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
mod model;
mod receiver;
#[cfg(feature = "reconciler")]
#[cfg_attr(docsrs, doc(cfg(feature = "reconciler")))]
pub mod reconcile;
mod store;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
mod tracker;

/// The attribute a struct implementing [`Handler`] (or another of this
/// crate's async traits) puts on its `impl` block, re-exported so that
/// `#[smart_router_webhooks::async_trait]` works without a dependency of
/// your own.
pub use async_trait::async_trait;

pub use api::client::{ApiClient, ApiClientBuilder};
pub use api::error::{FetchError, FetchErrorKind};
pub use api::fetcher::EventFetcher;
pub use delivery::{BasicAuth, Credentials, WebhookPayload, WebhookUrl};
pub use dispatch::{EventContext, Handler, HandlerError, HandlerResultExt, TransitionFilter};
pub use error::{Error, ErrorKind};
pub use model::{
    Amount, Event, EventData, EventId, EventType, Extra, LIFECYCLE, Metadata, ModelWarning,
    Operation, OperationType, Timestamp, Transaction, TransactionId, TransactionStatus,
};
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use receiver::TokioRuntime;
pub use receiver::{
    DeliveryReport, HandlerRun, NotFoundPolicy, Observer, Outcome, Receiver, ReceiverBuilder,
    Runtime,
};
pub use store::{
    Applied, Claim, ClaimStore, ClaimToken, MemoryClaimStore, MemoryTransactionStore,
    TransactionSnapshot, TransactionStore,
};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use store::{RedisClaimStore, RedisStoreBuilder, RedisStores, RedisTransactionStore};
pub use tracker::{Tracking, TransactionTracker, Transition};

// Paths the crate's own modules use, not part of the public API.
pub(crate) use receiver::{BodyCollector, BodyError};
