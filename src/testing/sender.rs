//! [`Sender`]: delivers webhooks the way Smart Router does, for tests.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use http::{Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use url::Url;

use crate::delivery::Credentials;
use crate::error::{Error, ErrorKind};
use crate::model::{EventId, EventType};

/// Aborts a task when dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One delivery attempt, as the sender saw it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Attempt {
    /// The event delivered.
    pub event_id: EventId,
    /// 1 for the first attempt, 2 for the first retry…
    pub number: u32,
    /// The answer's status; `None` when there was no answer (timeout,
    /// connection refused or reset).
    pub status: Option<StatusCode>,
    /// Why there was no answer, with the underlying error's chain.
    pub error: Option<AttemptError>,
    /// How long the attempt took.
    pub elapsed: Duration,
}

/// Why a delivery attempt got no answer: the step that failed, and the
/// underlying error (an I/O or HTTP error, with its own causes) as its
/// [`source`](std::error::Error::source).
///
/// Cheap to clone: the source is shared.
#[derive(Clone, Debug)]
pub struct AttemptError {
    step: Step,
    source: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
}

/// The step of an attempt that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Connect,
    Handshake,
    Request,
    Send,
    TimedOut,
}

impl AttemptError {
    fn at(step: Step, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        AttemptError {
            step,
            source: Some(Arc::from(source.into())),
        }
    }

    /// Whether the attempt got no answer within the sender's timeout (it
    /// then hung up).
    pub fn is_timeout(&self) -> bool {
        self.step == Step::TimedOut
    }
}

/// The step that failed (`could not connect`, `no answer within the
/// timeout`…); its cause is the [`source`](std::error::Error::source).
impl fmt::Display for AttemptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.step {
            Step::Connect => "could not connect",
            Step::Handshake => "the HTTP/1.1 handshake failed",
            Step::Request => "the request could not be built",
            Step::Send => "the request got no answer",
            Step::TimedOut => "no answer within the timeout",
        })
    }
}

impl std::error::Error for AttemptError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl Attempt {
    /// Whether the attempt was acknowledged (2xx): the sender stops.
    pub fn is_success(&self) -> bool {
        self.status.is_some_and(|s| s.is_success())
    }
}

/// The attempts of one delivery, up to its success or the last retry.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Delivery {
    /// Every attempt, in order.
    pub attempts: Vec<Attempt>,
}

impl Delivery {
    /// Whether an attempt was acknowledged.
    pub fn delivered(&self) -> bool {
        self.attempts.last().is_some_and(Attempt::is_success)
    }

    /// The status of the last attempt.
    pub fn last_status(&self) -> Option<StatusCode> {
        self.attempts.last().and_then(|a| a.status)
    }
}

