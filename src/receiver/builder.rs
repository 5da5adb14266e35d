//! [`ReceiverBuilder`]: configuring a [`Receiver`] once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::adapter_kit::BodyRead;
use super::report::Observer;
use super::runtime::Runtime;
use super::tracker::TransactionTracker;
use super::{Inner, Receiver};
use crate::api::EventFetcher;
use crate::delivery::BasicAuth;
use crate::dispatch::{At, Handler, Router, RouterBuilder, TransitionFilter};
use crate::error::{Error, ErrorKind};
use crate::model::EventType;
use crate::queue::Inbox;
use crate::store::{ClaimStore, MemoryStore, TransactionStore};

/// The default largest body accepted: 64 KiB (a payload is under 200
/// bytes).
pub(crate) const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// The default read timeout: 10 s. How long a delivery's whole body may
/// take to arrive once its head is in (a payload is under 200 bytes); a
/// slower client is answered 408 and its connection freed, so that slow
/// senders cannot hold connections open.
pub(crate) const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The default lease of a claim: how long a delivery holds an event before
/// another one may take it over.
pub(crate) const DEFAULT_LEASE: Duration = Duration::from_secs(120);

/// The default `Retry-After` of 409 and 503 answers, when the API gave
/// none.
pub(crate) const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(30);

/// The default answer deadline: 3 s. A delivery whose processing is not
/// finished by then is answered 409 with `Retry-After` while processing
/// goes on. Smart Router does not document its timeout and asks for an
/// answer "within a few seconds"; senders and proxies commonly give up
/// after 5 to 30 s. 3 s is under all of those, and far above a healthy
/// fetch and quick handlers (tens of milliseconds), so only slow handlers
/// meet it.
pub(crate) const DEFAULT_ANSWER_DEADLINE: Duration = Duration::from_secs(3);

/// The default handler timeout: 60 s. A handler still running then is
/// stopped and counts as a retryable failure, so a hung handler cannot
/// hold its event (whose lease is renewed while it runs) for ever.
pub(crate) const DEFAULT_HANDLER_TIMEOUT: Duration = Duration::from_secs(60);

/// What to answer when the API does not know the event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotFoundPolicy {
    /// Answer 404, so the sender keeps retrying while the configuration
    /// (often sandbox credentials for a live project, or the reverse) is
    /// fixed. The default.
    #[default]
    Retry,
    /// Answer 200 and report it: the event is given up.
    Acknowledge,
}

enum AuthConfig {
    Undecided,
    Basic(BasicAuth),
    Unauthenticated,
}

/// Configures a [`Receiver`]: credentials, fetcher, handlers, stores,
/// limits. Setters never fail; [`build`](ReceiverBuilder::build) reports
/// what is wrong.
///
/// ```no_run
/// # #[cfg(feature = "reqwest")]
/// # fn main() -> Result<(), smart_router_webhooks::Error> {
/// use std::time::Duration;
/// use smart_router_webhooks::{
///     ApiClient, Credentials, DeliveryReport, EventContext, EventType, HandlerError,
///     NotFoundPolicy, Receiver,
/// };
///
/// let receiver = Receiver::builder()
///     .credentials(Credentials::new("hooks", "s3cret")?)
///     .fetcher(ApiClient::builder("proj_…", "key_…").build()?)
///     .not_found(NotFoundPolicy::Retry)
///     .lease(Duration::from_secs(60))
///     .handler_timeout(Duration::from_secs(20))
///     .observer(|report: &DeliveryReport| eprintln!("{} {:?}", report.status, report.outcome))
///     .on(EventType::TransactionRefunded, "refund", |ctx: EventContext| async move {
///         println!("refunded: {}", ctx.event().id);
///         Ok::<_, HandlerError>(())
///     })
///     .build()?;
/// # let _ = receiver;
/// # Ok(()) }
/// # #[cfg(not(feature = "reqwest"))] fn main() {}
/// ```
pub struct ReceiverBuilder {
    auth: AuthConfig,
    fetcher: Option<Arc<dyn EventFetcher>>,
    router: RouterBuilder,
    claims: Option<Arc<dyn ClaimStore>>,
    transactions: Option<Arc<dyn TransactionStore>>,
    observer: Option<Arc<dyn Observer>>,
    body: BodyRead,
    not_found: NotFoundPolicy,
    lease: Duration,
    retry_after: Duration,
    realm: String,
    runtime: RuntimeConfig,
    answer_deadline: Duration,
    handler_timeout: Duration,
    handler_timeouts: HashMap<String, Duration>,
    inbox: Option<Arc<dyn Inbox>>,
}

enum RuntimeConfig {
    Default,
    Given(Arc<dyn Runtime>),
    None,
}

