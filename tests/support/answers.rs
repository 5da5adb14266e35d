//! The answer table of SPEC §5, as cases run against any way of serving a
//! receiver: `Receiver::handle` called directly, or an adapter serving
//! real HTTP on loopback.
//!
//! Every case starts from a fresh world (a mock Smart Router API on
//! loopback, a receiver fetching from it through `ApiClient`, handlers
//! recording their runs) and asserts the status, the headers that matter,
//! whether the API was asked for the event, and which handlers ran.
#![allow(dead_code)] // each test binary uses part of it

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use smart_router_webhooks::testing::{Failure, MockApi};
use smart_router_webhooks::{
    Credentials, Event, EventContext, EventId, EventType, HandlerError, NotFoundPolicy, Receiver,
    Transaction, TransactionId, TransactionStatus,
};
use tokio::sync::Semaphore;

pub const PATH: &str = "/webhooks/smart-router";
pub const USER: &str = "hooks";
pub const PASSWORD: &str = "p@ss:w0rd";
pub const BODY_LIMIT: usize = 1024;
/// How long a world's receiver waits for a whole body.
pub const READ_TIMEOUT: Duration = Duration::from_millis(500);

/// A request, as bytes on the wire would carry it.
#[derive(Clone, Debug)]
pub struct Req {
    pub method: &'static str,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Req {
    /// A `POST` of `body` with the right credentials.
    pub fn post(body: impl Into<Vec<u8>>) -> Req {
        let auth = Credentials::new(USER, PASSWORD)
            .unwrap()
            .authorization_header();
        Req {
            method: "POST",
            headers: vec![
                ("authorization".into(), auth.as_bytes().to_vec()),
                ("content-type".into(), b"application/json".to_vec()),
            ],
            body: body.into(),
        }
    }

    /// A `POST` naming `event_id`, with the right credentials.
    pub fn delivery(event_id: &str) -> Req {
        Req::post(format!(
            r#"{{"event_id":"{event_id}","event_type":"transaction.captured"}}"#
        ))
    }

    pub fn method(mut self, method: &'static str) -> Req {
        self.method = method;
        self
    }

    pub fn without(mut self, header: &str) -> Req {
        self.headers.retain(|(name, _)| name != header);
        self
    }

