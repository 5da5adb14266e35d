//! `ApiClient` with the reqwest transport against the mock API on
//! loopback: the exact request, the vendor's answers as typed values, every
//! failure mode mapped to its `FetchError` kind, and no credential in any
//! output. (The event list and delivery records, read by the reconciler,
//! are in `tests/listing.rs` and `tests/reconcile.rs`.)
#![cfg(all(feature = "reqwest", feature = "testing"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::error::Error as _;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::json;
use smart_router_webhooks::api::{ReqwestTransport, TransportError, TransportErrorKind};
use smart_router_webhooks::testing::{Failure, MockApi};
use smart_router_webhooks::{
    Amount, ApiClient, EventId, EventType, FetchError, FetchErrorKind, OperationType,
    TransactionId, TransactionStatus,
};

const EVENT_FAILED: &str = include_str!("fixtures/event-transaction-failed.json");
const TRANSACTION_AUTHORIZED: &str = include_str!("fixtures/transaction-authorized.json");
const TRANSACTION_OPERATIONS: &str = include_str!("fixtures/transaction-operations-expanded.json");
const TRANSACTION_PAYOUTS: &str = include_str!("fixtures/transaction-payout-items-expanded.json");
const VENDOR_EVENT_ID: &str = "ev_rV1yRUxr8IZ4p5sumcW2fbLxRy4FTB3C";

fn ev(id: &str) -> EventId {
    EventId::parse(id).unwrap()
}

fn tr(id: &str) -> TransactionId {
    TransactionId::parse(id).unwrap()
}

fn amount(s: &str) -> Option<Amount> {
    Some(s.parse().unwrap())
}

fn client(api: &MockApi) -> ApiClient {
    api.client_builder().build().unwrap()
}

/// The kind of the transport error under a fetch error, if any.
fn transport_kind(err: &FetchError) -> Option<TransportErrorKind> {
    err.source()?
        .downcast_ref::<TransportError>()
        .map(TransportError::kind)
}

