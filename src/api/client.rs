//! [`ApiClient`]: the [`EventFetcher`] that talks to the Smart Router API.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue, RETRY_AFTER, USER_AGENT};
use http::{Method, Request, Response, StatusCode};
use serde::de::DeserializeOwned;
use url::{Host, Url};

use super::EventFetcher;
use super::envelope::Envelope;
use super::error::{FetchError, FetchErrorKind};
use super::listing::{EventPage, EventPager, ListEvents, Order, RateLimit, WebhookPage};
use super::transport::{RequestLimits, Transport, TransportError, TransportErrorKind};
use crate::error::{Error, ErrorKind};
use crate::model::{Event, EventId, Transaction, TransactionId};

/// The `User-Agent` of every request.
const USER_AGENT_VALUE: &str = concat!("smart-router-webhooks/", env!("CARGO_PKG_VERSION"));

/// The longest API `message` kept in a [`FetchError`], in bytes.
const MAX_API_MESSAGE: usize = 1024;

/// What the text of an API error becomes when it contains our credentials.
const ECHOED_CREDENTIALS: &str = "[hidden: the answer contained our credentials]";

/// Configures an [`ApiClient`]; made by [`ApiClient::builder`].
///
/// Setters never fail; [`build`](ApiClientBuilder::build) checks
/// everything at once.
#[must_use = "a builder does nothing until `build` is called"]
pub struct ApiClientBuilder {
    project_id: String,
    private_key: String,
    base_url: String,
    api_version: String,
    timeout: Duration,
    max_response_bytes: usize,
    transport: Option<Arc<dyn Transport>>,
}

impl fmt::Debug for ApiClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiClientBuilder")
            .field("project_id", &self.project_id)
            .field("private_key", &"[redacted]")
            .field("base_url", &self.base_url)
            .field("api_version", &self.api_version)
            .field("timeout", &self.timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .field(
                "transport",
                &self.transport.as_ref().map(|_| "dyn Transport"),
            )
            .finish()
    }
}

impl ApiClientBuilder {
    /// The API's base URL (default [`ApiClient::DEFAULT_BASE_URL`]): for a
    /// proxy in front of the API, or a mock in tests. A path prefix
    /// (`https://proxy.example/processout/`) is kept, with or without a
    /// trailing slash.
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    /// The `API-Version` header (default [`ApiClient::DEFAULT_API_VERSION`]).
    pub fn api_version(mut self, api_version: impl Into<String>) -> Self {
        self.api_version = api_version.into();
        self
    }

    /// The longest a request may take, from connecting to the end of the
    /// body (default [`ApiClient::DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest response body accepted, in bytes (default
    /// [`ApiClient::DEFAULT_MAX_RESPONSE_BYTES`]). A larger body is refused
    /// while it is read, never held whole in memory.
    pub fn max_response_bytes(mut self, max_response_bytes: usize) -> Self {
        self.max_response_bytes = max_response_bytes;
        self
    }

    /// Sends requests through `transport` instead of the default one
    /// (`ReqwestTransport`, feature `reqwest`).
    pub fn transport(mut self, transport: impl Transport) -> Self {
        self.transport = Some(Arc::new(transport));
        self
    }