    pub fn header(mut self, name: &str, value: impl Into<Vec<u8>>) -> Req {
        self.headers.retain(|(n, _)| n != name);
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn also_header(mut self, name: &str, value: impl Into<Vec<u8>>) -> Req {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn to_http(&self) -> http::Request<Bytes> {
        let mut builder = http::Request::builder().method(self.method).uri(PATH);
        for (name, value) in &self.headers {
            builder = builder.header(name.as_str(), value.as_slice());
        }
        builder.body(Bytes::from(self.body.clone())).unwrap()
    }
}

/// What came back.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A way of serving a receiver: called directly, or behind an adapter.
pub trait Target: Send + Sync {
    /// Sends `req` and returns the answer.
    fn send<'a>(&'a self, req: &'a Req) -> Pin<Box<dyn Future<Output = Answer> + Send + 'a>>;
}

/// Serves by calling `Receiver::handle`.
pub struct Direct(pub Receiver);

impl Target for Direct {
    fn send<'a>(&'a self, req: &'a Req) -> Pin<Box<dyn Future<Output = Answer> + Send + 'a>> {
        Box::pin(async move {
            let response = self.0.handle(req.to_http()).await;
            let (parts, body) = response.into_parts();
            Answer {
                status: parts.status,
                headers: parts.headers,
                body,
            }
        })
    }
}

/// How a case configures its receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setup {
    Default,
    /// The receiver's default body limit (64 KiB) instead of 1 KiB.
    DefaultBodyLimit,
    AcknowledgeNotFound,
    WrongApiKey,
}

/// The mock API, the receiver and what the handlers saw.
pub struct World {
    pub api: MockApi,
    pub receiver: Receiver,
    /// Handler name → event IDs it ran for, in order.
    pub runs: Arc<Mutex<BTreeMap<String, Vec<String>>>>,
    /// Held by the `slow` handler until released, to keep an event in
    /// progress.
    pub gate: Arc<Semaphore>,
    /// Released by the `slow` handler once it has started.
    pub started: Arc<Semaphore>,
}

fn captured(id: &str) -> Event {
    typed_event(
        id,
        EventType::TransactionCaptured,
        TransactionStatus::Completed,
    )
}

fn typed_event(id: &str, name: EventType, status: TransactionStatus) -> Event {
    let mut event = Event::new(EventId::parse(id).unwrap(), name);
    event.fired_at = Some(smart_router_webhooks::Timestamp::lenient(
        "2024-05-01T10:00:00Z",
    ));
    event.data.transaction = Some(Transaction::new(
        TransactionId::parse(&format!("tr_{id}")).unwrap(),
        status,
    ));
    event
}

impl World {
    pub async fn new(setup: Setup) -> World {
        let api = MockApi::start().await;
        api.add_event(captured("ev_ok"));
        api.add_event(captured("ev_dup"));
        api.add_event(Event::new(
            EventId::parse("ev_unknown").unwrap(),
            EventType::from("brand.new.event"),
        ));
        api.add_event(typed_event(
            "ev_flaky",
            EventType::TransactionRefunded,
            TransactionStatus::Refunded,
        ));
        api.add_event(typed_event(
            "ev_doomed",
            EventType::TransactionVoided,
            TransactionStatus::Voided,
        ));
        api.add_event(typed_event(
            "ev_slow",
            EventType::TransactionFailed,
            TransactionStatus::Failed,
        ));
        for id in ["ev_rate", "ev_down", "ev_hang", "ev_reset"] {
            api.add_event(captured(id));
        }
        api.fail_id(
            "ev_rate",
            Failure::RateLimited {
                retry_after: Some(7),
                reset: None,
            },
        );
        api.fail_id("ev_down", Failure::Unavailable { retry_after: None });
        api.fail_id("ev_hang", Failure::Hang);
        api.fail_id("ev_reset", Failure::Close);

        let mut client = api.client_builder().timeout(Duration::from_millis(500));
        if setup == Setup::WrongApiKey {
            client = smart_router_webhooks::ApiClient::builder(api.project_id(), "key_wrong")
                .base_url(api.url())
                .timeout(Duration::from_millis(500));
        }
        let runs: Arc<Mutex<BTreeMap<String, Vec<String>>>> = Arc::default();
        let gate = Arc::new(Semaphore::new(0));
        let started = Arc::new(Semaphore::new(0));
        let record = |name: &'static str, outcome: fn() -> Result<(), HandlerError>| {
            let runs = runs.clone();
            move |ctx: EventContext| {
                let runs = runs.clone();
                async move {
                    runs.lock()
                        .unwrap()
                        .entry(name.to_owned())
                        .or_default()
                        .push(ctx.event().id.to_string());
                    outcome()
                }
            }
        };
        let slow = {
            let (runs, gate, started) = (runs.clone(), gate.clone(), started.clone());
            move |ctx: EventContext| {
                let (runs, gate, started) = (runs.clone(), gate.clone(), started.clone());
                async move {
                    runs.lock()
                        .unwrap()
                        .entry("slow".to_owned())
                        .or_default()
                        .push(ctx.event().id.to_string());
                    started.add_permits(1);
                    let _permit = gate.acquire().await;
                    Ok::<_, HandlerError>(())
                }
            }
        };
        let mut builder = Receiver::builder()
            .credentials(Credentials::new(USER, PASSWORD).unwrap())
            .fetcher(client.build().unwrap())
            // Short, so that a client sending its body too slowly is
            // answered 408 quickly.
            .read_timeout(READ_TIMEOUT)
            .body_limit(if setup == Setup::DefaultBodyLimit {
                64 * 1024 // the documented default
            } else {
                BODY_LIMIT
            })
            .on(
                EventType::TransactionCaptured,
                "captured",
                record("captured", || Ok(())),
            )
            .on(
                EventType::TransactionRefunded,
                "flaky",
                record("flaky", || Err(HandlerError::retry("ledger down"))),
            )
            .on(
                EventType::TransactionVoided,
                "doomed",
                record("doomed", || Err(HandlerError::permanent("order deleted"))),
            )
            .on(EventType::TransactionFailed, "slow", slow)
            .fallback("fallback", record("fallback", || Ok(())));
        if setup == Setup::AcknowledgeNotFound {
            builder = builder.not_found(NotFoundPolicy::Acknowledge);
        }
        World {
            api,
            receiver: builder.build().unwrap(),
            runs,
            gate,
            started,
        }
    }

