//! A whole `Receiver::handle` call on an arbitrary request, with an
//! in-process API that serves one fixture event.
//!
//! The answer's status is always one of the answer table's, and a request
//! that does not carry exactly one header with the accepted credentials
//! never reaches the API.
#![no_main]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use arbitrary::Arbitrary;
use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose;
use http::header::{AUTHORIZATION, HeaderName, HeaderValue};
use http::{Method, Request, StatusCode};
use libfuzzer_sys::fuzz_target;
use smart_router_webhooks::{
    BasicAuth, Credentials, Event, EventContext, EventFetcher, EventId, EventType, FetchError,
    FetchErrorKind, HandlerError, NotFoundPolicy, Receiver,
};

/// The event the API serves: the vendor's published `transaction.failed`.
static FIXTURE: LazyLock<Event> = LazyLock::new(|| {
    let envelope: serde_json::Value = serde_json::from_str(include_str!(
        "../../tests/fixtures/event-transaction-failed.json"
    ))
    .expect("fixture is JSON");
    serde_json::from_value(envelope["event"].clone()).expect("fixture is an event")
});

/// The statuses of the answer table.
const ANSWERS: [StatusCode; 9] = [
    StatusCode::OK,
    StatusCode::BAD_REQUEST,
    StatusCode::UNAUTHORIZED,
    StatusCode::NOT_FOUND,
    StatusCode::METHOD_NOT_ALLOWED,
    StatusCode::CONFLICT,
    StatusCode::PAYLOAD_TOO_LARGE,
    StatusCode::INTERNAL_SERVER_ERROR,
    StatusCode::SERVICE_UNAVAILABLE,
];

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Api {
    Serve,
    NotFound,
    Unauthorized,
    RateLimited,
    Unavailable,
    Invalid,
    /// Answers with an event of another ID.
    Other,
}

/// Serves the fixture, or fails as told, counting the calls.
struct InProcessApi {
    behaviour: Api,
    fetches: Arc<AtomicUsize>,
}