    /// Checks the configuration and makes the client.
    ///
    /// # Errors
    ///
    /// - [`ErrorKind::InvalidCredentials`] when the project ID or the
    ///   private key is empty, has a control character or surrounding
    ///   whitespace, or the project ID has a `:`.
    /// - [`ErrorKind::InvalidConfig`] when the base URL is not an absolute
    ///   `https` URL (plain `http` is accepted for a loopback host only),
    ///   has a query, a fragment or credentials; when the API version is
    ///   empty, has surrounding whitespace or is not a valid header value; when the timeout or the size
    ///   limit is zero; when no transport was given and the `reqwest`
    ///   feature is off, or the default transport cannot be made.
    pub fn build(self) -> Result<ApiClient, Error> {
        check_credential("project ID", &self.project_id)?;
        if self.project_id.contains(':') {
            return Err(Error::new(
                ErrorKind::InvalidCredentials,
                "the project ID contains ':', which basic auth cannot carry",
            ));
        }
        check_credential("private key", &self.private_key)?;
        let base_url = parse_base_url(&self.base_url)?;
        let api_version = HeaderValue::from_str(&self.api_version)
            .ok()
            .filter(|_| !self.api_version.is_empty() && self.api_version.trim() == self.api_version)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidConfig,
                    "the API version is empty, has surrounding whitespace or is not a valid header value",
                )
            })?;
        if self.timeout.is_zero() {
            return Err(Error::new(ErrorKind::InvalidConfig, "the timeout is zero"));
        }
        if self.max_response_bytes == 0 {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                "the response size limit is zero",
            ));
        }
        let token = BASE64.encode(format!("{}:{}", self.project_id, self.private_key));
        let mut authorization = HeaderValue::try_from(format!("Basic {token}")).map_err(|e| {
            Error::new(
                ErrorKind::InvalidCredentials,
                "the credentials cannot be sent",
            )
            .with_source(e)
        })?;
        authorization.set_sensitive(true);
        let transport = match self.transport {
            Some(transport) => transport,
            None => default_transport()?,
        };
        Ok(ApiClient {
            inner: Arc::new(Inner {
                base_url,
                project_id: self.project_id,
                private_key: self.private_key,
                token,
                authorization,
                api_version,
                limits: RequestLimits::new(self.timeout, self.max_response_bytes),
                transport,
            }),
        })
    }
}

#[cfg(feature = "reqwest")]
fn default_transport() -> Result<Arc<dyn Transport>, Error> {
    Ok(Arc::new(super::ReqwestTransport::new()?))
}

#[cfg(not(feature = "reqwest"))]
fn default_transport() -> Result<Arc<dyn Transport>, Error> {
    Err(Error::new(
        ErrorKind::InvalidConfig,
        "no transport: enable the `reqwest` feature (a default feature), or give one with `ApiClientBuilder::transport`",
    ))
}

/// Refuses a credential basic auth cannot carry faithfully. The error
/// never contains the credential.
fn check_credential(what: &'static str, value: &str) -> Result<(), Error> {
    let problem = if value.is_empty() {
        "is empty"
    } else if value.chars().any(char::is_control) {
        "contains a control character"
    } else if value.trim() != value {
        "starts or ends with whitespace"
    } else {
        return Ok(());
    };
    Err(Error::new(
        ErrorKind::InvalidCredentials,
        format!("the {what} {problem}"),
    ))
}

/// Checks the base URL. Errors never contain it: it could carry
/// credentials.
fn parse_base_url(text: &str) -> Result<Url, Error> {
    let invalid = |message: &'static str| Error::new(ErrorKind::InvalidConfig, message);
    let url = Url::parse(text.trim())
        .map_err(|e| invalid("the base URL is not a valid absolute URL").with_source(e))?;
    let loopback = match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        None => return Err(invalid("the base URL has no host")),
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(invalid(
                "the base URL must use https (plain http is only accepted for a loopback host)",
            ));
        }
        _ => return Err(invalid("the base URL must be an https URL")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "the base URL must not carry credentials: give them to ApiClient::builder",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("the base URL must not have a query or a fragment"));
    }
    http::Uri::try_from(url.as_str())
        .map_err(|e| invalid("the base URL is not a valid request URI").with_source(e))?;
    Ok(url)
}

/// A client of the Smart Router API: fetches events and transactions
/// ([`EventFetcher`]), lists events and their delivery records.
///
/// Cheap to clone: clones share the configuration and the transport (and
/// so its connection pool).
///
/// ```
/// use std::time::Duration;
/// use smart_router_webhooks::ApiClient;
/// # use smart_router_webhooks::api::transport_fn;
/// # let transport = transport_fn(|_, _| async { Ok(http::Response::new(bytes::Bytes::new())) });
///
/// let client = ApiClient::builder("proj_1234", "key_live_5678")
///     .timeout(Duration::from_secs(5))
/// #   .transport(transport)
///     .build()?;
/// assert!(!format!("{client:?}").contains("key_live_5678"));
/// # Ok::<(), smart_router_webhooks::Error>(())
/// ```
#[derive(Clone)]
pub struct ApiClient {
    inner: Arc<Inner>,
}

