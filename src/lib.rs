#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod adapters;
pub mod api;
pub mod delivery;
pub mod dispatch;
pub mod error;
pub mod inbox;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
pub mod model;
pub mod receiver;
#[cfg(feature = "reconciler")]
#[cfg_attr(docsrs, doc(cfg(feature = "reconciler")))]
pub mod reconcile;
pub mod store;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
pub mod tracker;

/// The attribute a struct implementing [`Handler`] (or another of this
/// crate's async traits) puts on its `impl` block, re-exported so that
/// `#[smart_router_webhooks::async_trait]` works without a dependency of
/// your own.
pub use async_trait::async_trait;

#[cfg(feature = "reqwest")]
pub use api::ReqwestTransport;
pub use api::{
    ApiClient, ApiClientBuilder, EventFetcher, FetchError, FetchErrorKind, Transport,
    TransportError,
};
pub use delivery::{BasicAuth, Credentials, WebhookPayload, WebhookUrl};
pub use dispatch::{
    EventContext, Handler, HandlerError, HandlerResultExt, Router, TransitionFilter,
};
pub use error::{Error, ErrorKind};
pub use model::{
    Amount, Event, EventData, EventId, EventType, Extra, LIFECYCLE, Metadata, ModelWarning,
    Operation, OperationType, Timestamp, Transaction, TransactionId, TransactionStatus,
};
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use receiver::TokioRuntime;
pub use receiver::{
    BodyCollector, BodyError, DeliveryReport, HandlerRun, NotFoundPolicy, Observer, Outcome,
    Receiver, ReceiverBuilder, Runtime,
};
pub use store::{
    Applied, Claim, ClaimStore, ClaimToken, DeliveryProgress, MemoryClaimStore,
    MemoryTransactionStore, TransactionSnapshot, TransactionStore,
};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use store::{RedisClaimStore, RedisStoreBuilder, RedisStores, RedisTransactionStore};
pub use tracker::{Tracking, TransactionTracker, Transition};
