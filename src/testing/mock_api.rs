//! [`MockApi`]: the Smart Router API on loopback, for tests.
//!
//! A real HTTP/1.1 server (hyper on tokio) bound to `127.0.0.1` on a free
//! port. It answers like the real API: the same routes, envelopes, status
//! codes and, where the vendor published them, the same error bodies. What
//! the vendor does not document (the answer to a wrong `API-Version`, to an
//! unknown route, to bad listing parameters) is the mock's own choice and
//! says so in its `error_type`.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http::header::{
    AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER,
};
use http::{Method, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use crate::api::{ApiClient, ApiClientBuilder};
use crate::error::{Error, ErrorKind};
use crate::model::{Event, EventId, Transaction, TransactionId};

/// The vendor's answer to missing or wrong credentials (HTTP 401).
const AUTHENTICATION_INVALID: &str =
    include_str!("../../tests/fixtures/authentication-invalid.json");
/// The vendor's answer to an unknown event (HTTP 404).
const EVENT_NOT_FOUND: &str = include_str!("../../tests/fixtures/event-not-found.json");
/// The vendor's answer to an unknown transaction (HTTP 404).
const TRANSACTION_NOT_FOUND: &str = include_str!("../../tests/fixtures/transaction-not-found.json");

/// The ID the template of `serve_any_event` is written with, then replaced.
const ANY_EVENT_PLACEHOLDER: &str = "ev_any_event_placeholder_7f3a9c";

/// How many requests [`MockApi::recorded_requests`] keeps.
const RECORDED: usize = 64;
/// The page size of `GET /events` when the request gives none.
const DEFAULT_LIMIT: usize = 10;
/// The largest page size `GET /events` accepts.
const MAX_LIMIT: usize = 100;

/// What the mock does instead of answering normally.
///
/// Give one to [`MockApi::fail_next`] (the next N requests), to
/// [`MockApi::fail_id`] (every request about one object), or several to
/// [`MockApi::fail_randomly`] (a share of all requests). Failures come
/// before the credentials check, as an outage would.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// `500 Internal Server Error` with a JSON error body.
    InternalError,
    /// `503 Service Unavailable`, with `Retry-After: <seconds>` when given.
    Unavailable {
        /// The `Retry-After` header, in seconds.
        retry_after: Option<u64>,
    },
    /// `429 Too Many Requests` with `x-ratelimit` and
    /// `x-ratelimit-remaining: 0`, plus `Retry-After` and
    /// `x-ratelimit-reset` (both in seconds) when given.
    RateLimited {
        /// The `Retry-After` header, in seconds.
        retry_after: Option<u64>,
        /// The `x-ratelimit-reset` header, in seconds.
        reset: Option<u64>,
    },
    /// Any status with the given body (sent as `application/json`, whatever
    /// it is).
    Respond {
        /// The status code.
        status: u16,
        /// The body.
        body: String,
    },
    /// Never answer: the request hangs until the client gives up or the
    /// mock is dropped.
    Hang,
    /// Close the connection without answering.
    Close,
    /// `200 OK` with an HTML page instead of JSON, as a misconfigured proxy
    /// would send.
    Garbage,
    /// `200 OK` with a body of `bytes` zero bytes, streamed in 64 KiB
    /// chunks (so a gigabyte costs the mock no memory), with or without a
    /// `Content-Length` header.
    HugeBody {
        /// The size of the body.
        bytes: u64,
        /// Whether to announce the size in `Content-Length` (otherwise the
        /// body is chunked and its size is only known by reading it).
        content_length: bool,
    },
}

/// Failures drawn at random for a share of the requests: give it to
/// [`MockApi::fail_randomly`].
///
/// The draw is reproducible: whether the `n`-th request for a path fails,
/// and how, depends only on the seed, the path and `n`. Concurrent
/// requests for different paths may arrive in any order and still meet the
/// same failures from one run to the next.
///
/// ```
/// use smart_router_webhooks::testing::{Failure, RandomFailures};
///
/// // 30% of requests fail: half with a 503, half with a closed connection.
/// let chaos = RandomFailures::new(0.3, 42)
///     .with(Failure::Unavailable { retry_after: Some(1) }, 1)
///     .with(Failure::Close, 1);
/// # let _ = chaos;
/// ```
#[derive(Clone, Debug, PartialEq)]
#[must_use = "give it to `MockApi::fail_randomly`"]
pub struct RandomFailures {
    rate: f64,
    seed: u64,
    failures: Vec<(Failure, u32)>,
}

impl RandomFailures {
    /// Fails about `rate` of the requests (from 0.0, none, to 1.0, all; a
    /// rate out of that range is brought into it, and NaN is 0), drawn
    /// from `seed`. Failures are drawn among those given with
    /// [`with`](RandomFailures::with); with none given, they are
    /// [`Failure::InternalError`].
    pub fn new(rate: f64, seed: u64) -> Self {
        let rate = if rate.is_nan() {
            0.0
        } else {
            rate.clamp(0.0, 1.0)
        };
        RandomFailures {
            rate,
            seed,
            failures: Vec::new(),
        }
    }

