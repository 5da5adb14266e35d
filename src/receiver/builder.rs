//! [`ReceiverBuilder`]: configuring a [`Receiver`] once.

use std::sync::Arc;
use std::time::Duration;

use super::report::Observer;
use super::{Inner, Receiver};
use crate::api::EventFetcher;
use crate::delivery::BasicAuth;
use crate::dispatch::{Handler, Router, RouterBuilder, TransitionFilter};
use crate::error::{Error, ErrorKind};
use crate::model::EventType;
use crate::store::{ClaimStore, MemoryClaimStore, MemoryTransactionStore, TransactionStore};
use crate::tracker::TransactionTracker;

/// The default largest body accepted: 64 KiB (a payload is under 200
/// bytes).
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// The default lease of a claim: how long a delivery holds an event before
/// another one may take it over.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(120);

/// The default `Retry-After` of 409 and 503 answers, when the API gave
/// none.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(30);

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
pub struct ReceiverBuilder {
    auth: AuthConfig,
    fetcher: Option<Arc<dyn EventFetcher>>,
    router: RouterBuilder,
    claims: Option<Arc<dyn ClaimStore>>,
    transactions: Option<Arc<dyn TransactionStore>>,
    observer: Option<Arc<dyn Observer>>,
    body_limit: usize,
    not_found: NotFoundPolicy,
    lease: Duration,
    retry_after: Duration,
    realm: String,
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
            body_limit: DEFAULT_BODY_LIMIT,
            not_found: NotFoundPolicy::default(),
            lease: DEFAULT_LEASE,
            retry_after: DEFAULT_RETRY_AFTER,
            realm: "smart-router-webhooks".to_owned(),
        }
    }
}

impl std::fmt::Debug for ReceiverBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiverBuilder")
            .field("router", &self.router)
            .field("body_limit", &self.body_limit)
            .field("not_found", &self.not_found)
            .field("lease", &self.lease)
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

    /// Runs `handler` for events of type `event_type`.
    pub fn on(
        mut self,
        event_type: EventType,
        name: impl Into<String>,
        handler: impl Handler,
    ) -> Self {
        self.router = self.router.on(event_type, name, handler);
        self
    }

    /// Runs `handler` for events whose type starts with `prefix` at a
    /// segment boundary (`"transaction."`).
    pub fn on_prefix(
        mut self,
        prefix: impl Into<String>,
        name: impl Into<String>,
        handler: impl Handler,
    ) -> Self {
        self.router = self.router.on_prefix(prefix, name, handler);
        self
    }

    /// Runs `handler` when a transaction's status changes as `filter` says.
    pub fn on_transition(
        mut self,
        filter: TransitionFilter,
        name: impl Into<String>,
        handler: impl Handler,
    ) -> Self {
        self.router = self.router.on_transition(filter, name, handler);
        self
    }

    /// Runs `handler` for every event (audit, metrics).
    pub fn on_every_event(mut self, name: impl Into<String>, handler: impl Handler) -> Self {
        self.router = self.router.on_every_event(name, handler);
        self
    }

    /// Runs `handler` for events nothing else takes.
    pub fn fallback(mut self, name: impl Into<String>, handler: impl Handler) -> Self {
        self.router = self.router.fallback(name, handler);
        self
    }

    /// Remembers processed events in `store` (default: a
    /// [`MemoryClaimStore`]).
    pub fn claim_store(mut self, store: impl ClaimStore) -> Self {
        self.claims = Some(Arc::new(store));
        self
    }

    /// Remembers transaction statuses in `store` (default: a
    /// [`MemoryTransactionStore`]).
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
    /// [`DEFAULT_BODY_LIMIT`]).
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// What to answer when the API does not know the event.
    pub fn not_found(mut self, policy: NotFoundPolicy) -> Self {
        self.not_found = policy;
        self
    }

    /// How long a delivery holds an event (default [`DEFAULT_LEASE`]):
    /// longer than your handlers take.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// The `Retry-After` of 409 and 503 answers when the API gave none
    /// (default [`DEFAULT_RETRY_AFTER`]).
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = retry_after;
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
    /// was chosen, the body limit or lease is zero, the realm has a
    /// character that cannot go in a header, or a handler name is empty or
    /// registered twice.
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
        if self.body_limit == 0 {
            return Err(config("the body limit is zero"));
        }
        if self.lease.is_zero() {
            return Err(config("the claim lease is zero"));
        }
        let www_authenticate = format!("Basic realm=\"{}\", charset=\"UTF-8\"", self.realm);
        if self.realm.contains(['"', '\\']) {
            return Err(config("the realm has a quote or backslash"));
        }
        let www_authenticate = http::HeaderValue::try_from(www_authenticate)
            .map_err(|e| config("the realm cannot go in a header").with_source(e))?;
        let router = self.router.build()?;
        let claims = self
            .claims
            .unwrap_or_else(|| Arc::new(MemoryClaimStore::default()));
        let transactions = self
            .transactions
            .unwrap_or_else(|| Arc::new(MemoryTransactionStore::default()));
        Ok(Receiver {
            inner: Arc::new(Inner {
                auth,
                fetcher,
                router,
                claims,
                tracker: TransactionTracker::new(transactions),
                observer: self.observer,
                body_limit: self.body_limit,
                not_found: self.not_found,
                lease: self.lease,
                retry_after: self.retry_after,
                www_authenticate,
            }),
        })
    }
}
