//! Every public error type of the crate is a `std::error::Error` that
//! crosses threads, so `?` into `Box<dyn Error + Send + Sync>` (or
//! `anyhow::Error`) works on each.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::error::Error as StdError;

use smart_router_webhooks::reconcile::ReconcileError;
use smart_router_webhooks::{BodyError, Error, FetchError, HandlerError, TransportError};

fn assert_error<E: StdError + Send + Sync + 'static>() {}

#[test]
fn every_public_error_type_is_an_error_that_crosses_threads() {
    assert_error::<Error>();
    assert_error::<FetchError>();
    assert_error::<TransportError>();
    assert_error::<HandlerError>();
    assert_error::<BodyError>();
    assert_error::<ReconcileError>();
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
