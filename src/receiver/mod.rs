//! [`Receiver`]: the whole pipeline of one delivery, from the HTTP request
//! to the HTTP answer.
//!
//! method → credentials → size → payload → claim → fetch → track →
//! dispatch → record → answer.

pub(crate) mod adapter_kit;
mod builder;
mod owed;
mod process;
mod report;
mod runtime;
mod tracker;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_TYPE, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, Method, Request, Response, StatusCode};

pub use adapter_kit::BodyError;
pub use builder::{NotFoundPolicy, ReceiverBuilder};
pub use report::{DeliveryReport, HandlerRun, Observer, Outcome};
pub use runtime::Runtime;
pub(crate) use runtime::Task;
#[cfg(feature = "tokio")]
pub(crate) use runtime::TokioRuntime;

use crate::api::{EventFetcher, FetchErrorKind};
use crate::delivery::{BasicAuth, WebhookPayload};
use crate::dispatch::Router;
use crate::error::Error;
use crate::model::{Event, EventId, EventType};
use crate::queue::Inbox;
use crate::store::ClaimStore;
use runtime::Slot;
pub(crate) use runtime::{Either, first};
use tracker::TransactionTracker;

/// Turns webhook deliveries into answers, running your handlers on the way.
///
/// Built once with [`Receiver::builder`], then shared by every request:
/// cloning is cheap (an `Arc`), and it is `Send + Sync`.
///
/// ```
/// use smart_router_webhooks::{Credentials, EventContext, EventType, HandlerError, Receiver};
/// # use smart_router_webhooks::{Event, EventId, FetchError};
/// # let api_client = |_: &EventId| async { Err::<Event, _>(FetchError::not_found()) };
///
/// let receiver = Receiver::builder()
///     .credentials(Credentials::from_webhook_url("https://hooks:s3cret@shop.example/webhooks")?)
///     .fetcher(api_client)
///     .on(EventType::TransactionCaptured, "fulfil-order", |ctx: EventContext| async move {
///         println!("captured: {:?}", ctx.transaction().map(|t| &t.id));
///         Ok::<_, HandlerError>(())
///     })
///     .build()?;
/// # let _ = receiver;
/// # Ok::<(), smart_router_webhooks::Error>(())
/// ```
#[derive(Clone)]
pub struct Receiver {
    inner: Arc<Inner>,
}

struct Inner {
    auth: Option<BasicAuth>,
    fetcher: Arc<dyn EventFetcher>,
    router: Router,
    claims: Arc<dyn ClaimStore>,
    tracker: TransactionTracker,
    observer: Option<Arc<dyn Observer>>,
    body: adapter_kit::BodyRead,
    not_found: NotFoundPolicy,
    lease: Duration,
    retry_after: Duration,
    www_authenticate: HeaderValue,
    runtime: Option<Arc<dyn Runtime>>,
    answer_deadline: Duration,
    handler_timeout: Duration,
    handler_timeouts: HashMap<String, Duration>,
    inbox: Option<Arc<dyn Inbox>>,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("auth", &self.inner.auth)
            .field("router", &self.inner.router)
            .field("body", &self.inner.body)
            .field("not_found", &self.inner.not_found)
            .field("lease", &self.inner.lease)
            .field("runtime", &self.inner.runtime.is_some())
            .field("answer_deadline", &self.inner.answer_deadline)
            .field("handler_timeout", &self.inner.handler_timeout)
            .field("inbox", &self.inner.inbox.is_some())
            .finish_non_exhaustive()
    }
}

impl Receiver {
    /// A builder for a receiver.
    pub fn builder() -> ReceiverBuilder {
        ReceiverBuilder::default()
    }

    /// The inbox of inbox mode, if one was given
    /// ([`ReceiverBuilder::inbox`]): for workers, dead letters and depth.
    pub fn inbox(&self) -> Option<&Arc<dyn Inbox>> {
        self.inner.inbox.as_ref()
    }

    /// The credentials deliveries must carry, for the test kit.
    #[cfg(feature = "testing")]
    pub(crate) fn accepted_credentials(&self) -> Option<&crate::delivery::Credentials> {
        self.inner.auth.as_ref().and_then(BasicAuth::first)
    }

    /// Answers one delivery whose body was read (at most the body limit,
    /// [`ReceiverBuilder::body_limit`]: a longer body may be cut, and is
    /// answered 413).
    ///
    /// The answer follows the table of the crate docs: 2xx stops the
    /// sender's retries, anything else asks for one. Its body is a short
    /// plain-text word that never echoes the request.
    pub async fn handle<B: AsRef<[u8]>>(&self, request: Request<B>) -> Response<Bytes> {
        let report = self.receive(request).await;
        self.respond(&report)
    }

