//! [`MockApi`]: the Smart Router API on loopback, for tests.
//!
//! A real HTTP/1.1 server (hyper on tokio) bound to `127.0.0.1` on a free
//! port. It answers like the real API: the same routes, envelopes, status
//! codes and, where the vendor published them, the same error bodies. What
//! the vendor does not document (the answer to a wrong `API-Version`, to an
//! unknown route, to bad listing parameters) is the mock's own choice and
//! says so in its `error_type`.

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, MutexGuard};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::api::{ApiClient, ApiClientBuilder};
use crate::error::{Error, ErrorKind};
use crate::model::{Event, EventId, Transaction, TransactionId};

use state::{Shared, State};

/// The vendor's answer to missing or wrong credentials (HTTP 401).
const AUTHENTICATION_INVALID: &str =
    include_str!("../../../tests/fixtures/authentication-invalid.json");
/// The vendor's answer to an unknown event (HTTP 404).
const EVENT_NOT_FOUND: &str = include_str!("../../../tests/fixtures/event-not-found.json");
/// The vendor's answer to an unknown transaction (HTTP 404).
const TRANSACTION_NOT_FOUND: &str =
    include_str!("../../../tests/fixtures/transaction-not-found.json");

/// The ID the template of `serve_any_event` is written with, then replaced.
const ANY_EVENT_PLACEHOLDER: &str = "ev_any_event_placeholder_7f3a9c";

/// How many requests [`MockApi::recorded_requests`] keeps.
const RECORDED: usize = 64;
/// The page size of `GET /events` when the request gives none.
const DEFAULT_LIMIT: usize = 10;
/// The largest page size `GET /events` accepts.
const MAX_LIMIT: usize = 100;

mod builder;
mod failures;
mod response;
mod routes;
mod state;
#[cfg(test)]
mod tests;

pub use builder::MockApiBuilder;
pub use failures::{Failure, RandomFailures};
pub use state::RecordedRequest;