    /// Draws `failure` in proportion to `weight` among the failures given
    /// (a weight of 0 never draws it).
    pub fn with(mut self, failure: Failure, weight: u32) -> Self {
        if weight > 0 {
            self.failures.push((failure, weight));
        }
        self
    }

    /// The failure, if any, of the `n`-th request (from 1) for `path`.
    fn draw(&self, path: &str, n: usize) -> Option<Failure> {
        let mut hash = splitmix64(self.seed);
        for byte in path.bytes() {
            hash = splitmix64(hash ^ u64::from(byte));
        }
        let hash = splitmix64(hash ^ n as u64);
        // The top 53 bits, as a fraction of 1.
        let unit = (hash >> 11) as f64 / (1u64 << 53) as f64;
        if unit >= self.rate {
            return None;
        }
        let total: u64 = self.failures.iter().map(|(_, w)| u64::from(*w)).sum();
        if total == 0 {
            return Some(Failure::InternalError);
        }
        let mut pick = splitmix64(hash) % total;
        for (failure, weight) in &self.failures {
            if pick < u64::from(*weight) {
                return Some(failure.clone());
            }
            pick -= u64::from(*weight);
        }
        None
    }
}

/// The SplitMix64 step: a fast, well-mixed 64-bit hash of `x`.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A request the mock received, as it arrived.
///
/// The `Authorization` header is marked sensitive, so `Debug` does not
/// print it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// The method.
    pub method: Method,
    /// The path, without the query (`/events/ev_1`).
    pub path: String,
    /// The query string, without the `?`, if there was one.
    pub query: Option<String>,
    /// The headers.
    pub headers: HeaderMap,
}

impl RecordedRequest {
    /// The value of header `name`, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The value of query parameter `name`, decoded, if present.
    pub fn query_param(&self, name: &str) -> Option<String> {
        let query = self.query.as_deref()?;
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }
}

/// Configures and starts a [`MockApi`].
///
/// ```
/// use smart_router_webhooks::testing::MockApi;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let api = MockApi::builder()
///     .project_id("proj_test")
///     .private_key("key_test")
///     .api_version("1.3.0.0")
///     .start()
///     .await;
/// assert_eq!(api.project_id(), "proj_test");
/// # }
/// ```
#[derive(Clone)]
#[must_use = "a builder does nothing until `start` is called"]
pub struct MockApiBuilder {
    project_id: String,
    private_key: String,
    api_version: Option<String>,
    delay: Duration,
    any_event: Option<Event>,
    rate_limit: Option<u32>,
    addr: Option<SocketAddr>,
}

impl fmt::Debug for MockApiBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockApiBuilder")
            .field("project_id", &self.project_id)
            .field("private_key", &"[redacted]")
            .field("api_version", &self.api_version)
            .field("delay", &self.delay)
            .finish()
    }
}

impl Default for MockApiBuilder {
    fn default() -> Self {
        MockApiBuilder {
            project_id: MockApi::PROJECT_ID.to_owned(),
            private_key: MockApi::PRIVATE_KEY.to_owned(),
            api_version: Some(MockApi::API_VERSION.to_owned()),
            delay: Duration::ZERO,
            any_event: None,
            rate_limit: None,
            addr: None,
        }
    }
}

impl MockApiBuilder {
    /// The project ID the mock accepts as basic-auth username
    /// (default [`MockApi::PROJECT_ID`]).
    pub fn project_id(mut self, project_id: impl Into<String>) -> Self {
        self.project_id = project_id.into();
        self
    }

    /// The private key the mock accepts as basic-auth password
    /// (default [`MockApi::PRIVATE_KEY`]).
    pub fn private_key(mut self, private_key: impl Into<String>) -> Self {
        self.private_key = private_key.into();
        self
    }

    /// The `API-Version` header the mock requires
    /// (default [`MockApi::API_VERSION`]).
    pub fn api_version(mut self, api_version: impl Into<String>) -> Self {
        self.api_version = Some(api_version.into());
        self
    }

    /// Accepts any `API-Version` header, or none.
    pub fn any_api_version(mut self) -> Self {
        self.api_version = None;
        self
    }

    /// Waits this long before answering each request (default: no delay).
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Answers `GET /events/{id}` for any ID not added otherwise with
    /// `template` under the asked ID, for load tests that fetch millions of
    /// distinct events. The answer's body is written once, so serving it
    /// costs no serialization; requests for such events are counted in
    /// [`MockApi::total_requests`] only, so that the mock's memory stays
    /// flat however many distinct IDs are asked.
    pub fn serve_any_event(mut self, template: Event) -> Self {
        self.any_event = Some(template);
        self
    }