    /// Receives one delivery like [`handle`](Self::handle), but returns
    /// its report; [`respond`](Self::respond) makes its answer.
    pub async fn receive<B: AsRef<[u8]>>(&self, request: Request<B>) -> DeliveryReport {
        let started = Instant::now();
        self.finish(self.verify(&request), started).await
    }

    /// Processes a checked delivery and reports it; with the `tracing`
    /// feature, inside a span that the handlers' own events nest in.
    async fn finish(
        &self,
        checked: Result<WebhookPayload, Box<DeliveryReport>>,
        started: Instant,
    ) -> DeliveryReport {
        let report = self.finish_traced(checked, started).await;
        #[cfg(feature = "metrics")]
        crate::metrics::delivery_answered(
            report.outcome.as_str(),
            report.status.as_u16(),
            started.elapsed(),
        );
        report
    }

    async fn finish_traced(
        &self,
        checked: Result<WebhookPayload, Box<DeliveryReport>>,
        started: Instant,
    ) -> DeliveryReport {
        #[cfg(feature = "tracing")]
        {
            use tracing::field::Empty;
            let span = tracing::info_span!(
                "smart_router_webhook",
                event_id = Empty,
                event_type = Empty,
                outcome = Empty,
                status = Empty,
            );
            if let Ok(payload) = &checked {
                span.record("event_id", payload.event_id.as_str());
            }
            tracing::Instrument::instrument(self.process_checked(checked, started), span).await
        }
        #[cfg(not(feature = "tracing"))]
        {
            self.process_checked(checked, started).await
        }
    }

    async fn process_checked(
        &self,
        checked: Result<WebhookPayload, Box<DeliveryReport>>,
        started: Instant,
    ) -> DeliveryReport {
        match checked {
            Ok(payload) => match &self.inner.inbox {
                Some(inbox) => self.enqueue(inbox.as_ref(), payload, started).await,
                None => {
                    let delivery = Delivery {
                        hint: payload.event_type,
                        started,
                    };
                    self.detached(payload.event_id, None, Some(delivery)).await
                }
            },
            Err(report) => {
                self.observe(&report, started);
                *report
            }
        }
    }

    /// Inbox mode: queues the checked delivery's event and reports it
    /// (202), or the inbox's failure (503, nothing queued).
    async fn enqueue(
        &self,
        inbox: &dyn Inbox,
        payload: WebhookPayload,
        started: Instant,
    ) -> DeliveryReport {
        let enqueued = inbox.enqueue(&payload.event_id).await;
        #[cfg(feature = "metrics")]
        crate::metrics::inbox_enqueued(&enqueued);
        let mut report = match enqueued {
            Ok(enqueued) => {
                let mut report = DeliveryReport::new(Outcome::Queued);
                report.enqueued = Some(enqueued);
                report
            }
            Err(error) => {
                let mut report = DeliveryReport::new(Outcome::QueueUnavailable);
                report.retry_after = Some(self.inner.retry_after);
                report.store_error = Some(error);
                report
            }
        };
        report.event_id = Some(payload.event_id);
        report.event_type = payload.event_type;
        self.observe(&report, started);
        report
    }

    /// Processes the event apart from the caller's future when a runtime
    /// can spawn it (else in it, a guard giving the claim up if it is
    /// dropped), and waits for its report: for a delivery, at most the
    /// answer deadline. A delivery's report goes to the observer, when the
    /// delivery is answered, or when its processing ends if that is later.
    async fn detached(
        &self,
        event_id: EventId,
        fetched: Option<Event>,
        delivery: Option<Delivery>,
    ) -> DeliveryReport {
        let observer = self.clone();
        let started = delivery.as_ref().map(|d| d.started);
        let slot = Slot::new(move |mut report: DeliveryReport| {
            report.detached = true;
            if let Some(started) = started {
                #[cfg(feature = "metrics")]
                crate::metrics::detached_ended(report.outcome.as_str());
                observer.observe(&report, started);
            }
        });
        let (receiver, filled, id) = (self.clone(), slot.filler(), event_id.clone());
        let hint = delivery.as_ref().and_then(|d| d.hint.clone());
        let task = async move {
            let mut report = receiver.claim_then(&event_id, fetched).await;
            if report.event_type.is_none() {
                report.event_type = hint;
            }
            filled.fill(report);
        };
        #[cfg(feature = "tracing")]
        let task = tracing::Instrument::in_current_span(task);
        let spawned = match &self.inner.runtime {
            Some(runtime) => runtime.spawn(Box::pin(task)),
            None => Err(Box::pin(task) as Task),
        };
        let report = match (spawned, &self.inner.runtime) {
            (Ok(()), Some(runtime)) if delivery.is_some() => {
                let deadline = runtime.sleep(self.inner.answer_deadline);
                match first(slot.wait(), deadline).await {
                    Either::Left(report) => report,
                    Either::Right(()) => match slot.abandon() {
                        Some(report) => Some(report),
                        None => Some(self.still_processing(id.clone())),
                    },
                }
            }
            (Ok(()), _) => slot.wait().await,
            (Err(task), _) => {
                task.await;
                slot.wait().await
            }
        };
        let report = report.unwrap_or_else(|| {
            // The task was dropped before it ended: its runtime is shutting
            // down. Its guard gave the claim up, or its lease will end.
            let mut report = DeliveryReport::new(Outcome::Interrupted);
            report.event_id = Some(id);
            report.retry_after = Some(self.inner.retry_after);
            report
        });
        if let Some(delivery) = &delivery {
            if report.outcome != Outcome::StillProcessing {
                self.observe(&report, delivery.started);
            }
        }
        report
    }

