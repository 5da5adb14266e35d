//! [`MockApiBuilder`]: the settings of a [`MockApi`] before it starts.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;

use crate::delivery::basic_authorization;
use crate::model::{Event, EventId};

use super::routes::serve;
use super::state::{Shared, State};
use super::{ANY_EVENT_PLACEHOLDER, MockApi};

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
            expected_authorization: basic_authorization(&self.project_id, &self.private_key),
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