    /// Enforces a rate limit of `per_second` requests in each second since
    /// the start, as the API's "secondary" limit does: a request over it
    /// gets a 429 with `Retry-After` (to the next second) and every answer
    /// carries `x-ratelimit` and `x-ratelimit-remaining`. See
    /// [`MockApi::requests_per_second`] to check a client's budget.
    pub fn rate_limit(mut self, per_second: u32) -> Self {
        self.rate_limit = Some(per_second);
        self
    }

    /// Listens on `addr` (`127.0.0.1:9090`) instead of a free loopback
    /// port: for a mock run on its own (`cargo run --example mock_api`)
    /// that other programs are pointed at.
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.addr = Some(addr);
        self
    }

    /// Binds `127.0.0.1` on a free port (or the address given to
    /// [`bind`](Self::bind)) and starts serving.
    ///
    /// Must be called within a tokio runtime.
    ///
    /// # Errors
    ///
    /// The I/O error when the port cannot be bound.
    pub async fn try_start(self) -> io::Result<MockApi> {
        let addr = self
            .addr
            .unwrap_or_else(|| SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
        // The backlog of the receivers' listeners: a client opening many
        // connections at once (a load test) is queued, not stalled.
        let listener = crate::adapters::bind(addr)?;
        let addr = listener.local_addr()?;
        let token = BASE64.encode(format!("{}:{}", self.project_id, self.private_key));
        let any_event = self.any_event.map(|template| {
            let mut template = template;
            template.id = EventId::parse(ANY_EVENT_PLACEHOLDER).unwrap_or(template.id);
            let body = json!({"success": true, "event": template}).to_string();
            match body.split_once(ANY_EVENT_PLACEHOLDER) {
                Some((before, after)) => (
                    Bytes::from(before.to_owned()),
                    Bytes::from(after.to_owned()),
                ),
                None => (Bytes::from(body), Bytes::new()),
            }
        });
        let shared = Arc::new(Shared {
            expected_authorization: format!("Basic {token}"),
            api_version: self.api_version,
            any_event,
            started: Instant::now(),
            state: Mutex::new(State {
                delay: self.delay,
                rate_limit: self.rate_limit,
                ..State::default()
            }),
        });
        let server = tokio::spawn(serve(listener, Arc::clone(&shared)));
        Ok(MockApi {
            addr,
            project_id: self.project_id,
            private_key: self.private_key,
            shared,
            server,
        })
    }

    /// Binds `127.0.0.1` on a free port and starts serving.
    ///
    /// Must be called within a tokio runtime.
    ///
    /// # Panics
    ///
    /// When no loopback port can be bound; see
    /// [`try_start`](MockApiBuilder::try_start) to handle that.
    pub async fn start(self) -> MockApi {
        match self.try_start().await {
            Ok(api) => api,
            Err(e) => panic!("the mock API could not bind a loopback port: {e}"),
        }
    }
}

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
    /// use smart_router_webhooks::{EventFetcher, FetchErrorKind, TransactionId};
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

/// What the connections share with the [`MockApi`] handle.
struct Shared {
    expected_authorization: String,
    api_version: Option<String>,
    /// The body of any event (see `serve_any_event`), split around its ID.
    any_event: Option<(Bytes, Bytes)>,
    /// When the mock started: seconds of the rate limit count from it.
    started: Instant,
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock must not hide its own
        // failure behind a poisoned mutex in the next request.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Default)]
struct State {
    /// Events in the order they were added: the oldest first.
    events: Vec<(String, Value)>,
    transactions: HashMap<String, Value>,
    webhooks: HashMap<String, Vec<Value>>,
    fail_next: VecDeque<(Failure, usize)>,
    fail_id: HashMap<String, Failure>,
    random: Option<RandomFailures>,
    failed: usize,
    delay: Duration,
    counts: HashMap<String, usize>,
    total: usize,
    recorded: VecDeque<RecordedRequest>,
    rate_limit: Option<u32>,
    /// Requests received in each second since the start.
    per_second: Vec<usize>,
    rate_limited: usize,
}

impl State {
    fn put_event(&mut self, id: &str, value: Value) {
        match self.events.iter_mut().find(|(known, _)| known == id) {
            Some(slot) => slot.1 = value,
            None => self.events.push((id.to_owned(), value)),
        }
    }

    fn event(&self, id: &str) -> Option<&Value> {
        self.events
            .iter()
            .find(|(known, _)| known == id)
            .map(|(_, value)| value)
    }

    /// Counts a request in `second` (since the start); with a rate limit,
    /// the remaining requests of that second, or `Err` with the time to
    /// wait when the request is over the limit.
    fn count_second(
        &mut self,
        second: usize,
        into: Duration,
    ) -> Result<Option<(u32, u64)>, Duration> {
        if self.per_second.len() <= second {
            self.per_second.resize(second + 1, 0);
        }
        self.per_second[second] += 1;
        let Some(limit) = self.rate_limit else {
            return Ok(None);
        };
        let used = self.per_second[second] as u64;
        if used > u64::from(limit) {
            self.rate_limited += 1;
            return Err(Duration::from_secs(1).saturating_sub(into));
        }
        Ok(Some((limit, u64::from(limit) - used)))
    }

