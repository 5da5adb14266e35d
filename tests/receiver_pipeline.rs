//! The receiver's guarantees that do not depend on the HTTP API: exactly
//! one fetch and one run per handler under concurrent deliveries, retries
//! that run only what failed, leases that expire.
//!
//! The fetcher here is an in-process `EventFetcher` (the trait users
//! implement for caches and queues); `tests/receiver_answers.rs` runs the
//! receiver against the mock HTTP API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use http::{Request, StatusCode};
use smart_router_webhooks::{
    Credentials, Event, EventContext, EventFetcher, EventId, EventType, FetchError, HandlerError,
    MemoryClaimStore, MemoryTransactionStore, Outcome, Receiver, Transaction, TransactionId,
    TransactionStatus,
};

/// Serves events from memory, counting fetches, after an optional delay.
#[derive(Default)]
struct InProcessApi {
    events: Mutex<HashMap<EventId, Event>>,
    fetches: AtomicUsize,
    delay: Duration,
}

#[async_trait]
impl EventFetcher for InProcessApi {
    async fn fetch_event(&self, id: &EventId) -> Result<Event, FetchError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        self.events
            .lock()
            .unwrap()
            .get(id)
            .cloned()
            .ok_or_else(FetchError::not_found)
    }

    async fn fetch_transaction(&self, _: &TransactionId) -> Result<Transaction, FetchError> {
        Err(FetchError::not_found())
    }
}

fn captured_event(id: &str) -> Event {
    let mut event = Event::new(EventId::parse(id).unwrap(), EventType::TransactionCaptured);
    event.data.transaction = Some(Transaction::new(
        TransactionId::parse("tr_1").unwrap(),
        TransactionStatus::Completed,
    ));
    event
}

fn api_with(events: &[Event], delay: Duration) -> Arc<InProcessApi> {
    let api = InProcessApi {
        delay,
        ..Default::default()
    };
    for e in events {
        api.events.lock().unwrap().insert(e.id.clone(), e.clone());
    }
    Arc::new(api)
}

fn credentials() -> Credentials {
    Credentials::new("hooks", "s3cret").unwrap()
}

