//! Test kits: what you need to test code built on this crate without the
//! real Smart Router. Requires the `testing` feature (a dev-dependency
//! feature: `smart-router-webhooks = { version = "0.1", features = ["testing"] }`
//! under `[dev-dependencies]`).
//!
//! - [`TransactionBuilder`] and [`EventBuilder`]: fixtures whose flags,
//!   amounts and times agree with their status, at any status and time.
//! - [`MockApi`]: a real HTTP/1.1 server on `127.0.0.1` that behaves like
//!   the Smart Router API (credentials, API version, events, transactions,
//!   listing) and can be told to fail: the next requests, those about one
//!   object, or a reproducible random share of them ([`RandomFailures`]).
//!   `cargo run --example mock_api` runs one on its own.
//! - [`deliver`]: delivers an event to a receiver in process and returns
//!   its [`DeliveryReport`](crate::DeliveryReport).
//! - [`TestServer`]: serves a receiver on a free loopback port and gives
//!   its webhook URL, credentials included.
//! - [`Sender`]: delivers webhooks like Smart Router does (credentials from
//!   the webhook URL, retries with exponential backoff) and records every
//!   attempt.
//!
//! ```
//! use smart_router_webhooks::testing::{MockApi, TransactionBuilder, deliver};
//! use smart_router_webhooks::{Credentials, Outcome, Receiver, TransactionStatus::Refunded};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let api = MockApi::start().await;
//! api.add_event(TransactionBuilder::new("tr_1").status(Refunded).refunded("4").event("ev_1"));
//! let receiver = Receiver::builder()
//!     .credentials(Credentials::new("hooks", "s3cret")?)
//!     .fetcher(api.client_builder().build()?)
//!     .build()?;
//! let report = deliver(&receiver, "ev_1").await;
//! assert_eq!(report.outcome, Outcome::Processed);
//! assert_eq!(deliver(&receiver, "ev_1").await.outcome, Outcome::Duplicate);
//! # Ok(()) }
//! ```

mod fixtures;
mod mock_api;
mod sender;
mod server;

pub use fixtures::{DEFAULT_TIME, EventBuilder, TransactionBuilder};
pub use mock_api::{Failure, MockApi, MockApiBuilder, RandomFailures, RecordedRequest};
pub use sender::{Attempt, AttemptError, Delivery, Sender};
pub use server::{TestServer, WEBHOOK_PATH, deliver};