    /// The handlers that ran, each with the events it ran for.
    pub fn runs(&self) -> BTreeMap<String, Vec<String>> {
        self.runs.lock().unwrap().clone()
    }

    pub fn fetches(&self, event_id: &str) -> usize {
        self.api.requests(&format!("/events/{event_id}"))
    }
}

/// What a case expects.
pub struct Expect {
    pub status: u16,
    /// Header name and the value it must have (`None`: it must be present).
    pub headers: Vec<(&'static str, Option<&'static str>)>,
    /// How many times the API is asked for the event in the last request.
    pub fetches: usize,
    /// The handlers that ran during the last request, with their events.
    pub ran: Vec<(&'static str, &'static str)>,
}

/// One row of the table: some requests first (their answers unchecked),
/// then the request whose answer is checked.
pub struct Case {
    pub name: &'static str,
    pub setup: Setup,
    pub before: Vec<Req>,
    pub request: Req,
    pub event_id: &'static str,
    pub expect: Expect,
}

fn expect(status: u16, fetches: usize, ran: &[(&'static str, &'static str)]) -> Expect {
    Expect {
        status,
        headers: Vec::new(),
        fetches,
        ran: ran.to_vec(),
    }
}

fn with_headers(mut e: Expect, headers: &[(&'static str, Option<&'static str>)]) -> Expect {
    e.headers = headers.to_vec();
    e
}

fn case(name: &'static str, request: Req, event_id: &'static str, expect: Expect) -> Case {
    Case {
        name,
        setup: Setup::Default,
        before: Vec::new(),
        request,
        event_id,
        expect,
    }
}

