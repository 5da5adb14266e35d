//! What the receiver fetches events with: the one-method `EventFetcher`,
//! written as a struct, an `async fn` or a closure.

#![cfg(feature = "testing")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use smart_router_webhooks::testing::deliver;
use smart_router_webhooks::{
    Credentials, Event, EventContext, EventFetcher, EventId, EventType, FetchError, HandlerError,
    Outcome, Receiver, async_trait,
};

fn receiver(fetcher: impl EventFetcher, seen: Arc<Mutex<Vec<String>>>) -> Receiver {
    Receiver::builder()
        .credentials(Credentials::new("hooks", "s3cret").unwrap())
        .fetcher(fetcher)
        .on(
            EventType::TransactionCaptured,
            "record",
            move |ctx: EventContext| {
                seen.lock().unwrap().push(ctx.event().id.to_string());
                async { Ok::<_, HandlerError>(()) }
            },
        )
        .build()
        .unwrap()
}

/// An `async fn` whose future borrows the ID it is given.
async fn captured_unless_missing(id: &EventId) -> Result<Event, FetchError> {
    if id.as_str().ends_with("missing") {
        return Err(FetchError::not_found());
    }
    Ok(Event::new(id.clone(), EventType::TransactionCaptured))
}

#[tokio::test]
async fn an_async_fn_is_a_fetcher() {
    let seen = Arc::default();
    let receiver = receiver(captured_unless_missing, Arc::clone(&seen));
    assert_eq!(deliver(&receiver, "ev_1").await.outcome, Outcome::Processed);
    assert_eq!(
        deliver(&receiver, "ev_missing").await.outcome,
        Outcome::EventNotFound
    );
    assert_eq!(*seen.lock().unwrap(), ["ev_1"]);
}

#[tokio::test]
async fn a_closure_with_its_own_state_is_a_fetcher() {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&asked);
    let fetcher = move |id: &EventId| {
        log.lock().unwrap().push(id.to_string());
        let id = id.clone();
        async move { Ok(Event::new(id, EventType::TransactionCaptured)) }
    };
    let seen = Arc::default();
    let receiver = receiver(fetcher, Arc::clone(&seen));
    let report = deliver(&receiver, "ev_2").await;
    assert_eq!(report.outcome, Outcome::Processed);
    assert_eq!(report.event_type, Some(EventType::TransactionCaptured));
    assert_eq!(*asked.lock().unwrap(), ["ev_2"]);
    assert_eq!(*seen.lock().unwrap(), ["ev_2"]);
}

/// A struct fetcher implements the one method the pipeline calls.
struct Refuses;

#[async_trait]
impl EventFetcher for Refuses {
    async fn fetch_event(&self, _: &EventId) -> Result<Event, FetchError> {
        Err(FetchError::new(
            smart_router_webhooks::FetchErrorKind::ApiCredentialsRefused,
        ))
    }
}

#[tokio::test]
async fn a_struct_with_one_method_is_a_fetcher_and_so_is_its_arc() {
    let seen = Arc::<Mutex<Vec<String>>>::default();
    for receiver in [
        receiver(Refuses, Arc::clone(&seen)),
        receiver(Arc::new(Refuses), Arc::clone(&seen)),
    ] {
        assert_eq!(
            deliver(&receiver, "ev_3").await.outcome,
            Outcome::ApiCredentialsRefused
        );
    }
    assert!(seen.lock().unwrap().is_empty());
}
