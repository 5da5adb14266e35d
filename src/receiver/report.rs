//! What happened to one delivery: [`Outcome`], [`DeliveryReport`], and the
//! [`Observer`] that receives every report.

use std::time::Duration;

use http::StatusCode;

use crate::api::FetchError;
use crate::dispatch::HandlerError;
use crate::error::Error;
use crate::model::Tracking;
use crate::model::{EventId, EventType, ModelWarning, TransactionId};
use crate::queue::Enqueued;

/// How a delivery ended; each outcome has its HTTP answer (the table "What
/// the receiver answers" of the crate docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// Fetched and handed to the handlers, none of which asked for a retry
    /// (200).
    Processed,
    /// The event was already processed: a duplicate delivery (200, no
    /// fetch).
    Duplicate,
    /// Not a `POST` (405 with `Allow: POST`).
    MethodNotAllowed,
    /// The receiver refused the delivery's credentials: missing or wrong
    /// (401 with `WWW-Authenticate`; the report's `rejection` is an
    /// [`ErrorKind::DeliveryCredentialsRefused`](crate::ErrorKind::DeliveryCredentialsRefused)).
    /// Named, like the other refusals, after its HTTP answer.
    Unauthorized,
    /// The body is over the size limit (413).
    PayloadTooLarge,
    /// The body is not a webhook payload, or could not be read (400).
    InvalidPayload,
    /// The client sent the body too slowly (408).
    BodyTimeout,
    /// Another delivery of the same event is being processed right now
    /// (409: retry later).
    InProgress,
    /// This delivery's processing was not finished by the answer deadline
    /// and goes on (409 with `Retry-After`): the redelivery finds it done
    /// (200, duplicate) or still running (409).
    StillProcessing,
    /// The processing was stopped before it ended (its task was dropped:
    /// the runtime is shutting down); 503 with `Retry-After`. Its claim is
    /// given up, or ends with its lease.
    Interrupted,
    /// The API does not know the event (404 by default, so the sender keeps
    /// retrying while the configuration is fixed; 200 if so configured).
    EventNotFound,
    /// The API refused our request: our credentials (401, 403:
    /// [`FetchErrorKind::ApiCredentialsRefused`](crate::FetchErrorKind::ApiCredentialsRefused)),
    /// or the request itself (any other 4xx but 404:
    /// [`FetchErrorKind::BadRequest`](crate::FetchErrorKind::BadRequest)).
    /// A configuration error, not an outage: answered 500 and reported
    /// loudly; the report's `fetch_error` says which.
    ApiCredentialsRefused,
    /// The API is rate limiting, failing, slow or unreachable, or sent an
    /// invalid response (503 with `Retry-After`).
    ApiUnavailable,
    /// The claim or transaction store could not answer (503 with
    /// `Retry-After`).
    StoreUnavailable,
    /// A handler failed and asked for a retry (500). Handlers that
    /// succeeded are not run again on the retry.
    HandlerFailed,
    /// Inbox mode: the delivery was checked and its event is in the inbox
    /// (queued now, or already), for a worker to process (202 Accepted).
    Queued,
    /// Inbox mode: the inbox could not take the event (unreachable, or
    /// full): 503 with `Retry-After`, nothing queued.
    QueueUnavailable,
}