fn delivery(event_id: &str) -> Request<Vec<u8>> {
    Request::post("/webhooks")
        .header(
            http::header::AUTHORIZATION,
            credentials().authorization_header(),
        )
        .body(
            format!(r#"{{"event_id":"{event_id}","event_type":"transaction.captured"}}"#)
                .into_bytes(),
        )
        .unwrap()
}

/// A handler counting its runs, failing (retryably) its first `fail` runs.
#[derive(Clone, Default)]
struct Counter {
    runs: Arc<AtomicUsize>,
    fail: usize,
}

impl Counter {
    fn failing(fail: usize) -> Self {
        Counter {
            fail,
            ..Default::default()
        }
    }

    fn runs(&self) -> usize {
        self.runs.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl smart_router_webhooks::Handler for Counter {
    async fn handle(&self, _: &EventContext) -> Result<(), HandlerError> {
        let run = self.runs.fetch_add(1, Ordering::SeqCst);
        if run < self.fail {
            Err(HandlerError::retry("the ledger is down"))
        } else {
            Ok(())
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_deliveries_make_one_fetch_and_one_run_per_handler() {
    let api = api_with(&[captured_event("ev_1")], Duration::from_millis(100));
    let (a, b) = (Counter::default(), Counter::default());
    let receiver = Receiver::builder()
        .credentials(credentials())
        .fetcher(api.clone())
        .on(EventType::TransactionCaptured, "a", a.clone())
        .on_prefix("transaction.", "b", b.clone())
        .build()
        .unwrap();

    let mut tasks = Vec::new();
    for _ in 0..50 {
        let receiver = receiver.clone();
        tasks.push(tokio::spawn(async move {
            receiver.deliver(delivery("ev_1")).await
        }));
    }
    let mut outcomes = HashMap::new();
    for task in tasks {
        let report = task.await.unwrap();
        assert!(
            matches!(report.status, StatusCode::OK | StatusCode::CONFLICT),
            "{report:?}"
        );
        *outcomes.entry(report.outcome).or_insert(0) += 1;
    }
    assert_eq!(outcomes[&Outcome::Processed], 1, "{outcomes:?}");
    assert_eq!(api.fetches.load(Ordering::SeqCst), 1);
    assert_eq!((a.runs(), b.runs()), (1, 1));

    // Later deliveries are duplicates: 200, no fetch, no run.
    let report = receiver.deliver(delivery("ev_1")).await;
    assert_eq!(
        (report.outcome, report.status),
        (Outcome::Duplicate, StatusCode::OK)
    );
    assert_eq!(api.fetches.load(Ordering::SeqCst), 1);
    assert_eq!((a.runs(), b.runs()), (1, 1));
}

#[tokio::test]
async fn a_retry_runs_only_the_handlers_that_failed() {
    let api = api_with(&[captured_event("ev_2")], Duration::ZERO);
    let (a, b) = (Counter::default(), Counter::failing(1));
    let receiver = Receiver::builder()
        .credentials(credentials())
        .fetcher(api.clone())
        .on(EventType::TransactionCaptured, "a", a.clone())
        .on(EventType::TransactionCaptured, "b", b.clone())
        .build()
        .unwrap();

    let response = receiver.handle(delivery("ev_2")).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!((a.runs(), b.runs()), (1, 1));

    let report = receiver.deliver(delivery("ev_2")).await;
    assert_eq!(report.status, StatusCode::OK);
    assert_eq!(report.skipped, ["a"]);
    assert_eq!(report.handlers.len(), 1);
    assert_eq!(report.handlers[0].name, "b");
    assert_eq!((a.runs(), b.runs()), (1, 2));
    assert_eq!(
        api.fetches.load(Ordering::SeqCst),
        2,
        "the retry fetches the event again"
    );

    assert_eq!(
        receiver.deliver(delivery("ev_2")).await.outcome,
        Outcome::Duplicate
    );
}

#[tokio::test]
async fn all_matching_handlers_run_when_one_fails_and_permanent_failures_are_acknowledged() {
    let api = api_with(&[captured_event("ev_3")], Duration::ZERO);
    let after = Counter::default();
    let receiver = Receiver::builder()
        .credentials(credentials())
        .fetcher(api)
        .on(
            EventType::TransactionCaptured,
            "gives-up",
            |_: EventContext| async { Err(HandlerError::permanent("this order was deleted")) },
        )
        .on(EventType::TransactionCaptured, "after", after.clone())
        .build()
        .unwrap();
    let report = receiver.deliver(delivery("ev_3")).await;
    assert_eq!(
        (report.outcome, report.status),
        (Outcome::Processed, StatusCode::OK)
    );
    assert_eq!(after.runs(), 1);
    let failures: Vec<_> = report
        .failures()
        .map(|(name, e)| (name, e.is_retryable()))
        .collect();
    assert_eq!(failures, [("gives-up", false)]);
}

#[tokio::test]
async fn an_expired_lease_lets_a_later_delivery_process_the_event() {
    let api = api_with(&[captured_event("ev_4")], Duration::ZERO);
    let first = Counter::default();
    let stuck_runs = Arc::new(AtomicUsize::new(0));
    let stuck = {
        let runs = stuck_runs.clone();
        move |_: EventContext| {
            let runs = runs.clone();
            async move {
                if runs.fetch_add(1, Ordering::SeqCst) == 0 {
                    // The process "dies" here: this delivery never ends.
                    std::future::pending::<()>().await;
                }
                Ok::<_, HandlerError>(())
            }
        }
    };
    let receiver = Receiver::builder()
        .credentials(credentials())
        .fetcher(api.clone())
        .lease(Duration::from_millis(200))
        .on(EventType::TransactionCaptured, "first", first.clone())
        .on(EventType::TransactionCaptured, "stuck", stuck)
        .build()
        .unwrap();

    let dying = tokio::spawn({
        let receiver = receiver.clone();
        async move { receiver.deliver(delivery("ev_4")).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        receiver.deliver(delivery("ev_4")).await.outcome,
        Outcome::InProgress
    );
    dying.abort();

    tokio::time::sleep(Duration::from_millis(250)).await;
    let report = receiver.deliver(delivery("ev_4")).await;
    assert_eq!(
        (report.outcome, report.status),
        (Outcome::Processed, StatusCode::OK)
    );
    assert_eq!(report.skipped, ["first"]);
    assert_eq!(
        first.runs(),
        1,
        "the handler that completed is not run again"
    );
    assert_eq!(stuck_runs.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn process_event_skips_the_fetch_and_shares_the_claims() {
    let api = api_with(&[], Duration::ZERO);
    let a = Counter::default();
    let receiver = Receiver::builder()
        .allow_unauthenticated()
        .fetcher(api.clone())
        .claim_store(MemoryClaimStore::default())
        .transaction_store(MemoryTransactionStore::default())
        .on(EventType::TransactionCaptured, "a", a.clone())
        .build()
        .unwrap();
    let report = receiver.process_event(captured_event("ev_5")).await;
    assert_eq!(report.outcome, Outcome::Processed);
    assert_eq!(
        report.tracking.transition.as_ref().map(|t| t.to.clone()),
        Some(TransactionStatus::Completed)
    );
    assert_eq!(
        receiver.process_event(captured_event("ev_5")).await.outcome,
        Outcome::Duplicate
    );
    assert_eq!(api.fetches.load(Ordering::SeqCst), 0);
    assert_eq!(a.runs(), 1);
}

#[test]
fn a_receiver_needs_a_fetcher_and_a_decision_on_credentials() {
    use smart_router_webhooks::ErrorKind;
    let err = Receiver::builder()
        .fetcher(api_with(&[], Duration::ZERO))
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    let err = Receiver::builder()
        .allow_unauthenticated()
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    let err = Receiver::builder()
        .allow_unauthenticated()
        .fetcher(api_with(&[], Duration::ZERO))
        .body_limit(0)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
}

#[test]
fn the_receiver_is_send_sync_and_cheap_to_clone() {
    fn assert_traits<T: Send + Sync + Clone + 'static>() {}
    assert_traits::<Receiver>();
    // Frameworks spawn the answer's future on other threads.
    fn assert_send<F: std::future::Future + Send>(_: F) {}
    let receiver = Receiver::builder()
        .allow_unauthenticated()
        .fetcher(api_with(&[], Duration::ZERO))
        .build()
        .unwrap();
    assert_send(receiver.handle(delivery("ev_1")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receivers_sharing_one_in_memory_store_fetch_once() {
    let api = api_with(&[captured_event("ev_6")], Duration::from_millis(50));
    let claims = Arc::new(MemoryClaimStore::default());
    let transactions = Arc::new(MemoryTransactionStore::default());
    let a = Counter::default();
    let receivers: Vec<Receiver> = (0..2)
        .map(|_| {
            Receiver::builder()
                .credentials(credentials())
                .fetcher(api.clone())
                .claim_store(claims.clone())
                .transaction_store(transactions.clone())
                .on(EventType::TransactionCaptured, "a", a.clone())
                .build()
                .unwrap()
        })
        .collect();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let receiver = receivers[i % 2].clone();
        tasks.push(tokio::spawn(async move {
            receiver.deliver(delivery("ev_6")).await.status
        }));
    }
    for task in tasks {
        assert!(matches!(
            task.await.unwrap(),
            StatusCode::OK | StatusCode::CONFLICT
        ));
    }
    assert_eq!(api.fetches.load(Ordering::SeqCst), 1);
    assert_eq!(a.runs(), 1);
}

#[tokio::test]
async fn a_failed_transition_handler_runs_again_after_a_newer_event_of_its_transaction() {
    let event = |id: &str, name, status, second| {
        let mut event = Event::new(EventId::parse(id).unwrap(), name);
        event.fired_at = Some(smart_router_webhooks::Timestamp::parse(&format!(
            "2024-05-01T10:00:{second:02}Z"
        )));
        event.data.transaction = Some(Transaction::new(
            TransactionId::parse("tr_7").unwrap(),
            status,
        ));
        event
    };
    let authorized = event(
        "ev_7a",
        EventType::TransactionAuthorized,
        TransactionStatus::Authorized,
        1,
    );
    let captured = event(
        "ev_7b",
        EventType::TransactionCaptured,
        TransactionStatus::Completed,
        2,
    );
    let api = api_with(&[authorized, captured], Duration::ZERO);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let changes = {
        let seen = seen.clone();
        move |ctx: EventContext| {
            let mut seen = seen.lock().unwrap();
            let t = ctx.transition().unwrap();
            seen.push((ctx.event().id.to_string(), t.from.clone(), t.to.clone()));
            // The first run fails: the ledger is down.
            let result = if seen.len() == 1 {
                Err(HandlerError::retry("the ledger is down"))
            } else {
                Ok(())
            };
            async move { result }
        }
    };
    let receiver = Receiver::builder()
        .credentials(credentials())
        .fetcher(api)
        .on_transition(
            smart_router_webhooks::TransitionFilter::Any,
            "changes",
            changes,
        )
        .build()
        .unwrap();

    let report = receiver.deliver(delivery("ev_7a")).await;
    assert_eq!(report.outcome, Outcome::HandlerFailed);
    // The capture arrives before the retry of the authorization.
    assert_eq!(
        receiver.deliver(delivery("ev_7b")).await.outcome,
        Outcome::Processed
    );
    let report = receiver.deliver(delivery("ev_7a")).await;
    assert_eq!(report.outcome, Outcome::Processed);
    assert_eq!(
        report.handlers.iter().map(|h| &h.name).collect::<Vec<_>>(),
        ["changes"],
        "the retry runs the handler that failed"
    );
    use TransactionStatus::*;
    assert_eq!(
        *seen.lock().unwrap(),
        [
            ("ev_7a".to_owned(), None, Authorized),
            ("ev_7b".to_owned(), Some(Authorized), Completed),
            ("ev_7a".to_owned(), None, Authorized),
        ]
    );
}
