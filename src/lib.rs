#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

// The data path of one delivery, module by module: `delivery` (credentials,
// payload) → `receiver` (the pipeline, the only module that knows it
// whole) → `api` (the event, fetched) → `model` (what it says, and the
// `Tracking` of its transaction) → `receiver::tracker` (the status change,
// against the latest snapshot) → `dispatch` (the handlers, which see the
// model only) → `store` (claims and snapshots). Every public item has one
// path: the crate root for what a receiver's code names, a feature module
// (or `api`, `adapters`) for the rest.
//
// The modules in layers; a module uses (`use crate::…`) only modules of
// the layers below its own, so no two import each other (`.ci/import-cycles`
// checks it):
//
//   1. `error`                      the crate's error, shared helpers
//   2. `model`                      what the API says
//   3. `delivery`                   credentials, payload
//   4. `api`                        the event fetched
//   5. `dispatch`, `store`, `queue` handlers; claims and snapshots; the
//                                   `Inbox` contract (public in `inbox`)
//   6. `metrics`                    told numbers and labels by the layers above
//   7. `receiver`                   the pipeline, inbox mode enqueuing to a
//                                   `dyn Inbox`
//   8. `inbox`, `reconcile`, `adapters`  what drives a receiver: the
//                                   inbox's backends and `Workers`, the
//                                   reconciler, the framework adapters
//   9. `testing`                    the test kit, over all of them
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
mod queue;
mod receiver;
#[cfg(feature = "reconciler")]
#[cfg_attr(docsrs, doc(cfg(feature = "reconciler")))]
pub mod reconcile;
mod store;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

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
    Operation, OperationType, Timestamp, Tracking, Transaction, TransactionId, TransactionStatus,
    Transition,
};
pub use receiver::{
    DeliveryReport, HandlerRun, NotFoundPolicy, Observer, Outcome, Receiver, ReceiverBuilder,
    Runtime,
};
pub use store::{
    Applied, Claim, ClaimStore, ClaimToken, ClaimUpdate, DeliveryProgress, MemoryStore,
    TransactionSnapshot, TransactionStore,
};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use store::{RedisStore, RedisStoreBuilder};