#[async_trait]
impl EventFetcher for InProcessApi {
    async fn fetch_event(&self, id: &EventId) -> Result<Event, FetchError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let fail = |kind| Err(FetchError::new(kind));
        match self.behaviour {
            Api::Serve if *id == FIXTURE.id => Ok(FIXTURE.clone()),
            Api::Serve | Api::NotFound => Err(FetchError::not_found()),
            Api::Unauthorized => fail(FetchErrorKind::ApiCredentialsRefused),
            Api::RateLimited => Err(FetchError::new(FetchErrorKind::RateLimited)
                .with_retry_after(Duration::from_millis(1500))),
            Api::Unavailable => fail(FetchErrorKind::Unavailable),
            Api::Invalid => fail(FetchErrorKind::InvalidResponse),
            Api::Other => {
                let mut other = FIXTURE.clone();
                other.id = EventId::parse("ev_other").expect("valid ID");
                Ok(other)
            }
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum HandlerResult {
    Ok,
    Retry,
    Permanent,
}

#[derive(Arbitrary, Debug)]
enum Auth {
    /// The sender's header.
    Sender,
    /// Basic with these credentials, base64-encoded.
    Basic(Vec<u8>),
    /// Any bytes.
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Body {
    /// A payload naming the fixture event.
    Fixture { with_type: bool },
    /// A payload naming this ID, written as a JSON string.
    Named(String),
    /// Any bytes.
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Delivery {
    method: Option<String>,
    authorization: Vec<Auth>,
    headers: Vec<(String, Vec<u8>)>,
    body: Body,
    api: Api,
    handler: HandlerResult,
    acknowledge_not_found: bool,
    body_limit: Option<u16>,
    /// Deliver the same request again right after.
    twice: bool,
}

fn credentials() -> Credentials {
    Credentials::new("hooks", "s3cret").expect("valid credentials")
}

/// Runs a future that never waits (in-memory stores, in-process API).
fn run<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::yield_now();
    }
}

fn request(delivery: &Delivery) -> Option<Request<Vec<u8>>> {
    let method = match &delivery.method {
        None => Method::POST,
        Some(m) => Method::from_bytes(m.as_bytes()).ok()?,
    };
    let mut builder = Request::builder().method(method).uri("/webhooks");
    for auth in &delivery.authorization {
        let value = match auth {
            Auth::Sender => credentials().authorization_header(),
            Auth::Basic(bytes) => {
                HeaderValue::try_from(format!("Basic {}", general_purpose::STANDARD.encode(bytes)))
                    .ok()?
            }
            Auth::Raw(bytes) => HeaderValue::from_bytes(bytes).ok()?,
        };
        builder = builder.header(AUTHORIZATION, value);
    }
    for (name, value) in &delivery.headers {
        let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
        let value = HeaderValue::from_bytes(value).ok()?;
        builder = builder.header(name, value);
    }
    let body = match &delivery.body {
        Body::Fixture { with_type: true } => serde_json::json!({
            "event_id": FIXTURE.id.as_str(),
            "event_type": FIXTURE.name.as_str(),
        })
        .to_string()
        .into_bytes(),
        Body::Fixture { with_type: false } => {
            serde_json::json!({ "event_id": FIXTURE.id.as_str() })
                .to_string()
                .into_bytes()
        }
        Body::Named(id) => serde_json::json!({ "event_id": id })
            .to_string()
            .into_bytes(),
        Body::Raw(bytes) => bytes.clone(),
    };
    builder.body(body).ok()
}

fuzz_target!(|delivery: Delivery| {
    let Some(request) = request(&delivery) else {
        return;
    };
    let fetches = Arc::new(AtomicUsize::new(0));
    let api = InProcessApi {
        behaviour: delivery.api,
        fetches: fetches.clone(),
    };
    let result = delivery.handler;
    let mut builder = Receiver::builder()
        .credentials(BasicAuth::new(credentials()))
        .fetcher(api)
        .on(
            EventType::TransactionFailed,
            "record-failure",
            move |_: EventContext| async move {
                match result {
                    HandlerResult::Ok => Ok(()),
                    HandlerResult::Retry => Err(HandlerError::retry("the ledger is down")),
                    HandlerResult::Permanent => Err(HandlerError::permanent("unknown order")),
                }
            },
        );
    if delivery.acknowledge_not_found {
        builder = builder.not_found(NotFoundPolicy::Acknowledge);
    }
    if let Some(limit) = delivery.body_limit {
        builder = builder.body_limit(usize::from(limit).max(1));
    }
    let receiver = builder.build().expect("a valid configuration");

    // Whether the request is authenticated, decided without the crate: one
    // Authorization header, which is the sender's or carries its
    // credentials.
    let headers: Vec<_> = request.headers().get_all(AUTHORIZATION).iter().collect();
    let authenticated = headers.len() == 1 && {
        let value = headers[0].as_bytes().trim_ascii();
        let (scheme, token) = value
            .iter()
            .position(|b| b.is_ascii_whitespace())
            .map_or((value, &[][..]), |at| value.split_at(at));
        scheme.eq_ignore_ascii_case(b"basic")
            && base64::engine::GeneralPurpose::new(
                &base64::alphabet::STANDARD,
                base64::engine::GeneralPurposeConfig::new()
                    .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
            )
            .decode(token.trim_ascii())
            .is_ok_and(|decoded| decoded == b"hooks:s3cret")
    };
    let is_post = request.method() == Method::POST;
    drop(request);

    let rounds = if delivery.twice { 2 } else { 1 };
    for _ in 0..rounds {
        let request = self::request(&delivery).expect("built once already");
        let response = run(receiver.handle(request));
        let status = response.status();
        assert!(
            ANSWERS.contains(&status),
            "status {status} is not in the answer table"
        );
        if !is_post {
            assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        } else if !authenticated {
            assert_eq!(status, StatusCode::UNAUTHORIZED);
            assert!(
                response
                    .headers()
                    .contains_key(http::header::WWW_AUTHENTICATE)
            );
        }
        if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::CONFLICT {
            assert!(response.headers().contains_key(http::header::RETRY_AFTER));
        }
    }
    if !(is_post && authenticated) {
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            0,
            "an unauthenticated request reached the API"
        );
    }
});