struct Inner {
    base_url: Url,
    project_id: String,
    /// Kept only to hide it should the API ever echo it in an error.
    private_key: String,
    /// The base64 of `project_id:private_key`, for the same reason.
    token: String,
    authorization: HeaderValue,
    api_version: HeaderValue,
    limits: RequestLimits,
    transport: Arc<dyn Transport>,
}

impl fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("ApiClient")
            .field("base_url", &inner.base_url.as_str())
            .field("project_id", &inner.project_id)
            .field("private_key", &"[redacted]")
            .field("api_version", &inner.api_version)
            .field("timeout", &inner.limits.timeout)
            .field("max_response_bytes", &inner.limits.max_body_bytes)
            .finish_non_exhaustive()
    }
}

impl ApiClient {
    /// The API's base URL.
    pub const DEFAULT_BASE_URL: &'static str = "https://api.processout.com";
    /// The API version sent by default, the one the official SDKs send.
    pub const DEFAULT_API_VERSION: &'static str = "1.4.0.0";
    /// The default limit on the duration of one request.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
    /// The default limit on the size of a response body: 4 MiB.
    pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

    /// A builder for a client that authenticates with `project_id`
    /// (`proj_…`, or `test-proj_…` for a sandbox project) and its private
    /// key.
    pub fn builder(
        project_id: impl Into<String>,
        private_key: impl Into<String>,
    ) -> ApiClientBuilder {
        ApiClientBuilder {
            project_id: project_id.into(),
            private_key: private_key.into(),
            base_url: ApiClient::DEFAULT_BASE_URL.to_owned(),
            api_version: ApiClient::DEFAULT_API_VERSION.to_owned(),
            timeout: ApiClient::DEFAULT_TIMEOUT,
            max_response_bytes: ApiClient::DEFAULT_MAX_RESPONSE_BYTES,
            transport: None,
        }
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &str {
        self.inner.base_url.as_str()
    }

    /// The project ID the client authenticates with.
    pub fn project_id(&self) -> &str {
        &self.inner.project_id
    }

    /// One page of events (`GET /events`).
    ///
    /// # Errors
    ///
    /// As for [`EventFetcher::fetch_event`]. An item of the page that is
    /// not an event (no readable `id` or `name`) does not fail the page: it
    /// is skipped, with a warning in [`EventPage::warnings`].
    pub async fn list_events(&self, query: &ListEvents) -> Result<EventPage, FetchError> {
        let response = self.send(&["events"], &query.query_pairs()).await?;
        let rate_limit = RateLimit::from_headers(response.headers());
        let (items, has_more) =
            self.read::<Vec<Box<serde_json::value::RawValue>>>(response, "events")?;
        Ok(EventPage::read(
            items,
            has_more.unwrap_or(false),
            rate_limit,
        ))
    }

    /// A pager over `GET /events` with `query`, in `query`'s order; its
    /// `start_after`, if any, is the starting cursor.
    pub fn event_pager(&self, query: ListEvents) -> EventPager {
        EventPager::new(self.clone(), query)
    }

    /// A pager over every event after `cursor` (or over all events when
    /// `None`), the oldest first, 100 a page: the walk of a reconciliation
    /// job that saves [`EventPager::cursor`] between runs.
    pub fn events_since(&self, cursor: Option<EventId>) -> EventPager {
        let mut query = ListEvents::new()
            .order(Order::Asc)
            .limit(super::MAX_PAGE_SIZE);
        if let Some(cursor) = cursor {
            query = query.start_after(cursor);
        }
        self.event_pager(query)
    }

    /// The delivery attempts of event `id` to its webhook URLs
    /// (`GET /events/{id}/webhooks`).
    ///
    /// # Errors
    ///
    /// As for [`EventFetcher::fetch_event`].
    pub async fn event_webhooks(&self, id: &EventId) -> Result<WebhookPage, FetchError> {
        let (webhooks, has_more) = self
            .get(&["events", id.as_str(), "webhooks"], &[], "webhooks")
            .await?;
        Ok(WebhookPage {
            webhooks,
            has_more: has_more.unwrap_or(false),
        })
    }

    /// `GET` the path made of `segments` (each one a validated ID or a
    /// literal) and read the object under `key`, with `has_more`.
    async fn get<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
        key: &'static str,
    ) -> Result<(T, Option<bool>), FetchError> {
        let response = self.send(segments, query).await?;
        self.read(response, key)
    }