/// Every row of SPEC §5 (but "in progress", which needs two deliveries
/// at once: see [`in_progress`]).
pub fn spec_cases() -> Vec<Case> {
    let basic_wrong = Credentials::new(USER, "wrong")
        .unwrap()
        .authorization_header();
    vec![
        case(
            "processed",
            Req::delivery("ev_ok"),
            "ev_ok",
            expect(200, 1, &[("captured", "ev_ok")]),
        ),
        Case {
            before: vec![Req::delivery("ev_dup")],
            ..case(
                "duplicate delivery",
                Req::delivery("ev_dup"),
                "ev_dup",
                expect(200, 0, &[]),
            )
        },
        case(
            "event type no handler takes",
            Req::delivery("ev_unknown"),
            "ev_unknown",
            expect(200, 1, &[("fallback", "ev_unknown")]),
        ),
        case(
            "GET",
            Req::delivery("ev_ok").method("GET"),
            "ev_ok",
            with_headers(expect(405, 0, &[]), &[("allow", Some("POST"))]),
        ),
        case(
            "PUT",
            Req::delivery("ev_ok").method("PUT"),
            "ev_ok",
            with_headers(expect(405, 0, &[]), &[("allow", Some("POST"))]),
        ),
        case(
            "missing credentials",
            Req::delivery("ev_ok").without("authorization"),
            "ev_ok",
            with_headers(expect(401, 0, &[]), &[("www-authenticate", None)]),
        ),
        case(
            "wrong credentials",
            Req::delivery("ev_ok").header("authorization", basic_wrong.as_bytes()),
            "ev_ok",
            with_headers(expect(401, 0, &[]), &[("www-authenticate", None)]),
        ),
        case(
            "body over the limit",
            Req::post(format!(
                r#"{{"event_id":"ev_ok","pad":"{}"}}"#,
                "x".repeat(BODY_LIMIT)
            )),
            "ev_ok",
            expect(413, 0, &[]),
        ),
        case(
            "body not JSON",
            Req::post("event_id=ev_ok"),
            "ev_ok",
            expect(400, 0, &[]),
        ),
        case(
            "no event_id",
            Req::post(r#"{"event_type":"transaction.captured"}"#),
            "ev_ok",
            expect(400, 0, &[]),
        ),
        case(
            "malformed ID",
            Req::post(r#"{"event_id":"../transactions/tr_1"}"#),
            "ev_ok",
            expect(400, 0, &[]),
        ),
        case(
            "API does not know the event",
            Req::delivery("ev_missing"),
            "ev_missing",
            expect(404, 1, &[]),
        ),
        Case {
            setup: Setup::AcknowledgeNotFound,
            ..case(
                "API does not know the event, acknowledged",
                Req::delivery("ev_missing"),
                "ev_missing",
                expect(200, 1, &[]),
            )
        },
        Case {
            setup: Setup::WrongApiKey,
            ..case(
                "API refuses our credentials",
                Req::delivery("ev_ok"),
                "ev_ok",
                expect(500, 1, &[]),
            )
        },
        case(
            "API rate limit",
            Req::delivery("ev_rate"),
            "ev_rate",
            with_headers(expect(503, 1, &[]), &[("retry-after", Some("7"))]),
        ),
        case(
            "API 5xx",
            Req::delivery("ev_down"),
            "ev_down",
            with_headers(expect(503, 1, &[]), &[("retry-after", None)]),
        ),
        case(
            "API timeout",
            Req::delivery("ev_hang"),
            "ev_hang",
            with_headers(expect(503, 1, &[]), &[("retry-after", None)]),
        ),
        case(
            "API connection reset",
            Req::delivery("ev_reset"),
            "ev_reset",
            with_headers(expect(503, 1, &[]), &[("retry-after", None)]),
        ),
        case(
            "handler fails, retryable",
            Req::delivery("ev_flaky"),
            "ev_flaky",
            expect(500, 1, &[("flaky", "ev_flaky")]),
        ),
        case(
            "handler fails for good",
            Req::delivery("ev_doomed"),
            "ev_doomed",
            expect(200, 1, &[("doomed", "ev_doomed")]),
        ),
    ]
}

/// Runs `case` against the target made for its world.
pub async fn run_case<T: Target>(
    case: &Case,
    serve: impl FnOnce(Receiver) -> T,
) -> (World, Answer) {
    let world = World::new(case.setup).await;
    let target = serve(world.receiver.clone());
    for req in &case.before {
        target.send(req).await;
    }
    let fetches_before = world.fetches(case.event_id);
    let runs_before = world.runs();
    let answer = target.send(&case.request).await;
    let e = &case.expect;
    assert_eq!(
        answer.status.as_u16(),
        e.status,
        "{}: {answer:?}",
        case.name
    );
    for (name, value) in &e.headers {
        let got = answer
            .headers
            .get(*name)
            .map(|v| v.to_str().unwrap().to_owned());
        match value {
            Some(v) => assert_eq!(got.as_deref(), Some(*v), "{}: header {name}", case.name),
            None => assert!(got.is_some(), "{}: header {name} missing", case.name),
        }
    }
    assert_eq!(
        world.fetches(case.event_id) - fetches_before,
        e.fetches,
        "{}: fetches",
        case.name
    );
    let mut ran = Vec::new();
    for (handler, events) in world.runs() {
        let before = runs_before.get(&handler).map_or(0, Vec::len);
        for event in &events[before..] {
            ran.push((handler.clone(), event.clone()));
        }
    }
    let expected: Vec<_> = e
        .ran
        .iter()
        .map(|(h, ev)| (h.to_string(), ev.to_string()))
        .collect();
    assert_eq!(ran, expected, "{}: handlers", case.name);
    if answer.status == StatusCode::UNAUTHORIZED {
        let challenge = answer.headers["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.starts_with("Basic realm="),
            "{}: {challenge}",
            case.name
        );
    }
    // The answer's body never echoes the request or a secret.
    let body = String::from_utf8_lossy(&answer.body);
    assert!(
        !body.contains("ev_") && !body.contains(PASSWORD),
        "{}: body {body:?}",
        case.name
    );
    (world, answer)
}

/// SPEC §5 "same event being processed right now": a second delivery while
/// the first one's handler runs gets 409 and makes no fetch.
pub async fn in_progress<T: Target + 'static>(serve: impl FnOnce(Receiver) -> T) {
    let world = World::new(Setup::Default).await;
    let target = Arc::new(serve(world.receiver.clone()));
    let first = {
        let target = target.clone();
        tokio::spawn(async move { target.send(&Req::delivery("ev_slow")).await })
    };
    // Wait for the first delivery's handler to start.
    let _started = tokio::time::timeout(Duration::from_secs(10), world.started.acquire())
        .await
        .unwrap();
    let second = target.send(&Req::delivery("ev_slow")).await;
    assert_eq!(second.status, StatusCode::CONFLICT, "{second:?}");
    assert!(second.headers.contains_key("retry-after"));
    assert_eq!(
        world.fetches("ev_slow"),
        1,
        "the second delivery made no fetch"
    );
    world.gate.add_permits(1);
    let first = first.await.unwrap();
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(world.runs()["slow"], ["ev_slow"]);
}