    /// The answer of a delivery whose processing outlived the answer
    /// deadline: 409, retry later.
    fn still_processing(&self, event_id: EventId) -> DeliveryReport {
        let mut report = DeliveryReport::new(Outcome::StillProcessing);
        report.event_id = Some(event_id);
        report.retry_after = Some(self.inner.retry_after);
        report
    }

    /// The first half of a delivery, for those who acknowledge at once and
    /// process from their own queue: checks the method, the credentials,
    /// the size and the payload, and nothing else (no store, no fetch).
    ///
    /// # Errors
    ///
    /// The report of a refused delivery; [`respond`](Self::respond) makes
    /// its answer.
    pub fn verify<B: AsRef<[u8]>>(
        &self,
        request: &Request<B>,
    ) -> Result<WebhookPayload, Box<DeliveryReport>> {
        self.check_head(request.method(), request.headers())?;
        self.check_body(request.body().as_ref())
    }

    /// What can be checked before the body is read: the method, then the
    /// credentials, before a byte of the body is read.
    fn check_head(&self, method: &Method, headers: &HeaderMap) -> Result<(), Box<DeliveryReport>> {
        if method != Method::POST {
            return Err(Box::new(DeliveryReport::new(Outcome::MethodNotAllowed)));
        }
        if let Some(auth) = &self.inner.auth {
            auth.verify(headers)
                .map_err(|e| rejection(Outcome::Unauthorized, Some(e)))?;
        }
        Ok(())
    }

    fn check_body(&self, body: &[u8]) -> Result<WebhookPayload, Box<DeliveryReport>> {
        if body.len() > self.inner.body.limit {
            return Err(rejection(Outcome::PayloadTooLarge, None));
        }
        WebhookPayload::parse(body).map_err(|e| rejection(Outcome::InvalidPayload, Some(e)))
    }

    /// The second half of a delivery: claims the event, fetches it, tracks
    /// its transaction, runs the handlers and records what completed. The
    /// report's status is the answer a delivery would get.
    ///
    /// With a [`Runtime`], once the event is claimed its processing runs to
    /// completion even if this future is dropped; without one, dropping
    /// the future gives the claim up. No answer deadline applies here.
    pub async fn process(&self, event_id: &EventId) -> DeliveryReport {
        self.detached(event_id.clone(), None, None).await
    }

    /// Like [`process`](Self::process) for an event already fetched (no
    /// fetch is made): for events read from your own queue or from the
    /// API's event list.
    pub async fn process_event(&self, event: Event) -> DeliveryReport {
        let id = event.id.clone();
        self.detached(id, Some(event), None).await
    }

