//! The inbox: acknowledge a delivery as soon as it is checked and durably
//! queued, and process it from the queue with workers.
//!
//! In inbox mode ([`ReceiverBuilder::inbox`](crate::ReceiverBuilder::inbox))
//! a delivery is answered `202 Accepted` once its method, credentials,
//! body and payload are checked and its event ID is in the [`Inbox`]; a
//! delivery the inbox cannot take is answered 503 with `Retry-After`, so
//! nothing is acknowledged that is not queued. Workers (feature `tokio`,
//! [`Workers`]) take the events from the inbox and run the same pipeline
//! as the synchronous receiver ([`Receiver::process`](crate::Receiver::process):
//! claim, fetch, track, handlers, owed handlers, supervision, lease
//! renewal); a failure is retried on the inbox's own schedule
//! ([`RetryPolicy`]), then set aside in the dead-letter list with its last
//! error, from which it can be replayed.
//!
//! Two backends: [`MemoryInbox`] (one process, bounded, lost on restart)
//! and `RedisInbox` (feature `redis`, on Redis Streams, shared by every
//! instance and kept across restarts with Redis persistence on).
//!
//! # Why 202
//!
//! Any 2xx stops the sender's retries; 202 Accepted is the status HTTP
//! has for "taken, to be processed later", so logs, proxies and the
//! sender's dashboard tell an event queued from one processed (200).

#[cfg(feature = "tokio")]
mod cause;
mod memory;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "tokio")]
mod retry;
#[cfg(feature = "tokio")]
mod worker;

pub(crate) use crate::queue::DEFAULT_INBOX_LEASE;
pub use crate::queue::{
    DeadLetter, Enqueued, Failure, Inbox, InboxDepth, InboxItem, RecordedError,
};
pub use memory::MemoryInbox;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::RedisInbox;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use retry::RetryPolicy;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use worker::{Decision, InboxRun, WorkerObserver, Workers, WorkersBuilder, WorkersStopped};
