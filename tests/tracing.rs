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

#[tokio::test(flavor = "current_thread")]
async fn each_delivery_has_a_span_and_logs_no_secret() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

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