impl Outcome {
    /// A short, stable name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Processed => "processed",
            Outcome::Duplicate => "duplicate",
            Outcome::MethodNotAllowed => "method_not_allowed",
            Outcome::Unauthorized => "unauthorized",
            Outcome::PayloadTooLarge => "payload_too_large",
            Outcome::InvalidPayload => "invalid_payload",
            Outcome::BodyTimeout => "body_timeout",
            Outcome::InProgress => "in_progress",
            Outcome::StillProcessing => "still_processing",
            Outcome::Interrupted => "interrupted",
            Outcome::EventNotFound => "event_not_found",
            Outcome::ApiCredentialsRefused => "api_credentials_refused",
            Outcome::ApiUnavailable => "api_unavailable",
            Outcome::StoreUnavailable => "store_unavailable",
            Outcome::HandlerFailed => "handler_failed",
            Outcome::Queued => "queued",
            Outcome::QueueUnavailable => "queue_unavailable",
        }
    }

    /// The HTTP status of the outcome, under the default not-found
    /// policy.
    pub fn status(self) -> StatusCode {
        match self {
            Outcome::Processed | Outcome::Duplicate => StatusCode::OK,
            Outcome::Queued => StatusCode::ACCEPTED,
            Outcome::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Outcome::Unauthorized => StatusCode::UNAUTHORIZED,
            Outcome::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Outcome::InvalidPayload => StatusCode::BAD_REQUEST,
            Outcome::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Outcome::InProgress | Outcome::StillProcessing => StatusCode::CONFLICT,
            Outcome::EventNotFound => StatusCode::NOT_FOUND,
            Outcome::ApiCredentialsRefused | Outcome::HandlerFailed => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            Outcome::ApiUnavailable
            | Outcome::StoreUnavailable
            | Outcome::Interrupted
            | Outcome::QueueUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Whether the delivery was refused before the event was looked at
    /// (method, credentials, size, payload).
    pub fn is_rejection(self) -> bool {
        matches!(
            self,
            Outcome::MethodNotAllowed
                | Outcome::Unauthorized
                | Outcome::PayloadTooLarge
                | Outcome::InvalidPayload
                | Outcome::BodyTimeout
        )
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One handler's run.
#[derive(Debug)]
#[non_exhaustive]
pub struct HandlerRun {
    /// The handler's name.
    pub name: String,
    /// Its failure, `None` when it succeeded.
    pub error: Option<HandlerError>,
    /// How long it ran.
    pub duration: Duration,
}

/// Everything known about one delivery once it is answered. Never holds a
/// credential or the request's body.
#[derive(Debug)]
#[non_exhaustive]
pub struct DeliveryReport {
    /// How it ended.
    pub outcome: Outcome,
    /// The HTTP status it was answered with.
    pub status: StatusCode,
    /// The event, once the payload was read.
    pub event_id: Option<EventId>,
    /// The event type: the fetched event's, else the payload's hint.
    pub event_type: Option<EventType>,
    /// The transaction of a transaction event.
    pub transaction_id: Option<TransactionId>,
    /// What the transaction tracker made of the event.
    pub tracking: Tracking,
    /// The handlers that ran, in order.
    pub handlers: Vec<HandlerRun>,
    /// The handlers not run because they completed on an earlier delivery.
    pub skipped: Vec<String>,
    /// Whether no handler took the event (the fallback ran, if any).
    pub fell_back: bool,
    /// Why the payload was refused, or the credentials were.
    pub rejection: Option<Error>,
    /// Why the fetch failed.
    pub fetch_error: Option<FetchError>,
    /// Why a store failed, or (inbox mode) why the inbox could not take
    /// the event.
    pub store_error: Option<Error>,
    /// Inbox mode: whether the event was queued by this delivery or was
    /// in the inbox already.
    pub enqueued: Option<Enqueued>,
    /// How long the fetch took.
    pub fetch_duration: Option<Duration>,
    /// How long the handlers took, all together.
    pub handlers_duration: Option<Duration>,
    /// The `Retry-After` sent, for 409 and 503 answers.
    pub retry_after: Option<Duration>,
    /// Whether the claim was found taken over by another delivery while
    /// or after this one processed the event (its lease ran out without
    /// being renewed: the store was unreachable, or the process stalled).
    /// Handlers not yet started were left to the new holder, and the
    /// delivery was answered for a retry.
    pub claim_lost: bool,
    /// Whether the processing outlived the delivery: the delivery was
    /// answered [`Outcome::StillProcessing`] at the answer deadline, or
    /// its request was dropped (the sender hung up). The report then comes
    /// to the observer when the processing ends, and `status` is the
    /// answer the processing came to, not the one sent.
    pub detached: bool,
    /// The fields of the fetched event whose value did not fit their type
    /// (see [`Event::warnings`](crate::Event::warnings)): the event was
    /// still handled.
    pub warnings: Vec<ModelWarning>,
}

impl DeliveryReport {
    /// A report of `outcome`, answered with its status.
    pub(crate) fn new(outcome: Outcome) -> Self {
        DeliveryReport {
            outcome,
            status: outcome.status(),
            event_id: None,
            event_type: None,
            transaction_id: None,
            tracking: Tracking::default(),
            handlers: Vec::new(),
            skipped: Vec::new(),
            fell_back: false,
            rejection: None,
            fetch_error: None,
            store_error: None,
            enqueued: None,
            fetch_duration: None,
            handlers_duration: None,
            retry_after: None,
            claim_lost: false,
            detached: false,
            warnings: Vec::new(),
        }
    }

    /// The handlers that failed.
    pub fn failures(&self) -> impl Iterator<Item = (&str, &HandlerError)> {
        self.handlers
            .iter()
            .filter_map(|run| run.error.as_ref().map(|e| (run.name.as_str(), e)))
    }

    /// Whether the sender will deliver again (the answer is not 2xx).
    pub fn will_be_retried(&self) -> bool {
        !self.status.is_success()
    }
}

/// `unauthorized (HTTP 401)`: the outcome and the answer. A report is the
/// error of a refused delivery ([`Receiver::verify`](crate::Receiver::verify)),
/// so `?` takes it into a boxed error.
impl std::fmt::Display for DeliveryReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (HTTP {})", self.outcome, self.status.as_u16())
    }
}

/// The source is what made the delivery fail, with its own chain: why it
/// was refused, why the fetch or a store failed, else the first handler
/// failure.
impl std::error::Error for DeliveryReport {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        if let Some(error) = &self.rejection {
            return Some(error);
        }
        if let Some(error) = &self.fetch_error {
            return Some(error);
        }
        if let Some(error) = &self.store_error {
            return Some(error);
        }
        let (_, failure) = self.failures().next()?;
        Some(failure)
    }
}

/// Receives the report of every delivery: for logs, metrics and alerts
/// (handler failures, fallbacks, configuration errors).
///
/// Called once per delivery that reached the receiver, before its answer
/// is sent; for a delivery whose processing outlived it (answer deadline,
/// hang-up), when the processing ends, with
/// [`DeliveryReport::detached`] set. Keep it quick (hand heavy work to a
/// queue). A closure taking `&DeliveryReport` works.
///
/// ```
/// use smart_router_webhooks::{DeliveryReport, Observer, Outcome};
///
/// struct Alerts;
///
/// impl Observer for Alerts {
///     fn on_delivery(&self, report: &DeliveryReport) {
///         if report.outcome == Outcome::ApiCredentialsRefused {
///             eprintln!("check the API keys: {:?}", report.fetch_error);
///         }
///         for (handler, error) in report.failures() {
///             eprintln!("{handler} failed: {error}");
///         }
///     }
/// }
/// // Given with `ReceiverBuilder::observer(Alerts)`, or as a closure:
/// // `.observer(|report: &DeliveryReport| …)`.
/// # let _ = Alerts;
/// ```
pub trait Observer: Send + Sync + 'static {
    /// Called once per delivery.
    fn on_delivery(&self, report: &DeliveryReport);
}

impl<F: Fn(&DeliveryReport) + Send + Sync + 'static> Observer for F {
    fn on_delivery(&self, report: &DeliveryReport) {
        self(report)
    }
}
