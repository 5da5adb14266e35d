//! Every public error type of the crate is a `std::error::Error` that
//! crosses threads, so `?` into `Box<dyn Error + Send + Sync>` (or
//! `anyhow::Error`) works on each.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::error::Error as StdError;

use smart_router_webhooks::adapters::BodyError;
use smart_router_webhooks::api::TransportError;
use smart_router_webhooks::{Error, FetchError, HandlerError};

fn assert_error<E: StdError + Send + Sync + 'static>() {}

#[test]
fn every_public_error_type_is_an_error_that_crosses_threads() {
    assert_error::<Error>();
    assert_error::<FetchError>();
    assert_error::<TransportError>();
    assert_error::<HandlerError>();
    assert_error::<BodyError>();
    // The error of a refused delivery (`Receiver::verify`).
    assert_error::<smart_router_webhooks::DeliveryReport>();
    #[cfg(feature = "reconciler")]
    assert_error::<smart_router_webhooks::reconcile::ReconcileError>();
}

#[test]
fn each_converts_into_a_boxed_error_with_question_mark() {
    fn body() -> Result<(), Box<dyn StdError + Send + Sync>> {
        Err(BodyError::Failed)?
    }
    let error = body().unwrap_err();
    assert_eq!(
        error.to_string(),
        "the connection failed while the body was read"
    );
    assert!(error.downcast_ref::<BodyError>().is_some());
}

#[cfg(feature = "testing")]
#[test]
fn the_test_kits_errors_are_errors_too() {
    assert_error::<smart_router_webhooks::testing::AttemptError>();
}

#[cfg(feature = "testing")]
#[tokio::test]
async fn a_failed_attempt_keeps_its_cause_not_a_string() {
    // A port nobody listens on: the connection is refused.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let sender = smart_router_webhooks::testing::Sender::new(&format!(
        "http://hooks:s3cret@127.0.0.1:{port}/webhooks"
    ))
    .unwrap()
    .backoff(std::time::Duration::from_millis(1), 1);
    let delivery = sender.deliver(&"ev_1".parse().unwrap(), None).await;
    let attempt = &delivery.attempts[0];
    assert_eq!(attempt.status, None);
    let error = attempt.error.as_ref().unwrap();
    assert!(!error.is_timeout());
    assert_eq!(error.to_string(), "could not connect");
    let io = error
        .source()
        .and_then(|source| source.downcast_ref::<std::io::Error>())
        .unwrap();
    assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[test]
fn a_refused_delivery_goes_through_question_mark_with_its_reason() {
    use smart_router_webhooks::{Credentials, ErrorKind, Event, EventId, Receiver};
    let receiver = Receiver::builder()
        .credentials(Credentials::new("hooks", "s3cret").unwrap())
        .fetcher(|_: &EventId| async { Err::<Event, _>(FetchError::not_found()) })
        .build()
        .unwrap();
    let check = |request: &http::Request<Vec<u8>>| -> Result<(), Box<dyn StdError + Send + Sync>> {
        receiver.verify(request)?;
        Ok(())
    };
    let unsigned = http::Request::post("/webhooks")
        .body(br#"{"event_id":"ev_1"}"#.to_vec())
        .unwrap();
    let error = check(&unsigned).unwrap_err();
    assert_eq!(error.to_string(), "unauthorized (HTTP 401)");
    let reason = error.source().unwrap().downcast_ref::<Error>().unwrap();
    assert_eq!(reason.kind(), ErrorKind::DeliveryCredentialsRefused);
}
