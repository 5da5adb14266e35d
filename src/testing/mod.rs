//! Test kits: what you need to test code built on this crate without the
//! real Smart Router.
//!
//! - [`MockApi`]: a real HTTP/1.1 server on `127.0.0.1` that behaves like
//!   the Smart Router API (credentials, API version, events, transactions,
//!   listing) and can be told to fail: the next requests, those about one
//!   object, or a reproducible random share of them ([`RandomFailures`]).
//! - [`Sender`]: delivers webhooks like Smart Router does (credentials from
//!   the webhook URL, retries with exponential backoff) and records every
//!   attempt.

mod mock_api;
mod sender;

pub use mock_api::{Failure, MockApi, MockApiBuilder, RandomFailures, RecordedRequest};
pub use sender::{Attempt, Delivery, Sender};
