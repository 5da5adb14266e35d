//! With the `tracing` feature, each delivery runs in a span carrying its
//! event ID, type, outcome and status, which the handlers' own events nest
//! in; no credential or body ever reaches the logs.
#![cfg(all(feature = "tracing", feature = "testing", feature = "reqwest"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use http::Request;
use smart_router_webhooks::testing::MockApi;
use smart_router_webhooks::{
    Credentials, Event, EventContext, EventId, EventType, HandlerError, Receiver,
};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Sends this thread's tracing events, as text, to the buffer returned
/// until the guard is dropped.
fn capture_logs() -> (Buffer, tracing::subscriber::DefaultGuard) {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    (buffer, tracing::subscriber::set_default(subscriber))
}

#[tokio::test(flavor = "current_thread")]
async fn each_delivery_has_a_span_and_logs_no_secret() {
    let (buffer, _guard) = capture_logs();

    let api = MockApi::start().await;
    api.add_event(Event::new(
        EventId::parse("ev_traced").unwrap(),
        EventType::CustomerCreated,
    ));
    let credentials = Credentials::new("hooks", "hunter2-secret").unwrap();
    let receiver = Receiver::builder()
        .credentials(credentials.clone())
        .fetcher(api.client_builder().build().unwrap())
        .on(
            EventType::CustomerCreated,
            "welcome",
            |_: EventContext| async {
                tracing::info!("sending the welcome email");
                Ok::<_, HandlerError>(())
            },
        )
        .build()
        .unwrap();
    let body =
        r#"{"event_id":"ev_traced","event_type":"customer.created","note":"body-text-marker"}"#;
    let request = Request::post("/webhooks")
        .header(
            http::header::AUTHORIZATION,
            credentials.authorization_header(),
        )
        .body(body.as_bytes().to_vec())
        .unwrap();
    assert_eq!(receiver.handle(request).await.status(), 200);
    let forged = Request::post("/webhooks")
        .header(
            http::header::AUTHORIZATION,
            Credentials::new("hooks", "guess")
                .unwrap()
                .authorization_header(),
        )
        .body(body.as_bytes().to_vec())
        .unwrap();
    assert_eq!(receiver.handle(forged).await.status(), 401);

    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let handler_line = logs
        .lines()
        .find(|l| l.contains("sending the welcome email"))
        .expect(&logs);
    assert!(
        handler_line.contains("smart_router_webhook{event_id=\"ev_traced\""),
        "{handler_line}"
    );
    let answered = logs
        .lines()
        .find(|l| l.contains("webhook delivery answered"))
        .expect(&logs);
    for field in [
        "event_type=\"customer.created\"",
        "outcome=\"processed\"",
        "status=200",
        "fetch_ms",
    ] {
        assert!(answered.contains(field), "{field} in {answered}");
    }
    assert!(logs.contains("outcome=\"unauthorized\""), "{logs}");
    for secret in ["hunter2", "guess", "aG9va3M", "body-text-marker", "key_"] {
        assert!(!logs.contains(secret), "{secret} in the logs:\n{logs}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_failed_fetch_is_traced_with_its_whole_cause_chain() {
    let (buffer, _guard) = capture_logs();

    // An API that is down: the mock, stopped, refuses connections.
    let gone = MockApi::start().await;
    let addr = gone.addr();
    let fetcher = gone.client_builder().build().unwrap();
    drop(gone);
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let credentials = Credentials::new("hooks", "hunter2-secret").unwrap();
    let receiver = Receiver::builder()
        .credentials(credentials.clone())
        .fetcher(fetcher)
        .on(
            EventType::CustomerCreated,
            "welcome",
            |_: EventContext| async { Ok::<_, HandlerError>(()) },
        )
        .build()
        .unwrap();
    let request = Request::post("/webhooks")
        .header(
            http::header::AUTHORIZATION,
            credentials.authorization_header(),
        )
        .body(br#"{"event_id":"ev_down","event_type":"customer.created"}"#.to_vec())
        .unwrap();
    assert_eq!(receiver.handle(request).await.status(), 503);

    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let failed = logs
        .lines()
        .find(|l| l.contains("webhook delivery failed"))
        .expect(&logs);
    // The top error, the transport's kind under it, and the operating
    // system's reason at the bottom of the chain.
    for cause in ["the API is unavailable", "could not connect", "refused"] {
        assert!(
            failed.to_lowercase().contains(&cause.to_lowercase()),
            "{cause} in {failed}"
        );
    }
    for secret in ["hunter2", "aG9va3M"] {
        assert!(!logs.contains(secret), "{secret} in the logs:\n{logs}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_failed_handler_is_traced_with_its_whole_cause_chain() {
    let (buffer, _guard) = capture_logs();

    let api = MockApi::start().await;
    api.add_event(Event::new(
        EventId::parse("ev_ledger").unwrap(),
        EventType::CustomerCreated,
    ));
    let receiver = Receiver::builder()
        .credentials(Credentials::new("hooks", "hunter2-secret").unwrap())
        .fetcher(api.client_builder().build().unwrap())
        .on(
            EventType::CustomerCreated,
            "ledger",
            |_: EventContext| async {
                let refused = std::io::Error::new(
                    std::io::ErrorKind::ConnectionRefused,
                    "connection refused",
                );
                Err::<(), _>(HandlerError::retry(Ledger(refused)))
            },
        )
        .on(
            EventType::CustomerCreated,
            "welcome",
            |_: EventContext| async { Err::<(), _>(HandlerError::permanent("no such customer")) },
        )
        .build()
        .unwrap();
    let report = smart_router_webhooks::testing::deliver(&receiver, "ev_ledger").await;
    assert_eq!(report.status, 500);

    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let failed = logs
        .lines()
        .find(|l| l.contains("webhook delivery failed"))
        .expect(&logs);
    for cause in [
        "ledger: retryable handler failure: the ledger did not answer: connection refused",
        "welcome: permanent handler failure: no such customer",
    ] {
        assert!(failed.contains(cause), "{cause} in {failed}");
    }
}

/// A handler's own error with a cause.
#[derive(Debug)]
struct Ledger(std::io::Error);

impl std::fmt::Display for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the ledger did not answer")
    }
}

impl std::error::Error for Ledger {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}