/// Delivers webhooks like Smart Router: `POST`s
/// `{"event_id":…,"event_type":…}` to the webhook URL, with the basic-auth
/// credentials written in its userinfo, and retries any non-2xx answer or
/// timeout with exponential backoff. Every attempt is recorded. An attempt
/// that times out closes its connection (the receiver sees a hang-up).
///
/// Plain HTTP only: it is meant for receivers on loopback in tests.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), smart_router_webhooks::Error> {
/// use std::time::Duration;
/// use smart_router_webhooks::{EventId, EventType, testing::Sender};
///
/// let sender = Sender::new("http://hooks:s3cret@127.0.0.1:8080/webhooks")?
///     .backoff(Duration::from_millis(10), 5);
/// let delivery = sender
///     .deliver(&EventId::parse("ev_1")?, Some(&EventType::TransactionCaptured))
///     .await;
/// assert!(delivery.delivered());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Sender {
    url: Url,
    authority: String,
    authorization: Option<HeaderValue>,
    first_delay: Duration,
    max_attempts: u32,
    timeout: Duration,
    log: Arc<Mutex<Vec<Attempt>>>,
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("url", &self.url.as_str())
            .field("authenticated", &self.authorization.is_some())
            .field("first_delay", &self.first_delay)
            .field("max_attempts", &self.max_attempts)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Sender {
    /// A sender to `webhook_url`, exactly as pasted into the Dashboard
    /// (`http://user:p%40ss@127.0.0.1:8080/webhooks`). Defaults: 12
    /// attempts, the first retry after 10 ms, doubling; 5 s timeout.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] when the URL is not an `http` URL with
    /// a host and port; [`ErrorKind::UnusableCredentials`] when its
    /// credentials are unusable.
    pub fn new(webhook_url: &str) -> Result<Self, Error> {
        let config = |message: &'static str| Error::new(ErrorKind::InvalidConfig, message);
        let mut url = Url::parse(webhook_url)
            .map_err(|e| config("the webhook URL is not a valid URL").with_source(e))?;
        if url.scheme() != "http" {
            return Err(config("the test sender speaks plain http only"));
        }
        let authorization = if url.username().is_empty() {
            None
        } else {
            Some(Credentials::from_webhook_url(webhook_url)?.authorization_header())
        };
        let host = url
            .host_str()
            .ok_or_else(|| config("the webhook URL has no host"))?;
        let port = url
            .port_or_known_default()
            .ok_or_else(|| config("the webhook URL has no port"))?;
        let authority = format!("{host}:{port}");
        // Credentials travel in the header only.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        Ok(Sender {
            url,
            authority,
            authorization,
            first_delay: Duration::from_millis(10),
            max_attempts: 12,
            timeout: Duration::from_secs(5),
            log: Arc::default(),
        })
    }

    /// Retries after `first_delay`, doubling each time, for at most
    /// `max_attempts` attempts in all (at least 1).
    pub fn backoff(mut self, first_delay: Duration, max_attempts: u32) -> Self {
        self.first_delay = first_delay;
        self.max_attempts = max_attempts.max(1);
        self
    }

    /// How long an attempt may wait for its answer.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Delivers `event_id`, retrying until an attempt is acknowledged or the
    /// attempts run out.
    pub async fn deliver(&self, event_id: &EventId, event_type: Option<&EventType>) -> Delivery {
        let mut attempts = Vec::new();
        let mut delay = self.first_delay;
        for number in 1..=self.max_attempts {
            let attempt = self.attempt(event_id, event_type, number).await;
            let done = attempt.is_success();
            attempts.push(attempt);
            if done || number == self.max_attempts {
                break;
            }
            tokio::time::sleep(delay).await;
            delay = delay.saturating_mul(2);
        }
        Delivery { attempts }
    }

    /// Makes one attempt, without retrying.
    pub async fn attempt(
        &self,
        event_id: &EventId,
        event_type: Option<&EventType>,
        number: u32,
    ) -> Attempt {
        let body = match event_type {
            Some(t) => serde_json::json!({"event_id": event_id.as_str(), "event_type": t.as_str()}),
            None => serde_json::json!({"event_id": event_id.as_str()}),
        };
        let started = Instant::now();
        let result = tokio::time::timeout(self.timeout, self.post(body.to_string())).await;
        let (status, error) = match result {
            Ok(Ok(status)) => (Some(status), None),
            Ok(Err(error)) => (None, Some(error)),
            Err(_) => (
                None,
                Some(AttemptError {
                    step: Step::TimedOut,
                    source: None,
                }),
            ),
        };
        let attempt = Attempt {
            event_id: event_id.clone(),
            number,
            status,
            error,
            elapsed: started.elapsed(),
        };
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(attempt.clone());
        attempt
    }

    async fn post(&self, body: String) -> Result<StatusCode, AttemptError> {
        let stream = TcpStream::connect(&self.authority)
            .await
            .map_err(|e| AttemptError::at(Step::Connect, e))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| AttemptError::at(Step::Handshake, e))?;
        // Closed whenever this attempt ends, answered or not: a timed-out
        // attempt hangs up, as a real sender does.
        let connection = AbortOnDrop(tokio::spawn(connection));
        let path = match self.url.query() {
            Some(query) => format!("{}?{query}", self.url.path()),
            None => self.url.path().to_owned(),
        };
        let mut request = Request::post(path)
            .header(HOST, &self.authority)
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| AttemptError::at(Step::Request, e))?;
        if let Some(authorization) = &self.authorization {
            request
                .headers_mut()
                .insert(AUTHORIZATION, authorization.clone());
        }
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| AttemptError::at(Step::Send, e))?;
        let status = response.status();
        // Read the answer to its end, as a sender would.
        let _ = response.into_body().collect().await;
        drop(connection);
        Ok(status)
    }

    /// Every attempt this sender (and its clones) made, in order.
    pub fn attempts(&self) -> Vec<Attempt> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