    /// The HTTP answer of a delivery's report.
    pub fn respond(&self, report: &DeliveryReport) -> Response<Bytes> {
        let mut response = Response::new(Bytes::from_static(report.outcome.as_str().as_bytes()));
        *response.status_mut() = report.status;
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        match report.outcome {
            Outcome::MethodNotAllowed => {
                headers.insert(ALLOW, HeaderValue::from_static("POST"));
            }
            Outcome::Unauthorized => {
                headers.insert(WWW_AUTHENTICATE, self.inner.www_authenticate.clone());
            }
            _ => {}
        }
        if let Some(retry_after) = report.retry_after {
            // Whole seconds, rounded up, at least 1 (and at most what a
            // `u64` holds: a fetcher may pass on any wait the API asked).
            let seconds = retry_after
                .as_secs()
                .saturating_add(u64::from(retry_after.subsec_nanos() > 0));
            headers.insert(RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        response
    }

    /// Turns `report` into the answer to a store failure (503 with
    /// `Retry-After`), keeping what it says of the delivery so far.
    fn store_failed(&self, report: &mut DeliveryReport, error: Error) {
        report.outcome = Outcome::StoreUnavailable;
        report.status = Outcome::StoreUnavailable.status();
        report.retry_after = Some(self.inner.retry_after);
        report.store_error = Some(error);
    }

    fn fetch_failure(
        &self,
        error: crate::api::FetchError,
        fetch_duration: Option<Duration>,
    ) -> DeliveryReport {
        let inner = &*self.inner;
        let mut report = DeliveryReport::new(match error.kind() {
            FetchErrorKind::NotFound => Outcome::EventNotFound,
            // A request the API refuses is a configuration error, like a
            // refused key: answered 500 and reported loudly, not retried
            // as an outage.
            FetchErrorKind::ApiCredentialsRefused | FetchErrorKind::BadRequest => {
                Outcome::ApiCredentialsRefused
            }
            _ => Outcome::ApiUnavailable,
        });
        match report.outcome {
            Outcome::EventNotFound if inner.not_found == NotFoundPolicy::Acknowledge => {
                report.status = StatusCode::OK;
            }
            Outcome::ApiUnavailable => {
                report.retry_after = Some(error.retry_after().unwrap_or(inner.retry_after));
            }
            _ => {}
        }
        report.fetch_error = Some(error);
        report.fetch_duration = fetch_duration;
        report
    }

    fn observe(&self, report: &DeliveryReport, started: Instant) {
        #[cfg(feature = "tracing")]
        trace_delivery(report, started);
        #[cfg(not(feature = "tracing"))]
        let _ = started;
        if let Some(observer) = &self.inner.observer {
            observer.on_delivery(report);
        }
    }
}

/// What a delivery adds to the processing of its event.
struct Delivery {
    /// The payload's event type, for the report when no fetch said it.
    hint: Option<EventType>,
    started: Instant,
}

/// The report of a delivery refused before its event was looked at.
fn rejection(outcome: Outcome, error: Option<Error>) -> Box<DeliveryReport> {
    let mut report = DeliveryReport::new(outcome);
    report.rejection = error;
    Box::new(report)
}

#[cfg(feature = "tracing")]
fn trace_delivery(report: &DeliveryReport, started: Instant) {
    use crate::error::Chain;
    let span = tracing::Span::current();
    if let Some(id) = &report.event_id {
        span.record("event_id", id.as_str());
    }
    if let Some(event_type) = &report.event_type {
        span.record("event_type", event_type.as_str());
    }
    span.record("outcome", report.outcome.as_str());
    span.record("status", report.status.as_u16());
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    let fetch_ms = report.fetch_duration.map(|d| d.as_secs_f64() * 1000.0);
    let handlers_ms = report.handlers_duration.map(|d| d.as_secs_f64() * 1000.0);
    let failures = report.failures().count();
    // Each failed handler with its error's whole chain ("ship: retryable
    // handler failure: the ledger did not answer: connection refused").
    let handler_errors = (failures > 0).then(|| {
        let failed: Vec<String> = report
            .failures()
            .map(|(name, error)| format!("{name}: {}", Chain(error)))
            .collect();
        failed.join("; ")
    });
    // Where the event had values that do not fit their type (never the
    // values: they may hold secrets).
    let warnings = (!report.warnings.is_empty()).then(|| {
        let paths: Vec<&str> = report.warnings.iter().map(|w| w.path()).collect();
        paths.join(",")
    });
    if report.status.is_server_error() || report.outcome == Outcome::ApiCredentialsRefused {
        // The error with its whole chain of causes ("the API is
        // unavailable: could not connect: …: connection refused").
        let error = match (&report.fetch_error, &report.store_error) {
            (Some(error), _) => Some(Chain(error)),
            (None, Some(error)) => Some(Chain(error)),
            (None, None) => None,
        };
        tracing::error!(
            elapsed_ms,
            fetch_ms,
            handlers_ms,
            failures,
            warnings,
            error = error.map(tracing::field::display),
            handler_errors,
            "webhook delivery failed"
        );
    } else if failures > 0 || report.fell_back {
        tracing::warn!(
            elapsed_ms,
            fetch_ms,
            handlers_ms,
            failures,
            fell_back = report.fell_back,
            warnings,
            handler_errors,
            "webhook delivery processed with failures or unhandled"
        );
    } else {
        tracing::info!(
            elapsed_ms,
            fetch_ms,
            handlers_ms,
            warnings,
            "webhook delivery answered"
        );
    }
}