impl Default for ReceiverBuilder {
    fn default() -> Self {
        ReceiverBuilder {
            auth: AuthConfig::Undecided,
            fetcher: None,
            router: Router::builder(),
            claims: None,
            transactions: None,
            observer: None,
            body: BodyRead {
                limit: DEFAULT_BODY_LIMIT,
                timeout: DEFAULT_READ_TIMEOUT,
            },
            not_found: NotFoundPolicy::default(),
            lease: DEFAULT_LEASE,
            retry_after: DEFAULT_RETRY_AFTER,
            realm: "smart-router-webhooks".to_owned(),
            runtime: RuntimeConfig::Default,
            answer_deadline: DEFAULT_ANSWER_DEADLINE,
            handler_timeout: DEFAULT_HANDLER_TIMEOUT,
            handler_timeouts: HashMap::new(),
            inbox: None,
        }
    }
}

impl std::fmt::Debug for ReceiverBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiverBuilder")
            .field("router", &self.router)
            .field("body", &self.body)
            .field("not_found", &self.not_found)
            .field("lease", &self.lease)
            .field("answer_deadline", &self.answer_deadline)
            .field("handler_timeout", &self.handler_timeout)
            .field("handler_timeouts", &self.handler_timeouts)
            .field("inbox", &self.inbox.is_some())
            .finish_non_exhaustive()
    }
}

impl ReceiverBuilder {
    /// Accepts deliveries carrying these credentials (a [`BasicAuth`], or
    /// one [`Credentials`](crate::Credentials)).
    pub fn credentials(mut self, auth: impl Into<BasicAuth>) -> Self {
        self.auth = AuthConfig::Basic(auth.into());
        self
    }

    /// Accepts deliveries without credentials. Safe as far as the event
    /// goes (it is always fetched from the API, never read from the body),
    /// but anyone can then make the receiver call the API: prefer
    /// credentials in the webhook URL.
    pub fn allow_unauthenticated(mut self) -> Self {
        self.auth = AuthConfig::Unauthenticated;
        self
    }

    /// Fetches events with `fetcher` (usually an `ApiClient`).
    pub fn fetcher(mut self, fetcher: impl EventFetcher) -> Self {
        self.fetcher = Some(Arc::new(fetcher));
        self
    }

    /// Runs `handler` for events of type `event_type`, stale ones
    /// included ([`EventContext::is_stale`](crate::EventContext::is_stale));
    /// a transition handler ([`on_transition`](Self::on_transition)) never
    /// runs for a stale event.
    ///
    /// `event_type` is an [`EventType`] or its name as the API writes it
    /// (`"transaction.captured"`). A name this crate does not know is
    /// taken as is (the API may send types newer than the crate) and
    /// matches events of exactly that name. A name that no event can have
    /// (empty, with an empty segment, a space, an upper-case letter, or a
    /// wildcard such as `"transaction.*"`) never panics here:
    /// [`build`](Self::build) refuses it with
    /// [`ErrorKind::InvalidConfig`](crate::ErrorKind::InvalidConfig).
    ///
    /// ```
    /// use smart_router_webhooks::{EventContext, EventType, HandlerError, Receiver};
    /// # use smart_router_webhooks::api::transport_fn;
    /// # let transport = transport_fn(|_, _| async { Ok(http::Response::new(bytes::Bytes::new())) });
    /// # let api = smart_router_webhooks::ApiClient::builder("proj_1", "key_1").transport(transport).build()?;
    ///
    /// async fn ship(_: EventContext) -> Result<(), HandlerError> { Ok(()) }
    ///
    /// let receiver = Receiver::builder()
    ///     .allow_unauthenticated()
    ///     .fetcher(api.clone())
    ///     .on(EventType::TransactionCaptured, "ship", ship)
    ///     .on("transaction.refunded", "refund", ship)
    ///     .on("transaction.teleported", "newer-than-the-crate", ship)
    ///     .build()?;
    /// # let _ = receiver;
    /// let refused = Receiver::builder()
    ///     .allow_unauthenticated()
    ///     .fetcher(api)
    ///     .on("transaction.*", "all", ship) // a prefix: `on_prefix`
    ///     .build();
    /// assert!(refused.is_err());
    /// # Ok::<(), smart_router_webhooks::Error>(())
    /// ```
    pub fn on(
        self,
        event_type: impl Into<EventType>,
        name: impl Into<String>,
        handler: impl Handler,
    ) -> Self {
        self.routed(At::Type(event_type.into()), name, handler)
    }

    /// Runs `handler` for events whose type starts with `prefix` at a
    /// segment boundary (`"transaction."` or `"transaction"`).
    pub fn on_prefix(
        self,
        prefix: impl Into<String>,
        name: impl Into<String>,
        handler: impl Handler,
    ) -> Self {
        self.routed(At::Prefix(prefix.into()), name, handler)
    }