    fn record(&mut self, request: RecordedRequest, count_path: bool) {
        if count_path {
            *self.counts.entry(request.path.clone()).or_default() += 1;
        }
        self.total += 1;
        if self.recorded.len() == RECORDED {
            self.recorded.pop_front();
        }
        self.recorded.push_back(request);
    }

    /// The failure that applies to a request for `path` (recorded
    /// already), consuming one from the next-N queue, and counting it.
    fn take_failure(&mut self, path: &str) -> Option<Failure> {
        let failure = self.choose_failure(path);
        self.failed += usize::from(failure.is_some());
        failure
    }

    fn choose_failure(&mut self, path: &str) -> Option<Failure> {
        if let Some((failure, left)) = self.fail_next.front_mut() {
            let failure = failure.clone();
            *left -= 1;
            if *left == 0 {
                self.fail_next.pop_front();
            }
            return Some(failure);
        }
        if let Some(failure) = path
            .split('/')
            .find_map(|segment| self.fail_id.get(segment))
        {
            return Some(failure.clone());
        }
        let n = self.counts.get(path).copied().unwrap_or(0);
        self.random.as_ref()?.draw(path, n)
    }
}

type MockBody = BoxBody<Bytes, Infallible>;

/// Why the mock closed a connection on purpose.
#[derive(Debug)]
struct ClosedOnPurpose;

impl fmt::Display for ClosedOnPurpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the mock API closes the connection, as told")
    }
}

impl std::error::Error for ClosedOnPurpose {}

async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of file descriptors or similar: wait and go on.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        while connections.try_join_next().is_some() {}
        let shared = Arc::clone(&shared);
        connections.spawn(async move {
            let service = service_fn(move |request| handle(Arc::clone(&shared), request));
            // A connection that fails (closed by the client, closed on
            // purpose) only ends itself.
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<MockBody>, ClosedOnPurpose> {
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let mut headers = request.headers().clone();
    if let Some(value) = headers.get_mut(AUTHORIZATION) {
        value.set_sensitive(true);
    }
    let elapsed = shared.started.elapsed();
    let second = usize::try_from(elapsed.as_secs()).unwrap_or(usize::MAX);
    let into = Duration::from_nanos(u64::from(elapsed.subsec_nanos()));
    let (failure, delay, rate) = {
        let mut state = shared.lock();
        // Events served from the template are not counted by path: there
        // may be millions of them.
        let from_template = shared.any_event.is_some()
            && path
                .strip_prefix("/events/")
                .is_some_and(|id| !id.contains('/') && state.event(id).is_none());
        state.record(
            RecordedRequest {
                method: request.method().clone(),
                path: path.clone(),
                query: query.clone(),
                headers,
            },
            !from_template,
        );
        let rate = state.count_second(second, into);
        (state.take_failure(&path), state.delay, rate)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some(failure) = failure {
        return fail(failure).await;
    }
    let mut response = match rate {
        Err(wait) => rate_limited(wait),
        Ok(_) => answer(&shared, &request, &path, query.as_deref()),
    };
    if let Ok(Some((limit, remaining))) = rate {
        let headers = response.headers_mut();
        headers.insert("x-ratelimit", limit.into());
        headers.insert("x-ratelimit-remaining", remaining.into());
    }
    Ok(response)
}

/// The answer over the rate limit: 429, `Retry-After` to the next second.
fn rate_limited(wait: Duration) -> Response<MockBody> {
    let mut response = error(
        StatusCode::TOO_MANY_REQUESTS,
        "request.rate-limit.exceeded",
        "The mock API's rate limit is exceeded.",
    );
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let headers = response.headers_mut();
    headers.insert(RETRY_AFTER, seconds.max(1).into());
    headers.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
    response
}

async fn fail(failure: Failure) -> Result<Response<MockBody>, ClosedOnPurpose> {
    let response = match failure {
        Failure::InternalError => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "mock.internal-error",
            "The mock API fails, as told.",
        ),
        Failure::Unavailable { retry_after } => {
            let mut response = error(
                StatusCode::SERVICE_UNAVAILABLE,
                "mock.unavailable",
                "The mock API is unavailable, as told.",
            );
            if let Some(seconds) = retry_after {
                response.headers_mut().insert(RETRY_AFTER, seconds.into());
            }
            response
        }
        Failure::RateLimited { retry_after, reset } => {
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                "request.rate-limit.exceeded",
                "The mock API rate-limits, as told.",
            );
            let headers = response.headers_mut();
            headers.insert("x-ratelimit", HeaderValue::from_static("100"));
            headers.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
            if let Some(seconds) = retry_after {
                headers.insert(RETRY_AFTER, seconds.into());
            }
            if let Some(seconds) = reset {
                headers.insert("x-ratelimit-reset", seconds.into());
            }
            response
        }
        Failure::Respond { status, body } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            json_response(status, body)
        }
        Failure::Hang => std::future::pending().await,
        Failure::Close => return Err(ClosedOnPurpose),
        Failure::Garbage => {
            let mut response = Response::new(
                Full::new(Bytes::from_static(
                    b"<html><body><h1>Welcome to the proxy</h1></body></html>",
                ))
                .boxed(),
            );
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("text/html"));
            response
        }
        Failure::HugeBody {
            bytes,
            content_length,
        } => {
            let mut response = Response::new(Zeros { remaining: bytes }.boxed());
            let headers = response.headers_mut();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            if content_length {
                headers.insert(CONTENT_LENGTH, bytes.into());
            }
            response
        }
    };
    Ok(response)
}