    /// `GET` the path made of `segments` with `query`: the raw answer.
    async fn send(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<Response<Bytes>, FetchError> {
        let request = self.request(segments, query)?;
        self.inner
            .transport
            .send(request, self.inner.limits)
            .await
            .map_err(from_transport)
    }

    fn request(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<Request<Bytes>, FetchError> {
        let inner = &self.inner;
        let mut url = inner.base_url.clone();
        // Cannot fail: the base URL was checked to be a base at build.
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Request::builder()
            .method(Method::GET)
            .uri(url.as_str())
            .header(AUTHORIZATION, inner.authorization.clone())
            .header("API-Version", inner.api_version.clone())
            .header(ACCEPT, HeaderValue::from_static("application/json"))
            .header(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE))
            .body(Bytes::new())
            // Unreachable after the checks of `build`; were it reached,
            // the API was not reached either.
            .map_err(FetchError::unavailable)
    }

    fn read<T: DeserializeOwned>(
        &self,
        response: Response<Bytes>,
        key: &'static str,
    ) -> Result<(T, Option<bool>), FetchError> {
        let status = response.status();
        let invalid = || FetchError::new(FetchErrorKind::InvalidResponse).with_status(status);
        let body = response.body();
        if body.len() > self.inner.limits.max_body_bytes {
            // A transport that ignored the limit.
            return Err(invalid().with_source(TransportError::body_too_large()));
        }
        if status.is_success() {
            let envelope = Envelope::<T>::parse(body, key).map_err(|e| invalid().with_source(e))?;
            if envelope.success == Some(false) {
                return Err(self.with_api_error(invalid(), envelope));
            }
            return match envelope.data {
                Some(data) => Ok((data, envelope.has_more)),
                None => Err(invalid().with_source(format!("the answer has no `{key}`"))),
            };
        }
        let envelope = Envelope::parse_error(body).ok();
        let from_api = envelope.as_ref().is_some_and(|e| e.error_type.is_some());
        let kind = match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => FetchErrorKind::Unauthorized,
            // A 404 without the API's error body comes from something else
            // (a wrong base URL path): not a missing object.
            StatusCode::NOT_FOUND if from_api => FetchErrorKind::NotFound,
            StatusCode::TOO_MANY_REQUESTS => FetchErrorKind::RateLimited,
            // The API gave up waiting for our request: worth asking again.
            StatusCode::REQUEST_TIMEOUT => FetchErrorKind::Unavailable,
            s if s.is_server_error() => FetchErrorKind::Unavailable,
            // Any other 4xx refuses the request itself, as the vendor's
            // SDKs read it (processout-go, errors/errors.go: every 4xx but
            // 401 and 404 is a `ValidationError`): asking again changes
            // nothing until the configuration does.
            s if s.is_client_error() && s != StatusCode::NOT_FOUND => FetchErrorKind::BadRequest,
            _ => FetchErrorKind::InvalidResponse,
        };
        let mut err = FetchError::new(kind).with_status(status);
        if let Some(envelope) = envelope {
            err = self.with_api_error(err, envelope);
        }
        if kind.is_transient() {
            if let Some(wait) = retry_after(response.headers(), SystemTime::now()) {
                err = err.with_retry_after(wait);
            }
        }
        Err(err)
    }

    /// Adds what the API said, unless it echoes our credentials.
    fn with_api_error<T>(&self, err: FetchError, envelope: Envelope<T>) -> FetchError {
        let clean = |text: Option<String>| {
            text.map(|text| {
                if text.contains(&self.inner.private_key) || text.contains(&self.inner.token) {
                    ECHOED_CREDENTIALS.to_owned()
                } else {
                    truncate(text, MAX_API_MESSAGE)
                }
            })
        };
        err.with_api_error(clean(envelope.error_type), clean(envelope.message))
    }
}