    /// Runs `handler` when a transaction's status changes as `filter` says
    /// (never for a stale event, which changes nothing).
    pub fn on_transition(
        self,
        filter: TransitionFilter,
        name: impl Into<String>,
        handler: impl Handler,
    ) -> Self {
        self.routed(At::Transition(filter), name, handler)
    }

    /// Registers `handler` as `name` where `at` says: what every routing
    /// method does.
    fn routed(mut self, at: At, name: impl Into<String>, handler: impl Handler) -> Self {
        self.router = self.router.add(at, name, handler);
        self
    }

    /// Runs `handler` for every event, whatever else takes it (audit
    /// logs, metrics). It does not count as taking the event: the
    /// fallback still runs when nothing else does.
    pub fn on_every_event(self, name: impl Into<String>, handler: impl Handler) -> Self {
        self.routed(At::EveryEvent, name, handler)
    }

    /// Runs `handler` for the events no event-type, prefix or transition
    /// handler takes (event types this crate or you do not know
    /// included). Such events are acknowledged whatever happens: with no
    /// fallback they are acknowledged and reported.
    pub fn fallback(self, name: impl Into<String>, handler: impl Handler) -> Self {
        self.routed(At::Fallback, name, handler)
    }

    /// Gives `state` (your database pool, order book, mailer…) to every
    /// handler, without a clone per registration: a handler reads it with
    /// [`EventContext::state::<T>()`](crate::EventContext::state). One
    /// value per type; a later one of the same type replaces it.
    pub fn state<T: Send + Sync + 'static>(mut self, state: T) -> Self {
        self.router = self.router.state(state);
        self
    }

    /// Remembers processed events in `store` (default: a
    /// [`MemoryStore`] with its default capacities).
    pub fn claim_store(mut self, store: impl ClaimStore) -> Self {
        self.claims = Some(Arc::new(store));
        self
    }

    /// Remembers transaction statuses in `store` (default: a
    /// [`MemoryStore`] with its default capacities).
    pub fn transaction_store(mut self, store: impl TransactionStore) -> Self {
        self.transactions = Some(Arc::new(store));
        self
    }

    /// Sends every delivery's report to `observer`.
    pub fn observer(mut self, observer: impl Observer) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// The largest body accepted, in bytes (default
    /// 64 KiB).
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body.limit = bytes;
        self
    }

    /// How long a delivery's whole body may take to arrive once its head
    /// is in (default 10 s): a slower client is
    /// answered 408 (`Outcome::BodyTimeout`). Every adapter reads the
    /// body within it ([`Receiver::handle_streaming`]); timed by the
    /// [`Runtime`], or by tokio's when the receiver has none.
    ///
    /// ```
    /// # use smart_router_webhooks::{Credentials, Event, EventId, FetchError, Receiver};
    /// # async fn api(_: &EventId) -> Result<Event, FetchError> { Err(FetchError::not_found()) }
    /// use std::time::Duration;
    ///
    /// let receiver = Receiver::builder()
    ///     .credentials(Credentials::new("hooks", "s3cret")?)
    ///     .fetcher(api)
    ///     .read_timeout(Duration::from_secs(2))
    ///     .build()?;
    /// # let _ = receiver;
    /// # Ok::<(), smart_router_webhooks::Error>(())
    /// ```
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.body.timeout = timeout;
        self
    }

    /// What to answer when the API does not know the event.
    pub fn not_found(mut self, policy: NotFoundPolicy) -> Self {
        self.not_found = policy;
        self
    }

    /// How long a delivery holds an event (default 120 s):
    /// longer than your handlers take.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// The `Retry-After` of 409 and 503 answers when the API gave none
    /// (default 30 s).
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// Runs processing apart from the request on `runtime` (default:
    /// tokio's, the runtime the call is made from, with the `tokio`
    /// feature; none without). See [`Runtime`] for what a receiver without one cannot do.
    pub fn runtime(mut self, runtime: impl Runtime) -> Self {
        self.runtime = RuntimeConfig::Given(Arc::new(runtime));
        self
    }

    /// Runs processing inside the request's future, even with the `tokio`
    /// feature: no answer deadline, handler timeout or lease renewal (see
    /// [`Runtime`]).
    pub fn no_runtime(mut self) -> Self {
        self.runtime = RuntimeConfig::None;
        self
    }

    /// How long a delivery waits for its processing before it is answered
    /// 409 with `Retry-After` while processing goes on (default
    /// 3 s): keep it under the sender's timeout.
    /// Needs a [`Runtime`].
    pub fn answer_deadline(mut self, deadline: Duration) -> Self {
        self.answer_deadline = deadline;
        self
    }

    /// How long a handler may run before it is stopped, a retryable
    /// failure (default 60 s). Needs a [`Runtime`].
    pub fn handler_timeout(mut self, timeout: Duration) -> Self {
        self.handler_timeout = timeout;
        self
    }

    /// The timeout of the handler named `name`, instead of
    /// [`handler_timeout`](Self::handler_timeout)'s.
    pub fn handler_timeout_for(mut self, name: impl Into<String>, timeout: Duration) -> Self {
        self.handler_timeouts.insert(name.into(), timeout);
        self
    }

    /// Inbox mode: answers a delivery `202 Accepted` as soon as it is
    /// checked (method, credentials, body, payload) and its event is in
    /// `inbox`, and 503 with `Retry-After` when the inbox cannot take it.
    /// Nothing is fetched or handled during the request: run
    /// [`Workers`](crate::inbox::Workers) (feature `tokio`) to process the
    /// inbox. See [`inbox`](crate::inbox) for the guarantees.
    pub fn inbox(mut self, inbox: impl Inbox) -> Self {
        self.inbox = Some(Arc::new(inbox));
        self
    }

    /// The realm of the `WWW-Authenticate` header of 401 answers.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// The receiver.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] when no fetcher was given, neither
    /// credentials nor [`allow_unauthenticated`](Self::allow_unauthenticated)
    /// was chosen, the body limit, read timeout, lease, answer deadline or
    /// a handler timeout is zero, the realm has a character that cannot go
    /// in a header, a handler name is empty or registered twice, an event
    /// type given to [`on`](Self::on) is no event's name, or a handler
    /// timeout names no handler.
    pub fn build(self) -> Result<Receiver, Error> {
        let config = |message: &'static str| Error::new(ErrorKind::InvalidConfig, message);
        let auth = match self.auth {
            AuthConfig::Undecided => {
                return Err(config(
                    "no credentials: call credentials(…) with the webhook URL's, or allow_unauthenticated()",
                ));
            }
            AuthConfig::Basic(auth) => Some(auth),
            AuthConfig::Unauthenticated => None,
        };
        let fetcher = self
            .fetcher
            .ok_or_else(|| config("no fetcher: call fetcher(…) with an ApiClient"))?;
        if self.body.limit == 0 {
            return Err(config("the body limit is zero"));
        }
        if self.body.timeout.is_zero() {
            return Err(config("the read timeout is zero"));
        }
        if self.lease.is_zero() {
            return Err(config("the claim lease is zero"));
        }
        if self.answer_deadline.is_zero() {
            return Err(config("the answer deadline is zero"));
        }
        if self.handler_timeout.is_zero() || self.handler_timeouts.values().any(|t| t.is_zero()) {
            return Err(config("a handler timeout is zero"));
        }
        let www_authenticate = format!("Basic realm=\"{}\", charset=\"UTF-8\"", self.realm);
        if self.realm.contains(['"', '\\']) {
            return Err(config("the realm has a quote or backslash"));
        }
        let www_authenticate = http::HeaderValue::try_from(www_authenticate)
            .map_err(|e| config("the realm cannot go in a header").with_source(e))?;
        let router = self.router.build()?;
        if let Some(name) = self
            .handler_timeouts
            .keys()
            .find(|name| router.route(name).is_none())
        {
            return Err(Error::new(
                ErrorKind::InvalidConfig,
                format!("a timeout is set for {name:?}, which is no handler's name"),
            ));
        }
        let runtime: Option<Arc<dyn Runtime>> = match self.runtime {
            RuntimeConfig::Given(runtime) => Some(runtime),
            RuntimeConfig::None => None,
            #[cfg(feature = "tokio")]
            RuntimeConfig::Default => Some(Arc::new(super::TokioRuntime)),
            #[cfg(not(feature = "tokio"))]
            RuntimeConfig::Default => None,
        };
        let memory = MemoryStore::default();
        let claims = self.claims.unwrap_or_else(|| Arc::new(memory.clone()));
        let transactions = self.transactions.unwrap_or_else(|| Arc::new(memory));
        Ok(Receiver {
            inner: Arc::new(Inner {
                auth,
                fetcher,
                router,
                claims,
                tracker: TransactionTracker::new(transactions),
                observer: self.observer,
                body: self.body,
                not_found: self.not_found,
                lease: self.lease,
                retry_after: self.retry_after,
                www_authenticate,
                runtime,
                answer_deadline: self.answer_deadline,
                handler_timeout: self.handler_timeout,
                handler_timeouts: self.handler_timeouts,
                inbox: self.inbox,
            }),
        })
    }
}