/// The Smart Router API on loopback, for tests.
///
/// It serves what the test puts in it:
///
/// - `GET /events/{id}` → `{"success":true,"event":…}`
/// - `GET /events/{id}/webhooks` → `{"success":true,"webhooks":[…],"has_more":false}`
/// - `GET /events?limit=&start_after=&end_before=&order=&filter=&expand[]=` →
///   `{"success":true,"events":[…],"has_more":…}`, the events in the order
///   they were added (the oldest first), newest first by default; a
///   request with both cursors gets a 400, as the vendor's pagination docs
///   say only one may be given (`filter` and `expand` are accepted and
///   not applied)
/// - `GET /transactions/{id}` → `{"success":true,"transaction":…}`
///
/// Like the real API it checks basic auth (answering 401 with the vendor's
/// own body) and answers 404 with the vendor's own bodies for unknown
/// events and transactions. It also checks `API-Version` (a mismatch gets a
/// 400 of the mock's own). It counts and records every request, and can be
/// told to fail (see [`Failure`]). It stops when dropped.
///
/// ```
/// use smart_router_webhooks::testing::{Failure, MockApi};
/// use smart_router_webhooks::{Event, EventId, EventType};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), smart_router_webhooks::Error> {
/// let api = MockApi::start().await;
/// let id = EventId::parse("ev_1")?;
/// api.add_event(Event::new(id.clone(), EventType::TransactionCaptured));
/// api.fail_next(1, Failure::Unavailable { retry_after: Some(2) });
/// // … point the code under test at `api.url()` …
/// assert_eq!(api.requests("/events/ev_1"), 0);
/// # Ok(()) }
/// ```
pub struct MockApi {
    addr: SocketAddr,
    project_id: String,
    private_key: String,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl fmt::Debug for MockApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockApi")
            .field("addr", &self.addr)
            .field("project_id", &self.project_id)
            .field("private_key", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl Drop for MockApi {
    fn drop(&mut self) {
        // Aborting the accept loop drops its set of connections, which
        // aborts them too.
        self.server.abort();
    }
}

impl MockApi {
    /// The project ID a default mock accepts.
    pub const PROJECT_ID: &'static str = "test-proj_mock";
    /// The private key a default mock accepts.
    pub const PRIVATE_KEY: &'static str = "key_sandbox_mock";
    /// The `API-Version` a default mock requires.
    pub const API_VERSION: &'static str = "1.4.0.0";

    /// A builder, to choose credentials, API version or delay.
    pub fn builder() -> MockApiBuilder {
        MockApiBuilder::default()
    }

    /// Starts a mock with the default credentials ([`MockApi::PROJECT_ID`],
    /// [`MockApi::PRIVATE_KEY`]) and API version.
    ///
    /// Must be called within a tokio runtime.
    ///
    /// # Panics
    ///
    /// When no loopback port can be bound.
    pub async fn start() -> MockApi {
        MockApi::builder().start().await
    }

    /// The base URL to give a client: `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address the mock listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The project ID the mock accepts.
    pub fn project_id(&self) -> &str {
        &self.project_id
    }

    /// The private key the mock accepts.
    pub fn private_key(&self) -> &str {
        &self.private_key
    }

    /// A client builder with this mock's base URL and credentials; add a
    /// transport (or enable the `reqwest` feature) and build.
    ///
    /// ```
    /// # #[cfg(feature = "reqwest")]
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use smart_router_webhooks::testing::MockApi;
    /// use smart_router_webhooks::{FetchErrorKind, TransactionId};
    ///
    /// let api = MockApi::start().await;
    /// let client = api.client_builder().build()?;
    /// let err = client.fetch_transaction(&TransactionId::parse("tr_1")?).await.unwrap_err();
    /// assert_eq!(err.kind(), FetchErrorKind::NotFound);
    /// assert_eq!(api.requests("/transactions/tr_1"), 1);
    /// # Ok(()) }
    /// # #[cfg(not(feature = "reqwest"))] fn main() {}
    /// ```
    pub fn client_builder(&self) -> ApiClientBuilder {
        ApiClient::builder(&*self.project_id, &*self.private_key).base_url(self.url())
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared.lock()
    }

    /// Serves `event` at `GET /events/{id}` and in listings, after the
    /// events already added. Adding an ID again replaces the event in
    /// place.
    ///
    /// # Panics
    ///
    /// Never in practice: an [`Event`] always serializes to JSON.
    pub fn add_event(&self, event: Event) {
        let value = match serde_json::to_value(&event) {
            Ok(value) => value,
            Err(e) => panic!("an Event always serializes to JSON: {e}"),
        };
        self.state().put_event(event.id.as_str(), value);
    }

    /// Serves an event given as JSON: either the event object, or the
    /// whole API answer `{"success":true,"event":{…}}` (as in the vendor's
    /// published examples). Returns its ID.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidPayload`] when the JSON is not an event.
    pub fn add_event_json(&self, json: &str) -> Result<EventId, Error> {
        let value = unwrap_envelope(json, "event")?;
        let event: Event = serde_json::from_value(value.clone()).map_err(|e| {
            Error::new(ErrorKind::InvalidPayload, "the JSON is not an event").with_source(e)
        })?;
        self.state().put_event(event.id.as_str(), value);
        Ok(event.id)
    }

    /// Serves `transaction` at `GET /transactions/{id}`, replacing any
    /// transaction with the same ID.
    ///
    /// # Panics
    ///
    /// Never in practice: a [`Transaction`] always serializes to JSON.
    pub fn add_transaction(&self, transaction: Transaction) {
        let value = match serde_json::to_value(&transaction) {
            Ok(value) => value,
            Err(e) => panic!("a Transaction always serializes to JSON: {e}"),
        };
        self.state()
            .transactions
            .insert(transaction.id.as_str().to_owned(), value);
    }

    /// Serves a transaction given as JSON: either the transaction object,
    /// or the whole API answer `{"success":true,"transaction":{…}}`.
    /// Returns its ID.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidPayload`] when the JSON is not a transaction.
    pub fn add_transaction_json(&self, json: &str) -> Result<TransactionId, Error> {
        let value = unwrap_envelope(json, "transaction")?;
        let transaction: Transaction = serde_json::from_value(value.clone()).map_err(|e| {
            Error::new(ErrorKind::InvalidPayload, "the JSON is not a transaction").with_source(e)
        })?;
        self.state()
            .transactions
            .insert(transaction.id.as_str().to_owned(), value);
        Ok(transaction.id)
    }

    /// Adds a delivery record to `GET /events/{event_id}/webhooks`. The
    /// record is served as given, so it may have any shape (a
    /// `response_code` as a string, unknown fields…).
    pub fn add_webhook(&self, event_id: &EventId, record: Value) {
        self.state()
            .webhooks
            .entry(event_id.as_str().to_owned())
            .or_default()
            .push(record);
    }

    /// Records that every delivery of `event_id` to `request_url` failed:
    /// one record per status in `response_codes` (`None`: no answer), with
    /// the vendor's `status: "failed"`, as the Dashboard shows for an
    /// endpoint that was down. The endpoint never got the event: a
    /// delivery withheld, for tests of reconciliation and audits.
    pub fn withhold_deliveries(
        &self,
        event_id: &EventId,
        request_url: &str,
        response_codes: &[Option<u16>],
    ) {
        for (n, code) in response_codes.iter().enumerate() {
            self.add_webhook(
                event_id,
                json!({
                    "id": format!("wh_{}_{n}", event_id.as_str()),
                    "event_id": event_id.as_str(),
                    "request_url": request_url,
                    "request_method": "POST",
                    "response_code": code.map(|c| c.to_string()).unwrap_or_default(),
                    "status": "failed",
                }),
            );
        }
    }

    /// Fails the next `count` requests, whatever they ask, with `failure`.
    /// Calls queue up: `fail_next(1, A)` then `fail_next(2, B)` fails one
    /// request with A, then two with B.
    pub fn fail_next(&self, count: usize, failure: Failure) {
        if count > 0 {
            self.state().fail_next.push_back((failure, count));
        }
    }

    /// Fails every request whose path names `id` (an event, its webhooks,
    /// a transaction) with `failure`, until
    /// [`clear_failures`](MockApi::clear_failures). Failures queued with
    /// [`fail_next`](MockApi::fail_next) come first.
    pub fn fail_id(&self, id: impl AsRef<str>, failure: Failure) {
        self.state().fail_id.insert(id.as_ref().to_owned(), failure);
    }

    /// Fails a share of the requests at random, reproducibly (see
    /// [`RandomFailures`]), until
    /// [`clear_failures`](MockApi::clear_failures); replaces the random
    /// failures given before. Failures given with
    /// [`fail_next`](MockApi::fail_next) and [`fail_id`](MockApi::fail_id)
    /// come first.
    ///
    /// ```
    /// use smart_router_webhooks::testing::{Failure, MockApi, RandomFailures};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let api = MockApi::start().await;
    /// api.fail_randomly(RandomFailures::new(0.3, 7).with(Failure::Hang, 1));
    /// // … about 30% of the requests now hang …
    /// assert_eq!(api.failed_requests(), 0);
    /// # }
    /// ```
    pub fn fail_randomly(&self, failures: RandomFailures) {
        self.state().random = Some(failures);
    }

    /// Forgets every failure given with [`fail_next`](MockApi::fail_next),
    /// [`fail_id`](MockApi::fail_id) and
    /// [`fail_randomly`](MockApi::fail_randomly).
    pub fn clear_failures(&self) {
        let mut state = self.state();
        state.fail_next.clear();
        state.fail_id.clear();
        state.random = None;
    }

    /// How many requests the mock failed on purpose, whichever way it was
    /// told to.
    pub fn failed_requests(&self) -> usize {
        self.state().failed
    }

    /// Waits this long before answering each request from now on
    /// (`Duration::ZERO`: no delay).
    pub fn set_delay(&self, delay: Duration) {
        self.state().delay = delay;
    }

    /// How many requests were made to `path` (without the query, e.g.
    /// `/events/ev_1` or `/events`), whatever their answer.
    pub fn requests(&self, path: &str) -> usize {
        self.state().counts.get(path).copied().unwrap_or(0)
    }

    /// How many requests the mock received in all.
    pub fn total_requests(&self) -> usize {
        self.state().total
    }

    /// The last requests received (at most 64), the oldest first.
    pub fn recorded_requests(&self) -> Vec<RecordedRequest> {
        self.state().recorded.iter().cloned().collect()
    }

    /// The last request received, if any.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        self.state().recorded.back().cloned()
    }

    /// How many requests arrived in each second since the mock started
    /// (index 0: the first second), whatever their answer: to assert a
    /// client's request budget.
    pub fn requests_per_second(&self) -> Vec<usize> {
        self.state().per_second.clone()
    }

    /// How many requests were refused with 429 by the rate limit of
    /// [`MockApiBuilder::rate_limit`].
    pub fn rate_limited_requests(&self) -> usize {
        self.state().rate_limited
    }

    /// Forgets the counts and the recorded requests.
    pub fn reset_requests(&self) {
        let mut state = self.state();
        state.counts.clear();
        state.total = 0;
        state.recorded.clear();
    }
}

/// The JSON value of an object given either bare or inside an API answer
/// under `key`.
fn unwrap_envelope(json: &str, key: &'static str) -> Result<Value, Error> {
    let mut value: Value = serde_json::from_str(json)
        .map_err(|e| Error::new(ErrorKind::InvalidPayload, "not JSON").with_source(e))?;
    if let Some(inner) = value.get_mut(key).filter(|inner| inner.is_object()) {
        return Ok(inner.take());
    }
    Ok(value)
}