/// The normal answer: credentials, API version, then the route.
fn answer(
    shared: &Shared,
    request: &Request<Incoming>,
    path: &str,
    query: Option<&str>,
) -> Response<MockBody> {
    let authorized = request
        .headers()
        .get(AUTHORIZATION)
        .is_some_and(|value| value.as_bytes() == shared.expected_authorization.as_bytes());
    if !authorized {
        return json_response(StatusCode::UNAUTHORIZED, AUTHENTICATION_INVALID);
    }
    if let Some(expected) = &shared.api_version {
        let sent = request.headers().get("api-version");
        if sent.is_none_or(|sent| sent.as_bytes() != expected.as_bytes()) {
            return error(
                StatusCode::BAD_REQUEST,
                "mock.api-version.invalid",
                "The API-Version header is missing or is not the one the mock API expects.",
            );
        }
    }
    if request.method() != Method::GET {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            "mock.method.not-allowed",
            "The mock API only serves GET requests.",
        );
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let state = shared.lock();
    match segments.as_slice() {
        ["events"] => list_events(&state, query),
        ["events", id] => match (state.event(id), &shared.any_event) {
            (Some(event), _) => success(json!({"success": true, "event": event})),
            (None, Some((before, after))) => {
                let mut body = Vec::with_capacity(before.len() + id.len() + after.len());
                body.extend_from_slice(before);
                body.extend_from_slice(id.as_bytes());
                body.extend_from_slice(after);
                json_response(StatusCode::OK, body)
            }
            (None, None) => json_response(StatusCode::NOT_FOUND, EVENT_NOT_FOUND),
        },
        ["events", id, "webhooks"] => match state.event(id) {
            Some(_) => {
                let webhooks = state.webhooks.get(*id).cloned().unwrap_or_default();
                success(json!({"success": true, "webhooks": webhooks, "has_more": false}))
            }
            None => json_response(StatusCode::NOT_FOUND, EVENT_NOT_FOUND),
        },
        ["transactions", id] => match state.transactions.get(*id) {
            Some(transaction) => success(json!({"success": true, "transaction": transaction})),
            None => json_response(StatusCode::NOT_FOUND, TRANSACTION_NOT_FOUND),
        },
        _ => error(
            StatusCode::NOT_FOUND,
            "mock.route.not-found",
            "The mock API has no such route.",
        ),
    }
}

/// `GET /events`: one page of the events, by cursor.
fn list_events(state: &State, query: Option<&str>) -> Response<MockBody> {
    let mut limit = DEFAULT_LIMIT;
    let mut descending = true;
    let mut start_after = None;
    let mut end_before = None;
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match &*key {
            "limit" => match value.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => limit = n,
                _ => return invalid_parameter("limit must be a number from 1 to 100"),
            },
            "order" => match &*value {
                "asc" => descending = false,
                "desc" => descending = true,
                _ => return invalid_parameter("order must be asc or desc"),
            },
            "start_after" => start_after = Some(value.into_owned()),
            "end_before" => end_before = Some(value.into_owned()),
            // Accepted as the SDKs send them; the mock applies neither.
            "filter" | "expand" | "expand[]" => {}
            _ => {}
        }
    }
    if start_after.is_some() && end_before.is_some() {
        return invalid_parameter("only one of start_after and end_before may be given");
    }
    let mut ordered: Vec<&(String, Value)> = state.events.iter().collect();
    if descending {
        ordered.reverse();
    }
    let position = |id: &str| ordered.iter().position(|(known, _)| known == id);
    let from = match start_after.as_deref().map(position) {
        None => 0,
        Some(Some(i)) => i + 1,
        Some(None) => return json_response(StatusCode::NOT_FOUND, EVENT_NOT_FOUND),
    };
    let to = match end_before.as_deref().map(position) {
        None => ordered.len(),
        Some(Some(i)) => i,
        Some(None) => return json_response(StatusCode::NOT_FOUND, EVENT_NOT_FOUND),
    };
    let window = ordered.get(from..to).unwrap_or_default();
    let has_more = window.len() > limit;
    // Paging backwards (`end_before` alone) takes the events nearest the
    // cursor, as cursor APIs do.
    let page = if end_before.is_some() {
        &window[window.len().saturating_sub(limit)..]
    } else {
        &window[..window.len().min(limit)]
    };
    let events: Vec<&Value> = page.iter().map(|(_, value)| value).collect();
    success(json!({"success": true, "events": events, "has_more": has_more}))
}