fn from_transport(err: TransportError) -> FetchError {
    let kind = match err.kind() {
        TransportErrorKind::BodyTooLarge => FetchErrorKind::InvalidResponse,
        _ => FetchErrorKind::Unavailable,
    };
    FetchError::new(kind).with_source(err)
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// The longest wait read from the API's headers: a larger value (any
/// proxy can send one) is lowered to it.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// How long the API asked us to wait: `Retry-After` in seconds or as an
/// HTTP date, else `x-ratelimit-reset` (seconds to wait or, when it is
/// large enough to be one, a Unix time). At most [`MAX_RETRY_AFTER`]; no
/// value, however large, makes this panic.
fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    // A time past what `SystemTime` holds is as good as never: the longest
    // wait.
    let until = |at: Option<SystemTime>| {
        at.map_or(MAX_RETRY_AFTER, |at| {
            at.duration_since(now).unwrap_or(Duration::ZERO)
        })
    };
    let asked = text(RETRY_AFTER.as_str()).and_then(|value| match value.parse::<u64>() {
        Ok(seconds) => Some(Duration::from_secs(seconds)),
        Err(_) => httpdate::parse_http_date(value)
            .ok()
            .map(|at| until(Some(at))),
    });
    let wait = match asked {
        Some(wait) => wait,
        None => {
            let reset = text("x-ratelimit-reset")?.parse::<u64>().ok()?;
            // Nobody asks to wait 30 years: a value this large is a Unix time.
            const UNIX_TIME_FROM: u64 = 1_000_000_000;
            if reset >= UNIX_TIME_FROM {
                until(SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(reset)))
            } else {
                Duration::from_secs(reset)
            }
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

#[async_trait]
impl EventFetcher for ApiClient {
    async fn fetch_event(&self, id: &EventId) -> Result<Event, FetchError> {
        let (event, _) = self.get(&["events", id.as_str()], &[], "event").await?;
        Ok(event)
    }

    async fn fetch_transaction(&self, id: &TransactionId) -> Result<Transaction, FetchError> {
        let (transaction, _) = self
            .get(&["transactions", id.as_str()], &[], "transaction")
            .await?;
        Ok(transaction)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::transport_fn;
    use serde::de::IgnoredAny;
    use std::sync::Mutex;

    const KEY: &str = "key_live_s3cr3t";

    type Seen = Arc<Mutex<Vec<(Request<Bytes>, RequestLimits)>>>;

    /// A client whose transport records each request and answers `status`
    /// with `body` and `headers`.
    fn client_answering(
        base_url: &str,
        status: u16,
        headers: &[(&'static str, &'static str)],
        body: &'static str,
    ) -> (ApiClient, Seen) {
        let seen = Seen::default();
        let recorded = Arc::clone(&seen);
        let headers = headers.to_vec();
        let transport = transport_fn(move |request, limits| {
            recorded.lock().unwrap().push((request, limits));
            let mut response = Response::new(Bytes::from_static(body.as_bytes()));
            *response.status_mut() = StatusCode::from_u16(status).unwrap();
            for (name, value) in &headers {
                response
                    .headers_mut()
                    .insert(*name, HeaderValue::from_static(value));
            }
            async move { Ok(response) }
        });
        let client = ApiClient::builder("proj_1", KEY)
            .base_url(base_url)
            .transport(transport)
            .build()
            .unwrap();
        (client, seen)
    }

    fn ev(id: &str) -> EventId {
        EventId::parse(id).unwrap()
    }

    const EVENT: &str = r#"{"success":true,"event":{"id":"ev_1","name":"transaction.captured"}}"#;

    #[tokio::test]
    async fn sends_the_exact_request_under_any_base_path() {
        let cases = [
            (
                "https://api.processout.com",
                "https://api.processout.com/events/ev_1",
            ),
            (
                "https://api.processout.com/",
                "https://api.processout.com/events/ev_1",
            ),
            (
                "https://proxy.example/processout",
                "https://proxy.example/processout/events/ev_1",
            ),
            (
                "https://proxy.example/processout/",
                "https://proxy.example/processout/events/ev_1",
            ),
            (
                "http://127.0.0.1:8080/",
                "http://127.0.0.1:8080/events/ev_1",
            ),
        ];
        for (base, expected) in cases {
            let (client, seen) = client_answering(base, 200, &[], EVENT);
            let event = client.fetch_event(&ev("ev_1")).await.unwrap();
            assert_eq!(event.id.as_str(), "ev_1");
            let seen = seen.lock().unwrap();
            let (request, limits) = &seen[0];
            assert_eq!(request.method(), Method::GET);
            assert_eq!(request.uri().to_string(), expected);
            let header = |name| request.headers().get(name).unwrap().to_str().unwrap();
            assert_eq!(
                header("authorization"),
                format!("Basic {}", BASE64.encode(format!("proj_1:{KEY}")))
            );
            assert!(request.headers()["authorization"].is_sensitive());
            assert_eq!(header("api-version"), "1.4.0.0");
            assert_eq!(header("accept"), "application/json");
            assert_eq!(
                header("user-agent"),
                format!("smart-router-webhooks/{}", env!("CARGO_PKG_VERSION"))
            );
            assert_eq!(
                *limits,
                RequestLimits::new(Duration::from_secs(10), 4 * 1024 * 1024)
            );
        }
    }

    #[tokio::test]
    async fn builds_listing_and_webhook_urls() {
        let body = r#"{"success":true,"events":[],"has_more":false,"webhooks":[]}"#;
        let (client, seen) = client_answering("https://api.processout.com/", 200, &[], body);
        let query = ListEvents::new()
            .limit(20)
            .start_after(ev("ev_1"))
            .order(Order::Asc);
        let page = client.list_events(&query).await.unwrap();
        assert!(page.events.is_empty() && !page.has_more);
        client.event_webhooks(&ev("ev_2")).await.unwrap();
        let seen = seen.lock().unwrap();
        assert_eq!(
            seen[0].0.uri().to_string(),
            "https://api.processout.com/events?limit=20&start_after=ev_1&order=asc"
        );
        assert_eq!(
            seen[1].0.uri().to_string(),
            "https://api.processout.com/events/ev_2/webhooks"
        );
    }

    async fn fetch_error(
        status: u16,
        headers: &[(&'static str, &'static str)],
        body: &'static str,
    ) -> FetchError {
        let (client, _) = client_answering("https://api.processout.com", status, headers, body);
        client.fetch_event(&ev("ev_1")).await.unwrap_err()
    }

    const API_ERROR: &str =
        r#"{"success":false,"error_type":"some.error","message":"Some message."}"#;

    #[tokio::test]
    async fn maps_statuses_to_kinds() {
        let cases = [
            (401, FetchErrorKind::Unauthorized),
            (403, FetchErrorKind::Unauthorized),
            (404, FetchErrorKind::NotFound),
            (429, FetchErrorKind::RateLimited),
            (500, FetchErrorKind::Unavailable),
            (502, FetchErrorKind::Unavailable),
            (503, FetchErrorKind::Unavailable),
            // The vendor's SDKs read every 4xx but 401 and 404 as a
            // validation error (processout-go, errors/errors.go
            // `NewFromResponse`): a bad request, never an outage.
            (400, FetchErrorKind::BadRequest),
            (405, FetchErrorKind::BadRequest),
            (409, FetchErrorKind::BadRequest),
            (410, FetchErrorKind::BadRequest),
            (415, FetchErrorKind::BadRequest),
            (422, FetchErrorKind::BadRequest),
            (408, FetchErrorKind::Unavailable),
            (302, FetchErrorKind::InvalidResponse),
            (200, FetchErrorKind::InvalidResponse), // success: false on a 2xx
        ];
        for (status, kind) in cases {
            let err = fetch_error(status, &[], API_ERROR).await;
            assert_eq!(err.kind(), kind, "{status}");
            assert_eq!(err.status().map(|s| s.as_u16()), Some(status));
            assert_eq!(err.error_type(), Some("some.error"), "{status}");
            assert_eq!(err.api_message(), Some("Some message."), "{status}");
        }
    }

    #[tokio::test]
    async fn refuses_bodies_that_are_not_the_expected_answer() {
        for body in [
            "<html>proxy</html>",
            "",
            r#"{"success":true}"#,
            r#"{"success":true,"event":{"id":"ev/1","name":"x"}}"#,
            "[1]",
        ] {
            let err = fetch_error(200, &[], body).await;
            assert_eq!(err.kind(), FetchErrorKind::InvalidResponse, "{body}");
        }
        // A 404 that is not the API's error body is a wrong URL, not a
        // missing event.
        let err = fetch_error(404, &[], "<html>Not Found</html>").await;
        assert_eq!(err.kind(), FetchErrorKind::InvalidResponse);
        // A 5xx page from a proxy is still an outage.
        let err = fetch_error(502, &[], "<html>Bad Gateway</html>").await;
        assert_eq!(err.kind(), FetchErrorKind::Unavailable);
        assert_eq!(err.error_type(), None);
    }

    #[tokio::test]
    async fn reads_how_long_to_wait() {
        let err = fetch_error(429, &[("retry-after", "7")], API_ERROR).await;
        assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
        let err = fetch_error(429, &[("x-ratelimit-reset", "30")], API_ERROR).await;
        assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
        let err = fetch_error(503, &[("retry-after", "120")], API_ERROR).await;
        assert_eq!(err.retry_after(), Some(Duration::from_secs(120)));
        let err = fetch_error(429, &[], API_ERROR).await;
        assert_eq!(err.retry_after(), None);
        let err = fetch_error(404, &[("retry-after", "5")], API_ERROR).await;
        assert_eq!(err.retry_after(), None);
    }

    #[test]
    fn retry_after_reads_dates_and_unix_times() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        let headers = |name: &'static str, value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(name, HeaderValue::from_static(value));
            headers
        };
        let wait = |name, value| retry_after(&headers(name, value), now);
        assert_eq!(
            wait("retry-after", "Sun, 06 Nov 1994 08:50:07 GMT"),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            wait("retry-after", "Sun, 06 Nov 1994 08:49:00 GMT"),
            Some(Duration::ZERO)
        );
        // The obsolete forms HTTP readers must accept (RFC 9110 §5.6.7).
        assert_eq!(
            wait("retry-after", "Sunday, 06-Nov-94 08:50:37 GMT"),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            wait("retry-after", "Sun Nov  6 08:49:47 1994"),
            Some(Duration::from_secs(10))
        );
        assert_eq!(wait("retry-after", "soon"), None);
        assert_eq!(wait("x-ratelimit-reset", "-1"), None);
        assert_eq!(
            wait("x-ratelimit-reset", "15"),
            Some(Duration::from_secs(15))
        );
        // Values no API means, which any proxy can send: never a panic,
        // at most a day.
        let day = Some(Duration::from_secs(86_400));
        for (name, value) in [
            ("x-ratelimit-reset", "18446744073709551615"),
            ("x-ratelimit-reset", "18446744073709551616"),
            ("x-ratelimit-reset", "9223372036854775807"),
            ("retry-after", "18446744073709551615"),
            ("retry-after", "Fri, 31 Dec 9999 23:59:59 GMT"),
        ] {
            let waited = wait(name, value);
            assert!(waited.is_none() || waited <= day, "{name}: {value}");
        }
        assert_eq!(wait("x-ratelimit-reset", "18446744073709551615"), day);
        assert_eq!(wait("retry-after", "18446744073709551615"), day);
        assert_eq!(wait("x-ratelimit-reset", "18446744073709551616"), None);
        let later = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let reset = headers("x-ratelimit-reset", "1700000010");
        assert_eq!(retry_after(&reset, later), Some(Duration::from_secs(10)));
    }

    #[tokio::test]
    async fn transport_failures_map_to_kinds() {
        let cases = [
            (TransportErrorKind::Timeout, FetchErrorKind::Unavailable),
            (TransportErrorKind::Connect, FetchErrorKind::Unavailable),
            (TransportErrorKind::Connection, FetchErrorKind::Unavailable),
            (TransportErrorKind::Other, FetchErrorKind::Unavailable),
            (
                TransportErrorKind::BodyTooLarge,
                FetchErrorKind::InvalidResponse,
            ),
        ];
        for (transport_kind, kind) in cases {
            let client = ApiClient::builder("proj_1", KEY)
                .transport(transport_fn(move |_, _| async move {
                    Err(TransportError::new(transport_kind))
                }))
                .build()
                .unwrap();
            let err = client
                .fetch_transaction(&TransactionId::parse("tr_1").unwrap())
                .await
                .unwrap_err();
            assert_eq!(err.kind(), kind);
            let source = std::error::Error::source(&err).unwrap();
            assert_eq!(source.to_string(), transport_kind.to_string());
        }
    }

    #[tokio::test]
    async fn refuses_a_body_over_the_limit_even_from_a_careless_transport() {
        let client = ApiClient::builder("proj_1", KEY)
            .max_response_bytes(10)
            .transport(transport_fn(|_, _| async {
                Ok(Response::new(Bytes::from(EVENT)))
            }))
            .build()
            .unwrap();
        let err = client.fetch_event(&ev("ev_1")).await.unwrap_err();
        assert_eq!(err.kind(), FetchErrorKind::InvalidResponse);
    }

    #[tokio::test]
    async fn never_repeats_credentials_the_api_echoes() {
        let (client, _) = client_answering("https://api.processout.com", 400, &[], "");
        let envelope = Envelope::<IgnoredAny> {
            success: Some(false),
            error_type: Some("echo".into()),
            message: Some(format!("you sent {KEY}")),
            has_more: None,
            data: None,
        };
        let err = client.with_api_error(FetchError::new(FetchErrorKind::InvalidResponse), envelope);
        assert_eq!(err.api_message(), Some(ECHOED_CREDENTIALS));
        assert_eq!(err.error_type(), Some("echo"));
        assert_eq!(truncate("é".repeat(600), 1023).len(), 1022 + '…'.len_utf8());
    }

    #[test]
    fn build_refuses_unusable_configurations() {
        let transport = || transport_fn(|_, _| async { Err(TransportError::timeout()) });
        let build = |project: &str, key: &str, base: &str| {
            ApiClient::builder(project, key)
                .base_url(base)
                .transport(transport())
                .build()
        };
        let ok = "https://api.processout.com";
        let credentials = [
            ("", KEY),
            ("proj:1", KEY),
            ("proj_1", ""),
            ("proj_1", "key\n"),
            (" proj_1", KEY),
            ("proj_1", "key "),
        ];
        for (project, key) in credentials {
            let err = build(project, key, ok).unwrap_err();
            assert_eq!(
                err.kind(),
                ErrorKind::InvalidCredentials,
                "{project:?} {key:?}"
            );
            assert!(!err.to_string().contains(KEY), "{err}");
        }
        let urls = [
            "api.processout.com",
            "ftp://api.processout.com",
            "http://api.processout.com",
            "https://user:pass@api.processout.com",
            "https://api.processout.com/?a=1",
            "https://api.processout.com/#x",
            "unix:/run/api.sock",
            "",
        ];
        for url in urls {
            let err = build("proj_1", KEY, url).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{url}");
            assert!(!err.to_string().contains("pass"), "{err}");
        }
        for url in [
            "http://localhost:1234",
            "http://[::1]:80/x",
            "https://api.processout.com/v1/",
        ] {
            build("proj_1", KEY, url).unwrap();
        }
        let builder = || ApiClient::builder("proj_1", KEY).transport(transport());
        for builder in [
            builder().api_version(""),
            builder().api_version("1.4\n"),
            builder().timeout(Duration::ZERO),
            builder().max_response_bytes(0),
        ] {
            assert_eq!(
                builder.build().unwrap_err().kind(),
                ErrorKind::InvalidConfig
            );
        }
    }

    #[cfg(not(feature = "reqwest"))]
    #[test]
    fn build_without_a_transport_says_what_to_do() {
        let err = ApiClient::builder("proj_1", KEY).build().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);
        assert!(err.to_string().contains("`reqwest` feature"), "{err}");
    }

    #[test]
    fn debug_hides_the_key() {
        let builder = ApiClient::builder("proj_1", KEY).transport(transport_fn(|_, _| async {
            Err(TransportError::timeout())
        }));
        assert!(!format!("{builder:?}").contains(KEY));
        let client = builder.build().unwrap();
        let debug = format!("{client:?}");
        assert!(!debug.contains(KEY), "{debug}");
        assert!(
            !debug.contains(&BASE64.encode(format!("proj_1:{KEY}"))),
            "{debug}"
        );
        assert!(debug.contains("proj_1"), "{debug}");
    }
}