#[tokio::test]
async fn fetches_the_vendors_event_with_the_exact_request() {
    let api = MockApi::start().await;
    let id = api.add_event_json(EVENT_FAILED).unwrap();
    assert_eq!(id.as_str(), VENDOR_EVENT_ID);

    let event = client(&api).fetch_event(&id).await.unwrap();

    assert_eq!(event.id, id);
    assert_eq!(event.name, EventType::TransactionFailed);
    assert_eq!(
        event.project_id.as_deref(),
        Some("proj_jhgTvqTxNmyJVwAaKHDk3C4wqFFPah8r")
    );
    assert!(event.sandbox);
    assert!(event.webhooks.is_empty());
    assert_eq!(
        event.fired_at.as_ref().unwrap().as_str(),
        "2023-04-22T15:48:57.55294073Z"
    );
    let t = event.transaction().unwrap();
    assert_eq!(t.id.as_str(), "tr_NcIZWFdUQhfOQdfefQov14vN77tRa2Yn");
    assert_eq!(t.status, Some(TransactionStatus::Failed));
    assert_eq!(t.amount, amount("10"));
    assert_eq!(t.currency.as_deref(), Some("EUR"));
    assert_eq!(t.error_code.as_deref(), Some("card.failed-cvc"));
    assert_eq!(t.extra["amount_local"], "11.1");

    let request = api.last_request().unwrap();
    assert_eq!(request.method, http::Method::GET);
    assert_eq!(request.path, format!("/events/{VENDOR_EVENT_ID}"));
    assert_eq!(request.query, None);
    let token = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        MockApi::PROJECT_ID,
        MockApi::PRIVATE_KEY
    ));
    assert_eq!(
        request.header("authorization"),
        Some(format!("Basic {token}").as_str())
    );
    assert_eq!(request.header("api-version"), Some("1.4.0.0"));
    assert_eq!(request.header("accept"), Some("application/json"));
    assert_eq!(
        request.header("user-agent"),
        Some(concat!("smart-router-webhooks/", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(api.requests(&format!("/events/{VENDOR_EVENT_ID}")), 1);
    assert_eq!(api.total_requests(), 1);
}

#[tokio::test]
async fn fetches_the_vendors_transactions_as_typed_values() {
    let api = MockApi::start().await;
    for json in [
        TRANSACTION_AUTHORIZED,
        TRANSACTION_OPERATIONS,
        TRANSACTION_PAYOUTS,
    ] {
        api.add_transaction_json(json).unwrap();
    }
    let client = client(&api);

    // transaction-operations-expanded.json has the same ID as
    // transaction-authorized.json and replaced it.
    let t = client
        .fetch_transaction(&tr("tr_msUOyQgmJp8UduKANzblNwa5hrjQGag5"))
        .await
        .unwrap();
    assert_eq!(t.status, Some(TransactionStatus::Authorized));
    assert_eq!(t.amount, amount("29"));
    assert_eq!(t.authorized_amount, amount("29"));
    assert_eq!(t.captured_amount, amount("0"));
    assert_eq!(t.currency.as_deref(), Some("EUR"));
    assert_eq!(t.metadata["fruit"], "banana");
    assert_eq!(t.operations[0].kind, Some(OperationType::Request));
    assert_eq!(t.operations[1].kind, Some(OperationType::Authorization));

    let t = client
        .fetch_transaction(&tr("tr_RbYZcNz86hRLVNOGKOGmIyyibguwFds5"))
        .await
        .unwrap();
    assert_eq!(t.status, Some(TransactionStatus::Completed));
    assert_eq!(t.captured_amount, amount("40"));
    assert_eq!(t.extra["payout_items"][0]["fees"], "-5.8");

    assert_eq!(
        api.last_request().unwrap().path,
        "/transactions/tr_RbYZcNz86hRLVNOGKOGmIyyibguwFds5"
    );
}

#[tokio::test]
async fn the_vendors_401_and_404_map_to_their_kinds_with_error_type_kept() {
    let api = MockApi::start().await;

    let wrong_key = ApiClient::builder(MockApi::PROJECT_ID, "key_wrong")
        .base_url(api.url())
        .build()
        .unwrap();
    let err = wrong_key.fetch_event(&ev("ev_1")).await.unwrap_err();
    assert_eq!(err.kind(), FetchErrorKind::ApiCredentialsRefused);
    assert_eq!(err.status(), Some(http::StatusCode::UNAUTHORIZED));
    assert_eq!(err.error_type(), Some("request.authentication.invalid"));
    assert!(
        err.api_message()
            .unwrap()
            .starts_with("Could not read your project ID")
    );

    let client = client(&api);
    let err = client.fetch_event(&ev("ev_missing")).await.unwrap_err();
    assert_eq!(err.kind(), FetchErrorKind::NotFound);
    assert_eq!(err.status(), Some(http::StatusCode::NOT_FOUND));
    assert_eq!(err.error_type(), Some("resource.event.not-found"));
    assert_eq!(err.api_message(), Some("The event could not be found."));

    let err = client
        .fetch_transaction(&tr("tr_missing"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), FetchErrorKind::NotFound);
    assert_eq!(err.error_type(), Some("resource.transaction.not-found"));
}

#[tokio::test]
async fn a_wrong_api_version_is_refused_by_the_mock() {
    let api = MockApi::start().await;
    let client = api.client_builder().api_version("1.3.0.0").build().unwrap();
    let err = client.fetch_event(&ev("ev_1")).await.unwrap_err();
    // A 400 is a configuration error, never "unavailable" (processout-go,
    // errors/errors.go: a 4xx is a `ValidationError`).
    assert_eq!(err.kind(), FetchErrorKind::BadRequest);
    assert!(!err.kind().is_transient());
    assert_eq!(err.status(), Some(http::StatusCode::BAD_REQUEST));
    assert_eq!(
        api.last_request().unwrap().header("api-version"),
        Some("1.3.0.0")
    );
}

#[tokio::test]
async fn each_failure_of_the_api_maps_to_its_kind() {
    let api = MockApi::start().await;
    api.add_event_json(EVENT_FAILED).unwrap();
    let client = api
        .client_builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let id = ev(VENDOR_EVENT_ID);

    let cases: [(Failure, FetchErrorKind, Option<u16>, Option<u64>); 8] = [
        (
            Failure::InternalError,
            FetchErrorKind::Unavailable,
            Some(500),
            None,
        ),
        (
            Failure::Unavailable { retry_after: None },
            FetchErrorKind::Unavailable,
            Some(503),
            None,
        ),
        (
            Failure::Unavailable {
                retry_after: Some(30),
            },
            FetchErrorKind::Unavailable,
            Some(503),
            Some(30),
        ),
        (
            Failure::RateLimited {
                retry_after: Some(5),
                reset: Some(60),
            },
            FetchErrorKind::RateLimited,
            Some(429),
            Some(5),
        ),
        (
            Failure::RateLimited {
                retry_after: None,
                reset: Some(12),
            },
            FetchErrorKind::RateLimited,
            Some(429),
            Some(12),
        ),
        (Failure::Close, FetchErrorKind::Unavailable, None, None),
        (
            Failure::Garbage,
            FetchErrorKind::InvalidResponse,
            Some(200),
            None,
        ),
        (
            Failure::Respond {
                status: 200,
                body: json!({"success": false, "error_type": "x.y", "message": "no"}).to_string(),
            },
            FetchErrorKind::InvalidResponse,
            Some(200),
            None,
        ),
    ];
    for (failure, kind, status, retry_after) in cases {
        api.fail_next(1, failure.clone());
        let err = client.fetch_event(&id).await.unwrap_err();
        assert_eq!(err.kind(), kind, "{failure:?}");
        assert_eq!(err.status().map(|s| s.as_u16()), status, "{failure:?}");
        assert_eq!(
            err.retry_after(),
            retry_after.map(Duration::from_secs),
            "{failure:?}"
        );
    }
    // The mock recovers, and so does the client (its pool dropped the
    // connection the mock closed).
    assert_eq!(client.fetch_event(&id).await.unwrap().id, id);
    assert_eq!(api.requests(&format!("/events/{VENDOR_EVENT_ID}")), 9);
}

#[tokio::test]
async fn a_closed_connection_or_a_refused_one_is_unavailable() {
    let api = MockApi::start().await;
    api.fail_next(1, Failure::Close);
    let err = client(&api).fetch_event(&ev("ev_1")).await.unwrap_err();
    assert_eq!(err.kind(), FetchErrorKind::Unavailable);
    assert_eq!(transport_kind(&err), Some(TransportErrorKind::Connection));

    let gone = MockApi::start().await;
    let client = client(&gone);
    drop(gone);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let err = client.fetch_event(&ev("ev_1")).await.unwrap_err();
    assert_eq!(err.kind(), FetchErrorKind::Unavailable);
    assert_eq!(transport_kind(&err), Some(TransportErrorKind::Connect));
}

#[tokio::test]
async fn the_timeout_fires() {
    let api = MockApi::start().await;
    api.fail_id("ev_slow", Failure::Hang);
    let client = api
        .client_builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = client.fetch_event(&ev("ev_slow")).await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.kind(), FetchErrorKind::Unavailable);
    assert_eq!(transport_kind(&err), Some(TransportErrorKind::Timeout));
    assert!(took >= Duration::from_millis(200), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    // Only that ID hangs.
    assert_eq!(
        client
            .fetch_event(&ev("ev_other"))
            .await
            .unwrap_err()
            .kind(),
        FetchErrorKind::NotFound
    );

    // A slow API (the mock's delay) times out the same way.
    api.set_delay(Duration::from_millis(500));
    let err = client.fetch_event(&ev("ev_other")).await.unwrap_err();
    assert_eq!(transport_kind(&err), Some(TransportErrorKind::Timeout));
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_without_being_read() {
    let api = MockApi::start().await;
    let small = api
        .client_builder()
        .max_response_bytes(64 * 1024)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    for content_length in [false, true] {
        api.fail_next(
            1,
            Failure::HugeBody {
                bytes: 1 << 30,
                content_length,
            },
        );
        let started = Instant::now();
        let err = small.fetch_event(&ev("ev_1")).await.unwrap_err();
        let took = started.elapsed();
        assert_eq!(err.kind(), FetchErrorKind::InvalidResponse);
        assert_eq!(transport_kind(&err), Some(TransportErrorKind::BodyTooLarge));
        // Reading a gigabyte over loopback takes seconds in a debug build;
        // stopping at 64 KiB takes milliseconds.
        assert!(took < Duration::from_secs(2), "{took:?}");
    }
    // The default limit (4 MiB) lets a normal answer through.
    api.add_event_json(EVENT_FAILED).unwrap();
    client(&api)
        .fetch_event(&ev(VENDOR_EVENT_ID))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_invalid_id_never_reaches_the_api() {
    let api = MockApi::start().await;
    let _client = client(&api);
    assert!(EventId::parse("../transactions/tr_1").is_err());
    assert!(TransactionId::parse("tr_1?expand=all").is_err());
    assert_eq!(api.total_requests(), 0);
}

#[tokio::test]
async fn no_credential_appears_in_any_output() {
    const SECRET: &str = "key_live_Sup3rS3cr3tValue";
    let api = MockApi::builder().private_key(SECRET).start().await;
    let token = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{SECRET}", MockApi::PROJECT_ID));

    let builder = api.client_builder().timeout(Duration::from_millis(300));
    let mut outputs = vec![format!("{builder:?}"), format!("{api:?}")];
    let client = builder.build().unwrap();
    outputs.push(format!("{client:?}"));
    outputs.push(format!("{:?}", ReqwestTransport::new().unwrap()));

    let failures = [
        Failure::InternalError,
        Failure::RateLimited {
            retry_after: Some(1),
            reset: None,
        },
        Failure::Close,
        Failure::Hang,
        Failure::Garbage,
        Failure::HugeBody {
            bytes: 1 << 24,
            content_length: false,
        },
        // An API (or a proxy) that echoes the request.
        Failure::Respond {
            status: 400,
            body: json!({"success": false, "error_type": "echo",
                         "message": format!("Authorization: Basic {token}")})
            .to_string(),
        },
    ];
    let small = api
        .client_builder()
        .timeout(Duration::from_millis(300))
        .max_response_bytes(1024)
        .build()
        .unwrap();
    for failure in failures {
        api.fail_next(1, failure);
        let err = small.fetch_event(&ev("ev_1")).await.unwrap_err();
        outputs.push(format!("{err} | {err:?} | {:?}", err.source()));
    }
    let wrong = ApiClient::builder(MockApi::PROJECT_ID, "key_wrong")
        .base_url(api.url())
        .build()
        .unwrap();
    let err = wrong.fetch_event(&ev("ev_1")).await.unwrap_err();
    outputs.push(format!("{err} | {err:?}"));
    let err = ApiClient::builder(MockApi::PROJECT_ID, format!("{SECRET}\n"))
        .build()
        .unwrap_err();
    outputs.push(format!("{err} | {err:?}"));
    let err = ApiClient::builder(MockApi::PROJECT_ID, SECRET)
        .base_url(format!("https://user:{SECRET}@api.example"))
        .build()
        .unwrap_err();
    outputs.push(format!("{err} | {err:?}"));
    outputs.push(format!("{:?}", api.recorded_requests()));

    for output in &outputs {
        assert!(!output.contains(SECRET), "{output}");
        assert!(!output.contains(&token), "{output}");
    }
}

#[tokio::test]
async fn clones_share_one_transport() {
    let api = MockApi::start().await;
    let id = api.add_event_json(EVENT_FAILED).unwrap();
    let client = client(&api);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            let id = id.clone();
            tokio::spawn(async move { client.fetch_event(&id).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().id, id);
    }
    assert_eq!(api.requests(&format!("/events/{VENDOR_EVENT_ID}")), 8);
}

#[tokio::test]
async fn https_goes_through_rustls_and_a_failed_handshake_is_a_connect_error() {
    // A server that answers plain text to a TLS client hello.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt as _;
        while let Ok((mut stream, _)) = listener.accept().await {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await;
        }
    });
    let client = ApiClient::builder("proj_1", "key_1")
        .base_url(format!("https://localhost:{}", addr.port()))
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let err = client.fetch_event(&ev("ev_1")).await.unwrap_err();
    assert_eq!(err.kind(), FetchErrorKind::Unavailable);
    assert_eq!(transport_kind(&err), Some(TransportErrorKind::Connect));
    server.abort();
}

#[tokio::test]
async fn a_refused_request_is_answered_like_a_refused_key_and_odd_fields_are_reported() {
    use smart_router_webhooks::{Credentials, Outcome, Receiver};
    let api = MockApi::start().await;
    let receiver = |client: ApiClient| {
        Receiver::builder()
            .credentials(Credentials::new("hooks", "s3cret").unwrap())
            .fetcher(client)
            .build()
            .unwrap()
    };
    // A 400 (here: an API version the API refuses) is a configuration
    // error: 500 and loud, as for a refused key, never 503 "unavailable"
    // (processout-go, errors/errors.go: a 4xx is a `ValidationError`).
    let misconfigured = receiver(api.client_builder().api_version("1.3.0.0").build().unwrap());
    let report = misconfigured.process(&ev("ev_1")).await;
    assert_eq!(report.outcome, Outcome::ApiCredentialsRefused);
    assert_eq!(report.status, http::StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(report.retry_after, None);
    assert_eq!(
        report.fetch_error.as_ref().map(|e| e.kind()),
        Some(FetchErrorKind::BadRequest)
    );

    // An event with a value of the wrong type is handled, and the report
    // says which field.
    let id = api
        .add_event_json(
            r#"{"id":"ev_odd","name":"transaction.captured","fired_at":1682178537,
                "data":{"transaction":{"id":"tr_1","status":null,"amount":{"value":"1"}}}}"#,
        )
        .unwrap();
    let report = receiver(client(&api)).process(&id).await;
    assert_eq!(report.outcome, Outcome::Processed);
    assert_eq!(
        report.transaction_id.as_ref().map(|t| t.as_str()),
        Some("tr_1")
    );
    let paths: Vec<_> = report.warnings.iter().map(|w| w.path()).collect();
    assert_eq!(paths, ["data.transaction.amount"]);
    assert!(report.tracking.no_status);
}

/// The API's answer is read by the tolerant reader too: a number beyond
/// `f64` where an object or a list is expected is a value of the wrong
/// type, warned about, and the event is handled.
#[tokio::test]
async fn an_answer_with_a_number_beyond_f64_where_an_object_belongs_is_handled() {
    use smart_router_webhooks::{Credentials, EventContext, HandlerError, Outcome, Receiver};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let api = MockApi::start().await;
    api.fail_next(
        1,
        Failure::Respond {
            status: 200,
            body: r#"{"success":true,"event":{"id":"ev_big","name":"transaction.captured",
                "fired_at":"2024-05-01T12:00:00Z","webhooks":1e400,
                "data":{"transaction":{"id":"tr_big","status":"completed",
                    "operations":[1e400,{"id":"tr_op_1","amount":-2E+999}]}}}}"#
                .to_owned(),
        },
    );
    let ran = Arc::new(AtomicUsize::new(0));
    let counter = ran.clone();
    let receiver = Receiver::builder()
        .credentials(Credentials::new("hooks", "s3cret").unwrap())
        .fetcher(client(&api))
        .on(
            EventType::TransactionCaptured,
            "ledger",
            move |ctx: EventContext| {
                let counter = counter.clone();
                async move {
                    assert_eq!(ctx.event().transaction().unwrap().id.as_str(), "tr_big");
                    counter.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, HandlerError>(())
                }
            },
        )
        .build()
        .unwrap();
    let report = receiver.process(&ev("ev_big")).await;
    assert_eq!(report.outcome, Outcome::Processed, "{report:?}");
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    let paths: Vec<_> = report.warnings.iter().map(|w| w.path()).collect();
    assert_eq!(
        paths,
        [
            "webhooks",
            "data.transaction.operations[0]",
            "data.transaction.operations[1].amount"
        ]
    );
    let raw: Vec<_> = report.warnings.iter().map(|w| w.raw().get()).collect();
    assert_eq!(raw, ["1e400", "1e400", "-2E+999"]);
}