fn invalid_parameter(message: &'static str) -> Response<MockBody> {
    error(StatusCode::BAD_REQUEST, "mock.parameter.invalid", message)
}

fn success(value: Value) -> Response<MockBody> {
    json_response(StatusCode::OK, value.to_string())
}

fn error(status: StatusCode, error_type: &str, message: &str) -> Response<MockBody> {
    let body = json!({"success": false, "error_type": error_type, "message": message});
    json_response(status, body.to_string())
}

fn json_response(status: StatusCode, body: impl Into<Bytes>) -> Response<MockBody> {
    let mut response = Response::new(Full::new(body.into()).boxed());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A body of zero bytes, produced chunk by chunk as it is sent.
struct Zeros {
    remaining: u64,
}

static ZERO_CHUNK: [u8; 64 * 1024] = [0; 64 * 1024];

impl Body for Zeros {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let len = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(ZERO_CHUNK.len());
        self.remaining -= len as u64;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(
            &ZERO_CHUNK[..len],
        )))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod template_tests {
    use super::*;

    #[tokio::test]
    async fn any_event_is_served_from_the_template_under_the_asked_id() {
        use crate::EventFetcher;
        let mut template = Event::new(
            EventId::parse("ev_template").unwrap(),
            crate::EventType::TransactionCaptured,
        );
        template.data.transaction = Some(Transaction::new(
            TransactionId::parse("tr_1").unwrap(),
            crate::TransactionStatus::Completed,
        ));
        let api = MockApi::builder().serve_any_event(template).start().await;
        let client = api.client_builder().build().unwrap();
        for n in 0..3 {
            let id = EventId::parse(&format!("ev_{n}")).unwrap();
            let event = client.fetch_event(&id).await.unwrap();
            assert_eq!(event.id, id);
            assert_eq!(event.transaction().unwrap().id.as_str(), "tr_1");
        }
        assert_eq!(api.total_requests(), 3);
        assert_eq!(
            api.requests("/events/ev_0"),
            0,
            "template events are not counted by path"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpStream;

    /// One raw HTTP/1.1 exchange: the status and the body, or `None` when
    /// the connection closed without an answer.
    async fn get(
        api: &MockApi,
        target: &str,
        authorization: Option<&str>,
    ) -> Option<(u16, String)> {
        let mut stream = TcpStream::connect(api.addr()).await.unwrap();
        let mut request = format!(
            "GET {target} HTTP/1.1\r\nHost: localhost\r\nAPI-Version: 1.4.0.0\r\nConnection: close\r\n"
        );
        if let Some(authorization) = authorization {
            request.push_str(&format!("Authorization: {authorization}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        let text = String::from_utf8_lossy(&raw);
        let (head, body) = text.split_once("\r\n\r\n")?;
        let status = head.split(' ').nth(1)?.parse().ok()?;
        Some((status, body.to_owned()))
    }

    fn auth() -> String {
        let token = BASE64.encode(format!("{}:{}", MockApi::PROJECT_ID, MockApi::PRIVATE_KEY));
        format!("Basic {token}")
    }

    fn json_of(body: &str) -> Value {
        serde_json::from_str(body).unwrap()
    }

    #[tokio::test]
    async fn serves_events_and_transactions_with_the_vendors_envelopes() {
        let api = MockApi::start().await;
        let event_id = api
            .add_event_json(include_str!(
                "../../tests/fixtures/event-transaction-failed.json"
            ))
            .unwrap();
        let transaction_id = api
            .add_transaction_json(include_str!(
                "../../tests/fixtures/transaction-authorized.json"
            ))
            .unwrap();

        let (status, body) = get(&api, &format!("/events/{event_id}"), Some(&auth()))
            .await
            .unwrap();
        assert_eq!(status, 200);
        let body = json_of(&body);
        assert_eq!(body["success"], true);
        assert_eq!(body["event"]["id"], event_id.as_str());
        assert_eq!(body["event"]["data"]["transaction"]["status"], "failed");

        let path = format!("/transactions/{transaction_id}");
        let (status, body) = get(&api, &path, Some(&auth())).await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(json_of(&body)["transaction"]["status"], "authorized");

        assert_eq!(api.requests(&format!("/events/{event_id}")), 1);
        assert_eq!(api.requests(&path), 1);
        assert_eq!(api.total_requests(), 2);
        let last = api.last_request().unwrap();
        assert_eq!(last.method, Method::GET);
        assert_eq!(last.path, path);
        assert_eq!(last.header("api-version"), Some("1.4.0.0"));
        assert!(!format!("{last:?}").contains(&auth()));
    }

    #[tokio::test]
    async fn refuses_wrong_credentials_and_unknown_ids_with_the_vendors_bodies() {
        let api = MockApi::start().await;
        let (status, body) = get(&api, "/events/ev_1", None).await.unwrap();
        assert_eq!(
            (status, json_of(&body)),
            (401, json_of(AUTHENTICATION_INVALID))
        );
        let (status, _) = get(&api, "/events/ev_1", Some("Basic d3Jvbmc6d3Jvbmc="))
            .await
            .unwrap();
        assert_eq!(status, 401);
        let (status, body) = get(&api, "/events/ev_1", Some(&auth())).await.unwrap();
        assert_eq!((status, json_of(&body)), (404, json_of(EVENT_NOT_FOUND)));
        let (status, body) = get(&api, "/transactions/tr_1", Some(&auth()))
            .await
            .unwrap();
        assert_eq!(
            (status, json_of(&body)),
            (404, json_of(TRANSACTION_NOT_FOUND))
        );
        assert_eq!(api.requests("/events/ev_1"), 3);
    }

    #[tokio::test]
    async fn checks_the_api_version() {
        let api = MockApi::builder().api_version("9.9.9.9").start().await;
        let (status, body) = get(&api, "/events/ev_1", Some(&auth())).await.unwrap();
        assert_eq!(status, 400);
        assert_eq!(json_of(&body)["error_type"], "mock.api-version.invalid");
        let api = MockApi::builder().any_api_version().start().await;
        let (status, _) = get(&api, "/events/ev_1", Some(&auth())).await.unwrap();
        assert_eq!(status, 404);
    }

    #[tokio::test]
    async fn fails_the_next_requests_then_recovers() {
        let api = MockApi::start().await;
        api.add_event(Event::new(
            EventId::parse("ev_1").unwrap(),
            crate::model::EventType::TransactionCaptured,
        ));
        api.fail_next(1, Failure::InternalError);
        api.fail_next(1, Failure::Close);
        assert_eq!(
            get(&api, "/events/ev_1", Some(&auth())).await.unwrap().0,
            500
        );
        assert_eq!(get(&api, "/events/ev_1", Some(&auth())).await, None);
        assert_eq!(
            get(&api, "/events/ev_1", Some(&auth())).await.unwrap().0,
            200
        );
        assert_eq!(api.requests("/events/ev_1"), 3);
    }

    #[tokio::test]
    async fn fails_by_id_until_cleared() {
        let api = MockApi::start().await;
        api.fail_id(
            "ev_2",
            Failure::RateLimited {
                retry_after: Some(3),
                reset: None,
            },
        );
        assert_eq!(
            get(&api, "/events/ev_1", Some(&auth())).await.unwrap().0,
            404
        );
        assert_eq!(
            get(&api, "/events/ev_2", Some(&auth())).await.unwrap().0,
            429
        );
        assert_eq!(
            get(&api, "/events/ev_2/webhooks", Some(&auth()))
                .await
                .unwrap()
                .0,
            429
        );
        api.clear_failures();
        assert_eq!(
            get(&api, "/events/ev_2", Some(&auth())).await.unwrap().0,
            404
        );
    }

    #[test]
    fn random_failures_follow_the_rate_and_weights_reproducibly() {
        let chaos = RandomFailures::new(0.3, 42)
            .with(Failure::InternalError, 3)
            .with(Failure::Close, 1)
            .with(Failure::Hang, 0);
        let draws: Vec<Option<Failure>> = (0..20_000)
            .map(|i| chaos.draw(&format!("/events/ev_{}", i % 1000), i / 1000 + 1))
            .collect();
        let count = |f: &Failure| draws.iter().filter(|d| d.as_ref() == Some(f)).count();
        let (internal, close) = (count(&Failure::InternalError), count(&Failure::Close));
        assert_eq!(count(&Failure::Hang), 0);
        assert_eq!(internal + close, draws.iter().flatten().count());
        // 6,000 expected: within 5 standard deviations (about 65 each).
        assert!(
            (5_675..=6_325).contains(&(internal + close)),
            "{internal} + {close}"
        );
        assert!((4_175..=4_825).contains(&internal), "{internal}");
        // The same seed draws the same; another seed draws otherwise.
        let again = RandomFailures::new(0.3, 42)
            .with(Failure::InternalError, 3)
            .with(Failure::Close, 1);
        assert!((0..1000).all(|n| again.draw("/events/ev_1", n) == chaos.draw("/events/ev_1", n)));
        let other = RandomFailures::new(0.3, 43);
        assert!(
            (0..1000).any(|n| other.draw("/events/ev_1", n).is_some()
                != chaos.draw("/events/ev_1", n).is_some())
        );
        // Rates out of range are brought into it.
        assert!(
            (0..100)
                .all(|n| RandomFailures::new(1.5, 1).draw("/x", n) == Some(Failure::InternalError))
        );
        assert!((0..100).all(|n| RandomFailures::new(f64::NAN, 1).draw("/x", n).is_none()));
        assert!((0..100).all(|n| RandomFailures::new(-1.0, 1).draw("/x", n).is_none()));
    }

    #[tokio::test]
    async fn fails_a_share_of_requests_counts_them_and_clears() {
        let api = MockApi::start().await;
        api.fail_randomly(RandomFailures::new(1.0, 1).with(Failure::InternalError, 1));
        api.fail_next(1, Failure::Close);
        assert_eq!(get(&api, "/events/ev_1", Some(&auth())).await, None);
        assert_eq!(
            get(&api, "/events/ev_1", Some(&auth())).await.unwrap().0,
            500
        );
        assert_eq!(api.failed_requests(), 2);
        api.clear_failures();
        assert_eq!(
            get(&api, "/events/ev_1", Some(&auth())).await.unwrap().0,
            404
        );
        assert_eq!(api.failed_requests(), 2);
        // The draws depend on each path's own count, not on the order
        // the paths are asked in.
        let chaos = RandomFailures::new(0.5, 9);
        let (a, b) = (MockApi::start().await, MockApi::start().await);
        a.fail_randomly(chaos.clone());
        b.fail_randomly(chaos);
        let mut seen_a = Vec::new();
        for path in ["/events/ev_x", "/events/ev_y"] {
            for _ in 0..8 {
                seen_a.push((path, get(&a, path, Some(&auth())).await.unwrap().0));
            }
        }
        let mut seen_b = Vec::new();
        for _ in 0..8 {
            for path in ["/events/ev_y", "/events/ev_x"] {
                seen_b.push((path, get(&b, path, Some(&auth())).await.unwrap().0));
            }
        }
        seen_b.sort_by_key(|(path, _)| *path);
        assert_eq!(seen_a, seen_b);
        assert!(seen_a.iter().any(|(_, status)| *status == 500));
        assert!(seen_a.iter().any(|(_, status)| *status == 404));
    }

    #[tokio::test]
    async fn lists_events_by_cursor_in_both_orders() {
        let api = MockApi::start().await;
        for n in 1..=5 {
            api.add_event(Event::new(
                EventId::parse(&format!("ev_{n}")).unwrap(),
                crate::model::EventType::TransactionCaptured,
            ));
        }
        let ids = |body: &str| -> (Vec<String>, bool) {
            let body = json_of(body);
            let ids = body["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_str().unwrap().to_owned())
                .collect();
            (ids, body["has_more"].as_bool().unwrap())
        };
        let page = |target: &'static str| {
            let api = &api;
            async move { ids(&get(api, target, Some(&auth())).await.unwrap().1) }
        };
        assert_eq!(
            page("/events?limit=2").await,
            (vec!["ev_5".into(), "ev_4".into()], true)
        );
        assert_eq!(
            page("/events?limit=2&start_after=ev_4").await,
            (vec!["ev_3".into(), "ev_2".into()], true)
        );
        assert_eq!(
            page("/events?limit=2&order=asc&start_after=ev_3").await,
            (vec!["ev_4".into(), "ev_5".into()], false)
        );
        assert_eq!(
            page("/events?limit=2&order=asc&end_before=ev_4").await,
            (vec!["ev_2".into(), "ev_3".into()], true)
        );
        assert_eq!(
            get(&api, "/events?limit=101", Some(&auth()))
                .await
                .unwrap()
                .0,
            400
        );
        assert_eq!(
            get(&api, "/events?start_after=ev_9", Some(&auth()))
                .await
                .unwrap()
                .0,
            404
        );
        assert_eq!(api.requests("/events"), 6);
        assert_eq!(
            api.last_request()
                .unwrap()
                .query_param("start_after")
                .as_deref(),
            Some("ev_9")
        );
    }

    #[tokio::test]
    async fn streams_a_huge_body_without_holding_it() {
        let api = MockApi::start().await;
        api.fail_next(
            1,
            Failure::HugeBody {
                bytes: 1 << 30,
                content_length: true,
            },
        );
        let mut stream = TcpStream::connect(api.addr()).await.unwrap();
        stream
            .write_all(b"GET /events/ev_1 HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        let mut head = vec![0; 4096];
        let n = stream.read(&mut head).await.unwrap();
        let head = String::from_utf8_lossy(&head[..n]);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(head.contains("content-length: 1073741824"), "{head}");
    }

    #[tokio::test]
    async fn stops_when_dropped() {
        let api = MockApi::start().await;
        let addr = api.addr();
        drop(api);
        for _ in 0..100 {
            if TcpStream::connect(addr).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the mock API still accepts connections after being dropped");
    }
}
