//! Handlers under supervision: a panic is caught and becomes a retryable
//! failure of that handler only.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::error::HandlerError;

/// Runs `handler`, turning a panic while it is polled into
/// [`HandlerError::panicked`].
pub(crate) async fn catch_panic(
    handler: impl Future<Output = Result<(), HandlerError>>,
) -> Result<(), HandlerError> {
    let mut handler = std::pin::pin!(handler);
    // The handler's future is dropped, never polled again, after a panic:
    // nothing observes the state it was left in.
    std::future::poll_fn(
        |cx| match catch_unwind(AssertUnwindSafe(|| handler.as_mut().poll(cx))) {
            Ok(poll) => poll,
            Err(payload) => std::task::Poll::Ready(Err(HandlerError::panicked(message(&*payload)))),
        },
    )
    .await
}

/// The text of a panic's payload.
fn message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_a_retryable_failure_with_its_message() {
        let result = poll_once(catch_panic(async { panic!("ledger exploded") }));
        let error = result.unwrap_err();
        assert!(error.is_panic() && error.is_retryable());
        assert!(
            format!("{error:#}").contains("ledger exploded"),
            "{error:#}"
        );
        assert!(poll_once(catch_panic(async { Ok(()) })).is_ok());
    }

    fn poll_once<F: Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match future.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(out) => out,
            std::task::Poll::Pending => panic!("pending"),
        }
    }
}
