use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http::header::HeaderMap;
use http::{Method, Request, Response, StatusCode};

use super::rate_limit::retry_after;
use super::request::truncate;
use super::*;
use crate::api::envelope::Envelope;
use crate::api::error::FetchErrorKind;
use crate::api::transport::{TransportError, TransportErrorKind};
use crate::api::transport_fn;
use crate::error::ErrorKind;
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

#[cfg(feature = "reconciler")]
#[tokio::test]
async fn builds_listing_and_webhook_urls() {
    use crate::api::ListEvents;
    let body = r#"{"success":true,"events":[],"has_more":false,"webhooks":[]}"#;
    let (client, seen) = client_answering("https://api.processout.com/", 200, &[], body);
    let page = client.list_events(&ListEvents::new()).await.unwrap();
    assert!(page.events.is_empty() && !page.has_more);
    let query = ListEvents::new().limit(20).start_after(ev("ev_1"));
    client.list_events(&query).await.unwrap();
    let query = ListEvents::new().limit(20).end_before(ev("ev_1"));
    client.list_events(&query).await.unwrap();
    client.event_webhooks(&ev("ev_2")).await.unwrap();
    let seen = seen.lock().unwrap();
    let uris: Vec<String> = seen.iter().map(|(r, _)| r.uri().to_string()).collect();
    assert_eq!(
        uris,
        [
            // No parameter, no query string: the API's defaults.
            "https://api.processout.com/events",
            "https://api.processout.com/events?limit=20&start_after=ev_1",
            "https://api.processout.com/events?limit=20&end_before=ev_1",
            "https://api.processout.com/events/ev_2/webhooks",
        ]
    );
}

#[cfg(feature = "reconciler")]
#[tokio::test]
async fn the_delivery_records_of_an_unknown_event_are_not_found() {
    let body = r#"{"success":false,"error_type":"resource.event.not-found","message":"Not found"}"#;
    let (client, _) = client_answering("https://api.processout.com", 404, &[], body);
    let error = client.event_webhooks(&ev("ev_missing")).await.unwrap_err();
    assert_eq!(error.kind(), FetchErrorKind::NotFound);
}

async fn fetch_error(
    status: u16,
    headers: &[(&'static str, &'static str)],
    body: &'static str,
) -> FetchError {
    let (client, _) = client_answering("https://api.processout.com", status, headers, body);
    client.fetch_event(&ev("ev_1")).await.unwrap_err()
}

const API_ERROR: &str = r#"{"success":false,"error_type":"some.error","message":"Some message."}"#;

#[tokio::test]
async fn maps_statuses_to_kinds() {
    let cases = [
        (401, FetchErrorKind::ApiCredentialsRefused),
        (403, FetchErrorKind::ApiCredentialsRefused),
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
            ErrorKind::UnusableCredentials,
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
